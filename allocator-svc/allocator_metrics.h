#ifndef BERTH_ALLOCATOR_SVC_ALLOCATOR_METRICS_H_
#define BERTH_ALLOCATOR_SVC_ALLOCATOR_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "allocator-svc/allocator.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace berth::allocator {

// The allocator's RPCs, as metric labels.
enum class Method { kReserve, kBind, kRelease, kGet, kList, kCapacity, kReconcile };
inline constexpr size_t kMethodCount = 7;
const char* MethodName(Method method);

// allocator-svc's Prometheus metrics (README, Metrics), registered in `registry`:
//   berth_allocator_pool_capacity{pool}        gauge  values a pool hands out
//   berth_allocator_pool_free{pool}            gauge  of those, free now
//     pool: boxes (--max_boxes), tty, tcp, udp (host ports), gpu (GPU slots; only with GPUs)
//   berth_allocator_leases{state}              gauge  reserved, bound
//   berth_allocator_requests_total{method,code} counter  calls answered, by RPC and gRPC code
//   berth_allocator_commit_batch_size          histogram  changes written by one commit
//   berth_allocator_commit_fsync_seconds       histogram  time of one commit's durable write
//   berth_allocator_recovery_seconds           gauge  time the start took to load the state
// Counting a call is an atomic load and an atomic add once its series exists.
// Thread-safe.
class AllocatorMetrics {
 public:
  explicit AllocatorMetrics(prometheus::Registry& registry);
  AllocatorMetrics(const AllocatorMetrics&) = delete;
  AllocatorMetrics& operator=(const AllocatorMetrics&) = delete;

  // A call of `method` was answered with `code`.
  void Answered(Method method, absl::StatusCode code);
  // A commit wrote `changes` changes in `took` (GroupCommitter::CommitObserver).
  void Committed(size_t changes, absl::Duration took);
  // The start loaded the durable state in `took`.
  void Recovered(absl::Duration took);
  // The pool and lease gauges, from what the allocator holds now (set at scrape time).
  void SetHoldings(const v1::CapacityResponse& capacity, const LeaseCounts& leases);

 private:
  static constexpr size_t kCodeCount = 17;  // gRPC's codes, 0 (OK) to 16 (UNAUTHENTICATED)

  // The series of requests_total for `method` and `code` (made on first use).
  prometheus::Counter& Requests(Method method, absl::StatusCode code);

  prometheus::Family<prometheus::Gauge>& capacity_;
  prometheus::Family<prometheus::Gauge>& free_;
  prometheus::Family<prometheus::Gauge>& leases_;
  prometheus::Gauge& reserved_;
  prometheus::Gauge& bound_;
  prometheus::Family<prometheus::Counter>& requests_;
  // requests_'s series, made on first use.
  std::array<std::array<std::atomic<prometheus::Counter*>, kCodeCount>, kMethodCount> answered_{};
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& fsync_seconds_;
  prometheus::Gauge& recovery_seconds_;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_ALLOCATOR_METRICS_H_
