#include "allocator-svc/allocator_metrics.h"

#include <string>

namespace berth::allocator {
namespace {

// Changes per commit: one per call, many when calls share a commit.
const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* const buckets =
      new prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256};
  return *buckets;
}

// A commit's write and fsync: a fraction of a millisecond on a fast disk, more on a slow one.
const prometheus::Histogram::BucketBoundaries& FsyncBuckets() {
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  return *buckets;
}

}  // namespace

const char* MethodName(Method method) {
  switch (method) {
    case Method::kReserve:
      return "Reserve";
    case Method::kBind:
      return "Bind";
    case Method::kRelease:
      return "Release";
    case Method::kGet:
      return "Get";
    case Method::kList:
      return "List";
    case Method::kCapacity:
      return "Capacity";
    case Method::kReconcile:
      return "Reconcile";
  }
  return "unknown";
}

AllocatorMetrics::AllocatorMetrics(prometheus::Registry& registry)
    : capacity_(prometheus::BuildGauge()
                    .Name("berth_allocator_pool_capacity")
                    .Help("Values a pool hands out (boxes, TTYs, TCP and UDP host ports, GPU "
                          "slots), reserved ports excluded.")
                    .Register(registry)),
      free_(prometheus::BuildGauge()
                .Name("berth_allocator_pool_free")
                .Help("Values of a pool that are free now.")
                .Register(registry)),
      leases_(prometheus::BuildGauge()
                  .Name("berth_allocator_leases")
                  .Help("Leases held now, by state (reserved: no container yet; bound).")
                  .Register(registry)),
      reserved_(leases_.Add({{"state", "reserved"}})),
      bound_(leases_.Add({{"state", "bound"}})),
      requests_(prometheus::BuildCounter()
                    .Name("berth_allocator_requests_total")
                    .Help("Calls answered, by method and gRPC status code.")
                    .Register(registry)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("berth_allocator_commit_batch_size")
                      .Help("Changes written to the state file by one commit (calls made at "
                            "once share a commit).")
                      .Register(registry)
                      .Add({}, BatchBuckets())),
      fsync_seconds_(prometheus::BuildHistogram()
                         .Name("berth_allocator_commit_fsync_seconds")
                         .Help("Time one commit took to make its changes durable (write and "
                               "fsync of the state file).")
                         .Register(registry)
                         .Add({}, FsyncBuckets())),
      recovery_seconds_(prometheus::BuildGauge()
                            .Name("berth_allocator_recovery_seconds")
                            .Help("Time the last start took to open and load the state file.")
                            .Register(registry)
                            .Add({})) {
  // Every method's successes from the start, so that a rate sees the first call.
  for (size_t method = 0; method < kMethodCount; ++method) {
    Requests(static_cast<Method>(method), absl::StatusCode::kOk);
  }
}

prometheus::Counter& AllocatorMetrics::Requests(Method method, absl::StatusCode code) {
  size_t code_index = static_cast<size_t>(code);
  if (code_index >= kCodeCount) code_index = static_cast<size_t>(absl::StatusCode::kUnknown);
  std::atomic<prometheus::Counter*>& slot = answered_[static_cast<size_t>(method)][code_index];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the series that exists already, so racing callers agree.
    counter = &requests_.Add(
        {{"method", MethodName(method)},
         {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code_index))}});
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

void AllocatorMetrics::Answered(Method method, absl::StatusCode code) {
  Requests(method, code).Increment();
}

void AllocatorMetrics::Committed(size_t changes, absl::Duration took) {
  batch_size_.Observe(static_cast<double>(changes));
  fsync_seconds_.Observe(absl::ToDoubleSeconds(took));
}

void AllocatorMetrics::Recovered(absl::Duration took) {
  recovery_seconds_.Set(absl::ToDoubleSeconds(took));
}

void AllocatorMetrics::SetHoldings(const v1::CapacityResponse& capacity,
                                   const LeaseCounts& leases) {
  auto set = [this](const char* pool, const v1::ResourceUsage& usage) {
    if (usage.total() == 0) return;  // a pool this host does not have (no GPU, say)
    capacity_.Add({{"pool", pool}}).Set(usage.total());
    free_.Add({{"pool", pool}}).Set(usage.free());
  };
  set("boxes", capacity.boxes());
  set("tty", capacity.ttys());
  set("tcp", capacity.tcp_ports());
  set("udp", capacity.udp_ports());
  set("gpu", capacity.gpu_slots());
  reserved_.Set(leases.reserved);
  bound_.Set(leases.bound);
}

}  // namespace berth::allocator
