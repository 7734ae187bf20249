#ifndef BERTH_ALLOCATOR_SVC_LEASE_RECORD_H_
#define BERTH_ALLOCATOR_SVC_LEASE_RECORD_H_

#include <cstdint>
#include <vector>

#include "berth/allocator/v1/allocator.pb.h"

namespace berth::allocator {

// A lease together with the request that made it, so a repeated Reserve can be recognised.
// Leases made by Reconcile carry a request for exactly the host ports they hold.
struct LeaseRecord {
  v1::Lease lease;
  v1::ReserveRequest request;
};

// The pools whose free order is persisted.
enum class PoolId : int { kTty = 0, kTcpPorts = 1, kUdpPorts = 2 };

// A value given back to its pool, with the release sequence number that orders reuse.
struct FreedValue {
  PoolId pool;
  int32_t value;
  uint64_t release_seq;
};

// One change to the durable state, in the order the allocator made it.
struct Mutation {
  enum class Kind { kInsert, kUpdate, kDelete };
  Kind kind;
  // kInsert and kUpdate: the record as it is now; kDelete: as it was.
  LeaseRecord record;
  // kDelete: the values given back.
  std::vector<FreedValue> freed;
};

// Everything the store holds, as loaded at start.
struct StoredState {
  std::vector<LeaseRecord> leases;
  std::vector<FreedValue> release_order;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_LEASE_RECORD_H_
