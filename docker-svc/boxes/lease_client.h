#ifndef BERTH_DOCKER_SVC_BOXES_LEASE_CLIENT_H_
#define BERTH_DOCKER_SVC_BOXES_LEASE_CLIENT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/allocator/v1/allocator.pb.h"

namespace berth::docker {

// docker-svc's view of allocator-svc: the lease operations a box's life needs. Errors keep the
// allocator's code; messages start with the operation ("allocator Reserve: ...").
// Implementations are thread-safe.
class LeaseClient {
 public:
  virtual ~LeaseClient() = default;
  virtual absl::StatusOr<allocator::v1::Lease> Reserve(
      const allocator::v1::ReserveRequest& request) = 0;
  virtual absl::StatusOr<allocator::v1::Lease> Bind(const std::string& box_id,
                                                    const std::string& container_id) = 0;
  // OK when no lease was held.
  virtual absl::Status Release(const std::string& box_id) = 0;
  virtual absl::StatusOr<allocator::v1::ReconcileResponse> Reconcile(
      const allocator::v1::ReconcileRequest& request) = 0;
  virtual absl::StatusOr<allocator::v1::CapacityResponse> Capacity() = 0;
  virtual absl::StatusOr<allocator::v1::ListResponse> List() = 0;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_LEASE_CLIENT_H_
