#include "allocator-svc/allocator_metrics.h"

#include <string>

#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::allocator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::ResourceUsage Usage(uint32_t total, uint32_t used) {
  v1::ResourceUsage usage;
  usage.set_total(total);
  usage.set_used(used);
  usage.set_free(total - used);
  return usage;
}

TEST(AllocatorMetricsTest, CountsAnswersByMethodAndCodeFromZero) {
  common::Metrics metrics;
  AllocatorMetrics allocator(metrics.registry());
  EXPECT_THAT(metrics.Serialize(),
              HasSubstr("berth_allocator_requests_total{code=\"OK\",method=\"Reserve\"} 0\n"));
  allocator.Answered(Method::kReserve, absl::StatusCode::kOk);
  allocator.Answered(Method::kReserve, absl::StatusCode::kResourceExhausted);
  allocator.Answered(Method::kReserve, absl::StatusCode::kResourceExhausted);
  allocator.Answered(Method::kRelease, absl::StatusCode::kOk);
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE berth_allocator_requests_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_allocator_requests_total{code=\"OK\",method=\"Reserve\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_requests_total{code=\"RESOURCE_EXHAUSTED\","
                              "method=\"Reserve\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_allocator_requests_total{code=\"OK\",method=\"Release\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_allocator_requests_total{code=\"OK\",method=\"Reconcile\"} 0\n"));
}

TEST(AllocatorMetricsTest, ShowsThePoolsTheHostHasAndTheLeases) {
  common::Metrics metrics;
  AllocatorMetrics allocator(metrics.registry());
  v1::CapacityResponse capacity;
  *capacity.mutable_boxes() = Usage(54, 3);
  *capacity.mutable_ttys() = Usage(54, 2);
  *capacity.mutable_tcp_ports() = Usage(12768, 9);
  *capacity.mutable_udp_ports() = Usage(12768, 0);
  *capacity.mutable_gpu_slots() = Usage(0, 0);  // no GPU
  allocator.SetHoldings(capacity, LeaseCounts{1, 2});
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("berth_allocator_pool_capacity{pool=\"boxes\"} 54\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_pool_free{pool=\"boxes\"} 51\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_pool_free{pool=\"tty\"} 52\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_pool_capacity{pool=\"tcp\"} 12768\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_pool_free{pool=\"tcp\"} 12759\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_pool_free{pool=\"udp\"} 12768\n"));
  EXPECT_THAT(text, Not(HasSubstr("pool=\"gpu\"")));
  EXPECT_THAT(text, HasSubstr("berth_allocator_leases{state=\"reserved\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_leases{state=\"bound\"} 2\n"));
}

TEST(AllocatorMetricsTest, ObservesCommitsAndTheRecovery) {
  common::Metrics metrics;
  AllocatorMetrics allocator(metrics.registry());
  allocator.Committed(1, absl::Microseconds(300));
  allocator.Committed(5, absl::Milliseconds(3));
  allocator.Recovered(absl::Milliseconds(250));
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE berth_allocator_commit_batch_size histogram\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_commit_batch_size_count 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_commit_batch_size_sum 6\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_commit_batch_size_bucket{le=\"4\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_commit_fsync_seconds_bucket{le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_commit_fsync_seconds_bucket{le=\"0.005\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_allocator_recovery_seconds 0.25\n"));
}

}  // namespace
}  // namespace berth::allocator
