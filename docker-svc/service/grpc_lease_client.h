#ifndef BERTH_DOCKER_SVC_SERVICE_GRPC_LEASE_CLIENT_H_
#define BERTH_DOCKER_SVC_SERVICE_GRPC_LEASE_CLIENT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "docker-svc/boxes/lease_client.h"

namespace berth::docker {

// A LeaseClient over gRPC to `address` ("unix:/run/berth/allocator.sock"). Every lease
// operation waits for the allocator to be reachable (it may be restarting) for at most
// `timeout`, then fails with DEADLINE_EXCEEDED or UNAVAILABLE. The reports (Capacity, List) do
// not wait: UNAVAILABLE at once while the allocator is down, and at most 2 s otherwise.
std::unique_ptr<LeaseClient> MakeGrpcLeaseClient(const std::string& address,
                                                 absl::Duration timeout);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_SERVICE_GRPC_LEASE_CLIENT_H_
