#ifndef BERTH_ALLOCATOR_SVC_ALLOCATOR_SERVICE_H_
#define BERTH_ALLOCATOR_SVC_ALLOCATOR_SERVICE_H_

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "allocator-svc/allocator.h"
#include "allocator-svc/allocator_metrics.h"
#include "allocator-svc/group_commit.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"

namespace berth::allocator {

// berth.allocator.v1.Allocator over gRPC's callback API. Each call runs the allocator under
// one mutex (work in memory, plus a bind() per host port a Reserve considers, to see that no
// other process holds it: microseconds) and replies from the group committer once the change -
// or, for a read, everything the read saw - is durable; nothing is written to disk under the
// mutex. No thread waits per call.
//
// While the state disk is full (see GroupCommitter), Reserve, Bind, Release and Reconcile are
// refused with RESOURCE_EXHAUSTED before they touch memory - also one that would change
// nothing - and Get, List and Capacity answer from memory, which then equals the durable
// state. Thread-safe.
//
// Every answer is counted in `metrics` (when given) by method and code.
class AllocatorService final : public v1::Allocator::CallbackService {
 public:
  // `metrics` may be null (nothing is counted); else it must outlive the service.
  AllocatorService(std::unique_ptr<Allocator> allocator, GroupCommitter* committer,
                   AllocatorMetrics* metrics = nullptr);
  ~AllocatorService() override;

  // Reclaims expired reservations every `period` on a thread of its own until destruction.
  void StartReclaimer(absl::Duration period);

  // The committer's resync (FullDiskOptions::resync): replaces the allocator
  // with one holding `durable`, dropping every change that did not become durable.
  absl::Status Resync(const StoredState& durable);

  // Sets the metrics' pool and lease gauges from what the allocator holds now (a scrape
  // hook: it takes the allocator's lock for the microseconds the counting takes).
  void UpdateHoldings();

  grpc::ServerUnaryReactor* Reserve(grpc::CallbackServerContext* context,
                                    const v1::ReserveRequest* request,
                                    v1::ReserveResponse* response) override;
  grpc::ServerUnaryReactor* Bind(grpc::CallbackServerContext* context,
                                 const v1::BindRequest* request,
                                 v1::BindResponse* response) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* context,
                                    const v1::ReleaseRequest* request,
                                    v1::ReleaseResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const v1::GetRequest* request,
                                v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListRequest* request,
                                 v1::ListResponse* response) override;
  grpc::ServerUnaryReactor* Capacity(grpc::CallbackServerContext* context,
                                     const v1::CapacityRequest* request,
                                     v1::CapacityResponse* response) override;
  grpc::ServerUnaryReactor* Reconcile(grpc::CallbackServerContext* context,
                                      const v1::ReconcileRequest* request,
                                      v1::ReconcileResponse* response) override;

 private:
  enum class Access { kRead, kWrite };
  // Runs `operation` under the lock; on success hands its changes to the committer and
  // finishes the call once they are durable, else finishes with the error. A kWrite operation
  // is refused without running while the committer refuses changes.
  grpc::ServerUnaryReactor* Run(
      grpc::CallbackServerContext* context, Method method, Access access,
      const std::function<absl::Status(Allocator&, std::vector<Mutation>*)>& operation);
  // Finishes the call with `status`, counted.
  void Finish(grpc::ServerUnaryReactor* reactor, Method method, const absl::Status& status);
  void ReclaimLoop(absl::Duration period);

  absl::Mutex mu_;
  std::unique_ptr<Allocator> allocator_ ABSL_GUARDED_BY(mu_);
  GroupCommitter* const committer_;
  AllocatorMetrics* const metrics_;

  absl::Mutex reclaimer_mu_;
  bool stopping_ ABSL_GUARDED_BY(reclaimer_mu_) = false;
  std::thread reclaimer_;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_ALLOCATOR_SERVICE_H_
