#include "docker-svc/boxes_service.h"

#include "common/grpc_status.h"

namespace berth::docker {

using common::ToGrpcStatus;

grpc::Status BoxesService::Create(grpc::ServerContext*, const box::v1::CreateRequest* request,
                                  box::v1::CreateResponse* response) {
  absl::StatusOr<box::v1::CreateResponse> created = manager_->CreateBox(*request);
  if (!created.ok()) return ToGrpcStatus(created.status());
  *response = *std::move(created);
  return grpc::Status::OK;
}

grpc::Status BoxesService::Get(grpc::ServerContext*, const box::v1::GetRequest* request,
                               box::v1::GetResponse* response) {
  absl::StatusOr<box::v1::Box> box = manager_->GetBox(request->box_id());
  if (!box.ok()) return ToGrpcStatus(box.status());
  *response->mutable_box() = *std::move(box);
  return grpc::Status::OK;
}

grpc::Status BoxesService::List(grpc::ServerContext*, const box::v1::ListRequest* request,
                                box::v1::ListResponse* response) {
  for (box::v1::Box& box : manager_->ListBoxes(*request)) {
    *response->add_boxes() = std::move(box);
  }
  return grpc::Status::OK;
}

grpc::Status BoxesService::Stop(grpc::ServerContext*, const box::v1::StopRequest* request,
                                box::v1::StopResponse* response) {
  absl::StatusOr<box::v1::Box> box = manager_->StopBox(request->box_id(), request->reason());
  if (!box.ok()) return ToGrpcStatus(box.status());
  *response->mutable_box() = *std::move(box);
  return grpc::Status::OK;
}

grpc::Status BoxesService::Watch(grpc::ServerContext* context, const box::v1::WatchRequest*,
                                 grpc::ServerWriter<box::v1::BoxEvent>* writer) {
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  grpc::Status status = grpc::Status::OK;
  box::v1::BoxEvent event;
  while (!context->IsCancelled()) {
    if (watcher->Next(&event, absl::Milliseconds(200))) {
      if (!writer->Write(event)) break;  // the client went away
    } else if (watcher->lost()) {
      status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "this watch fell too far behind the events; watch again");
      break;
    }
  }
  manager_->Unwatch(watcher);
  return status;
}

}  // namespace berth::docker
