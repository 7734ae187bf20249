#ifndef BERTH_DOCKER_SVC_SERVICE_BOXES_SERVICE_H_
#define BERTH_DOCKER_SVC_SERVICE_BOXES_SERVICE_H_

#include <atomic>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/lease_client.h"

namespace berth::docker {

// berth.box.v1.Boxes over gRPC's synchronous API: a box's create waits on Docker for a few
// hundred milliseconds, which a thread of the server's pool may well spend. Converts the
// manager's absl statuses at this edge. Thread-safe.
//
// A call carrying the metadata common::kCallerUserMetadata (`berth-user: <id>`; the gateway adds
// it for an end user's token) acts as that user: it sees only boxes whose user_id is <id> (any
// other is NOT_FOUND, so that existence does not leak), lists and watches only those, and may
// create boxes only for itself (an empty user_id becomes <id>), under the manager's UserLimits,
// with box ids made by docker-svc. Calls without it (the backend, operators on the unix socket)
// see everything.

class BoxesService final : public box::v1::Boxes::Service {
 public:
  // `leases` answers Host; both must outlive the service. SetConfig waits up to
  // `assignment_wait` for its box to be assigned.
  // At most `max_watches` Watch streams are served at once (each holds a thread of the server's
  // pool); more are RESOURCE_EXHAUSTED.
  BoxesService(BoxManager* manager, LeaseClient* leases,
               absl::Duration assignment_wait = absl::Seconds(60), int max_watches = 256)
      : manager_(manager),
        leases_(leases),
        assignment_wait_(assignment_wait),
        max_watches_(max_watches) {}

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
  // PERMISSION_DENIED for a call acting for an end user.
  grpc::Status Host(grpc::ServerContext* context, const box::v1::HostRequest* request,
                    box::v1::HostResponse* response) override;
  // Assign, Drain and Undrain: PERMISSION_DENIED for a call acting for an end user.
  grpc::Status Assign(grpc::ServerContext* context, const box::v1::AssignRequest* request,
                      box::v1::AssignResponse* response) override;
  // An end user may configure only its own box (others are NOT_FOUND).
  grpc::Status SetConfig(grpc::ServerContext* context, const box::v1::SetConfigRequest* request,
                         box::v1::SetConfigResponse* response) override;
  grpc::Status Drain(grpc::ServerContext* context, const box::v1::DrainRequest* request,
                     box::v1::DrainResponse* response) override;
  grpc::Status Undrain(grpc::ServerContext* context, const box::v1::UndrainRequest* request,
                       box::v1::DrainResponse* response) override;

 private:
  BoxManager* const manager_;
  LeaseClient* const leases_;
  const absl::Duration assignment_wait_;
  const int max_watches_;
  std::atomic<int> watches_{0};
  // When this service (the process) began (HostResponse.started_at).
  const absl::Time started_ = absl::Now();
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_SERVICE_BOXES_SERVICE_H_
