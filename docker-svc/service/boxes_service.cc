#include "docker-svc/service/boxes_service.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/call_metadata.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using common::ToGrpcStatus;

// The end user a call acts for, if any.
std::optional<std::string> CallerUser(const grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(common::kCallerUserMetadata);
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

// What a caller that is not the box's user is told: the same as for a box that does not exist.
grpc::Status NoSuchBox(const std::string& box_id) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("no box ", box_id));
}

grpc::Status BackendOnly() {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "this call is for the backend");
}

}  // namespace

grpc::Status BoxesService::Create(grpc::ServerContext* context,
                                  const box::v1::CreateRequest* request,
                                  box::v1::CreateResponse* response) {
  box::v1::CreateRequest scoped = *request;
  Requester requester = Requester::kBackend;
  if (std::optional<std::string> user = CallerUser(context)) {
    if (!scoped.user_id().empty() && scoped.user_id() != *user) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "a user may create boxes only for itself");
    }
    scoped.set_user_id(*user);
    requester = Requester::kEndUser;
  }
  absl::StatusOr<box::v1::CreateResponse> created = manager_->CreateBox(scoped, requester);
  if (!created.ok()) {
    if (created.status().code() == absl::StatusCode::kAlreadyExists &&
        CallerUser(context).has_value()) {
      // Whose box it is stays hidden from an end user, as Get hides it.
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          absl::StrCat("box ", scoped.box_id(), " exists already"));
    }
    return ToGrpcStatus(created.status());
  }
  *response = *std::move(created);
  return grpc::Status::OK;
}

grpc::Status BoxesService::Get(grpc::ServerContext* context, const box::v1::GetRequest* request,
                               box::v1::GetResponse* response) {
  absl::StatusOr<box::v1::Box> box = manager_->GetBox(request->box_id());
  if (!box.ok()) return ToGrpcStatus(box.status());
  std::optional<std::string> user = CallerUser(context);
  if (user.has_value() && box->user_id() != *user) return NoSuchBox(request->box_id());
  *response->mutable_box() = *std::move(box);
  return grpc::Status::OK;
}

grpc::Status BoxesService::List(grpc::ServerContext* context, const box::v1::ListRequest* request,
                                box::v1::ListResponse* response) {
  box::v1::ListRequest scoped = *request;
  if (std::optional<std::string> user = CallerUser(context)) {
    if (!scoped.user_id().empty() && scoped.user_id() != *user) return grpc::Status::OK;
    scoped.set_user_id(*user);
  }
  for (box::v1::Box& box : manager_->ListBoxes(scoped)) {
    *response->add_boxes() = std::move(box);
  }
  return grpc::Status::OK;
}

grpc::Status BoxesService::Stop(grpc::ServerContext* context, const box::v1::StopRequest* request,
                                box::v1::StopResponse* response) {
  if (std::optional<std::string> user = CallerUser(context)) {
    absl::StatusOr<box::v1::Box> current = manager_->GetBox(request->box_id());
    if (!current.ok()) return ToGrpcStatus(current.status());
    if (current->user_id() != *user) return NoSuchBox(request->box_id());
  }
  absl::StatusOr<box::v1::Box> box = manager_->StopBox(request->box_id(), request->reason());
  if (!box.ok()) return ToGrpcStatus(box.status());
  *response->mutable_box() = *std::move(box);
  return grpc::Status::OK;
}

grpc::Status BoxesService::Watch(grpc::ServerContext* context, const box::v1::WatchRequest*,
                                 grpc::ServerWriter<box::v1::BoxEvent>* writer) {
  const std::optional<std::string> user = CallerUser(context);
  if (watches_.fetch_add(1) >= max_watches_) {
    watches_.fetch_sub(1);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("docker-svc serves at most ", max_watches_,
                                     " watches at once; try again later"));
  }
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  grpc::Status status = grpc::Status::OK;
  box::v1::BoxEvent event;
  while (!context->IsCancelled()) {
    if (watcher->Next(&event, absl::Milliseconds(200))) {
      if (user.has_value() && event.has_box() && event.box().user_id() != *user) continue;
      if (!writer->Write(event)) break;  // the client went away
    } else if (watcher->lost()) {
      status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "this watch fell too far behind the events; watch again");
      break;
    }
  }
  manager_->Unwatch(watcher);
  watches_.fetch_sub(1);
  return status;
}

grpc::Status BoxesService::Host(grpc::ServerContext* context, const box::v1::HostRequest*,
                                box::v1::HostResponse* response) {
  if (CallerUser(context).has_value()) return BackendOnly();
  // The allocator's part is a report that may be missing; docker-svc's own part is always there.
  absl::StatusOr<allocator::v1::CapacityResponse> capacity = leases_->Capacity();
  absl::Status reported = capacity.status();
  if (capacity.ok()) {
    absl::StatusOr<allocator::v1::ListResponse> leases = leases_->List();
    reported = leases.status();
    if (leases.ok()) {
      *response->mutable_capacity() = *std::move(capacity);
      *response->mutable_leases() = std::move(*leases->mutable_leases());
    }
  }
  if (!reported.ok()) {
    // The detail (gRPC's transport text) is for the log.
    spdlog::info("host report without the allocator: {}", reported.ToString());
    response->set_allocator_error(absl::StrCat("allocator-svc did not answer (",
                                               absl::StatusCodeToString(reported.code()), ")"));
  }
  response->set_drain_state(manager_->drain_state());
  response->set_boxes(static_cast<uint32_t>(manager_->box_count()));
  for (std::string& app : manager_->app_names()) response->add_apps(std::move(app));
  *response->mutable_started_at() = common::ToTimestamp(started_);
  return grpc::Status::OK;
}

grpc::Status BoxesService::Assign(grpc::ServerContext* context,
                                  const box::v1::AssignRequest* request,
                                  box::v1::AssignResponse* response) {
  if (CallerUser(context).has_value()) return BackendOnly();
  absl::StatusOr<box::v1::AssignResponse> assigned = manager_->AssignBox(*request);
  if (!assigned.ok()) return ToGrpcStatus(assigned.status());
  *response = *std::move(assigned);
  return grpc::Status::OK;
}

grpc::Status BoxesService::SetConfig(grpc::ServerContext* context,
                                     const box::v1::SetConfigRequest* request,
                                     box::v1::SetConfigResponse* response) {
  absl::Duration wait = assignment_wait_;
  // Never wait past the caller's own deadline (less a margin to answer in).
  const absl::Duration left =
      absl::FromChrono(context->deadline() - std::chrono::system_clock::now()) -
      absl::Milliseconds(200);
  wait = std::max(absl::ZeroDuration(), std::min(wait, left));
  // A caller that hangs up (or a gateway that shuts down) frees this thread at once.
  absl::StatusOr<box::v1::SetConfigResponse> configured = manager_->SetConfig(
      *request, CallerUser(context), wait, [context] { return context->IsCancelled(); });
  if (!configured.ok()) return ToGrpcStatus(configured.status());
  *response = *std::move(configured);
  return grpc::Status::OK;
}

grpc::Status BoxesService::Drain(grpc::ServerContext* context, const box::v1::DrainRequest*,
                                 box::v1::DrainResponse* response) {
  if (CallerUser(context).has_value()) return BackendOnly();
  *response = manager_->Drain();
  return grpc::Status::OK;
}

grpc::Status BoxesService::Undrain(grpc::ServerContext* context, const box::v1::UndrainRequest*,
                                   box::v1::DrainResponse* response) {
  if (CallerUser(context).has_value()) return BackendOnly();
  *response = manager_->Undrain();
  return grpc::Status::OK;
}

}  // namespace berth::docker
