#ifndef BERTH_ALLOCATOR_SVC_ALLOCATOR_H_
#define BERTH_ALLOCATOR_SVC_ALLOCATOR_H_

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "allocator-svc/host_ports.h"
#include "allocator-svc/lease_record.h"
#include "allocator-svc/pools.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "common/clock.h"
#include "common/value_parsing.h"

namespace berth::allocator {

struct AllocatorConfig {
  common::IntRange ttys{10, 64};
  common::IntRange ports{20000, 32768};
  // Never handed out (the gateway's port, anything the operator names).
  std::vector<uint16_t> reserved_ports;
  std::vector<int32_t> gpus;
  int32_t boxes_per_gpu = 3;
  // Boxes the host takes at most.
  uint32_t max_boxes = 54;
  // A RESERVED lease whose container has not appeared after this long is reclaimed.
  absl::Duration reserve_grace = absl::Seconds(120);
};

// How many leases are in each state.
struct LeaseCounts {
  uint32_t reserved = 0;
  uint32_t bound = 0;
};

// The host's leases and the resource pools behind them: the allocator's logic, with no I/O of
// its own (a Reserve asks the HostPortProbe it is given whether a host port is free, which
// MakeBindingHostPortProbe answers with a bind()).
//
// Every method that changes state appends the changes to persist to `changes`, in the order
// they were made; a method that fails changes nothing and appends nothing. The caller
// persists the changes before it tells anybody about them.
// Not thread-safe: the owner serializes calls.
class Allocator {
 public:
  // A fresh allocator with the leases and release order of a store (may be empty).
  // INVALID_ARGUMENT for a bad config; DATA_LOSS when the stored leases contradict each other
  // (two leases of one port or TTY).
  static absl::StatusOr<std::unique_ptr<Allocator>> Create(const AllocatorConfig& config,
                                                           const StoredState& stored,
                                                           const common::Clock* clock,
                                                           HostPortProbe* probe);

  // A fresh allocator with this one's config, clock and probe, holding `stored` (as Create):
  // what a restart would load. Used to drop changes that never became durable.
  absl::StatusOr<std::unique_ptr<Allocator>> Recreate(const StoredState& stored) const {
    return Create(config_, stored, clock_, probe_);
  }

  absl::StatusOr<v1::ReserveResponse> Reserve(const v1::ReserveRequest& request,
                                              std::vector<Mutation>* changes);
  absl::StatusOr<v1::BindResponse> Bind(const v1::BindRequest& request,
                                        std::vector<Mutation>* changes);
  absl::StatusOr<v1::ReleaseResponse> Release(const v1::ReleaseRequest& request,
                                              std::vector<Mutation>* changes);
  absl::StatusOr<v1::GetResponse> Get(const v1::GetRequest& request) const;
  absl::StatusOr<v1::ListResponse> List(const v1::ListRequest& request) const;
  v1::CapacityResponse Capacity() const;
  absl::StatusOr<v1::ReconcileResponse> Reconcile(const v1::ReconcileRequest& request,
                                                  std::vector<Mutation>* changes);

  // Releases RESERVED leases older than the reserve grace; returns their box ids.
  std::vector<std::string> ReclaimExpired(std::vector<Mutation>* changes);

  size_t lease_count() const { return leases_.size(); }
  // How many leases are reserved and bound.
  LeaseCounts CountLeases() const;

 private:
  Allocator(const AllocatorConfig& config, const common::Clock* clock, HostPortProbe* probe);

  // Takes every resource a lease record holds, as on restore or reconcile. Values the pools do
  // not hand out are recorded but not tracked. On a conflict nothing is taken and the error
  // names it.
  absl::Status TakeExisting(const v1::Lease& lease);
  // Returns every resource of `lease` to the pools and notes them in `freed`.
  void PutBack(const v1::Lease& lease, std::vector<FreedValue>* freed);
  // Acquires what `request` asks for into `lease`; all or nothing.
  absl::Status Acquire(const v1::ReserveRequest& request, v1::Lease* lease);
  void ReconcileLiveBox(const v1::LiveBox& box, v1::ReconcileResponse* response,
                                std::vector<Mutation>* changes);
  void ReleaseLease(std::map<std::string, LeaseRecord>::iterator it,
                    std::vector<Mutation>* changes);
  ValuePool& PortPool(v1::Protocol protocol) {
    return protocol == v1::PROTOCOL_UDP ? udp_ports_ : tcp_ports_;
  }
  // The box holding a port or TTY, for error messages ("" when none is known).
  std::string Holder(PoolId pool, int32_t value) const;

  const AllocatorConfig config_;
  const common::Clock* const clock_;
  HostPortProbe* const probe_;
  ValuePool ttys_;
  ValuePool tcp_ports_;
  ValuePool udp_ports_;
  GpuSlots gpus_;
  // Ordered by box id, which is List's order.
  std::map<std::string, LeaseRecord> leases_;
  // Values outside the pools (out of range, or reserved) that leases hold anyway (adopted by a
  // reconcile or kept from an earlier configuration): no two leases may hold one.
  std::set<std::pair<PoolId, int32_t>> unpooled_held_;
  // Sequence number of the most recent release, for the pools' free order.
  uint64_t release_seq_ = 0;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_ALLOCATOR_H_
