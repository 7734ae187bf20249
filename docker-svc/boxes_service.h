#ifndef BERTH_DOCKER_SVC_BOXES_SERVICE_H_
#define BERTH_DOCKER_SVC_BOXES_SERVICE_H_

#include "berth/box/v1/box.grpc.pb.h"
#include "docker-svc/box_manager.h"

namespace berth::docker {

// berth.box.v1.Boxes over gRPC's synchronous API: a box's create waits on Docker for a few
// hundred milliseconds, which a thread of the server's pool may well spend. Converts the
// manager's absl statuses at this edge. Thread-safe.
class BoxesService final : public box::v1::Boxes::Service {
 public:
  explicit BoxesService(BoxManager* manager) : manager_(manager) {}

  grpc::Status Create(grpc::ServerContext* context, const box::v1::CreateRequest* request,
                      box::v1::CreateResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const box::v1::GetRequest* request,
                   box::v1::GetResponse* response) override;
  grpc::Status List(grpc::ServerContext* context, const box::v1::ListRequest* request,
                    box::v1::ListResponse* response) override;
  grpc::Status Stop(grpc::ServerContext* context, const box::v1::StopRequest* request,
                    box::v1::StopResponse* response) override;
  // Streams until the client cancels, the server stops, or the watcher falls too far behind
  // (RESOURCE_EXHAUSTED: watch again).
  grpc::Status Watch(grpc::ServerContext* context, const box::v1::WatchRequest* request,
                     grpc::ServerWriter<box::v1::BoxEvent>* writer) override;

 private:
  BoxManager* const manager_;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_SERVICE_H_
