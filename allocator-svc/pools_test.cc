#include "allocator-svc/pools.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::allocator {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

bool Always(int32_t) { return true; }

int32_t TakeValue(ValuePool& pool) {
  std::optional<ValuePool::Taken> taken = pool.TakeOldest(Always);
  return taken ? taken->value : -1;
}

TEST(ValuePoolTest, HandsOutEveryValueOfTheHalfOpenRangeOnce) {
  ValuePool pool({10, 14}, {});
  EXPECT_EQ(pool.total(), 4u);
  std::set<int32_t> seen;
  for (int i = 0; i < 4; ++i) seen.insert(TakeValue(pool));
  EXPECT_EQ(seen, (std::set<int32_t>{10, 11, 12, 13}));
  EXPECT_EQ(pool.TakeOldest(Always), std::nullopt);
  EXPECT_EQ(pool.used(), 4u);
  EXPECT_EQ(pool.free(), 0u);
}

TEST(ValuePoolTest, RangeEdgesAreNotPooled) {
  ValuePool pool({10, 14}, {});
  EXPECT_EQ(pool.Take(9), TakeResult::kNotPooled);
  EXPECT_EQ(pool.Take(14), TakeResult::kNotPooled);
  EXPECT_EQ(pool.Take(10), TakeResult::kTaken);
  EXPECT_EQ(pool.Take(13), TakeResult::kTaken);
  EXPECT_EQ(pool.Take(13), TakeResult::kInUse);
}

TEST(ValuePoolTest, ReservedValuesAreNeverHandedOut) {
  ValuePool pool({20000, 20004}, {20001, 20003, 30000});
  EXPECT_EQ(pool.total(), 2u);
  EXPECT_EQ(pool.Take(20001), TakeResult::kNotPooled);
  std::set<int32_t> seen{TakeValue(pool), TakeValue(pool)};
  EXPECT_EQ(seen, (std::set<int32_t>{20000, 20002}));
  EXPECT_EQ(pool.TakeOldest(Always), std::nullopt);
}

TEST(ValuePoolTest, ReusesTheValueFreeLongestFirst) {
  ValuePool pool({1, 4}, {});
  EXPECT_EQ(TakeValue(pool), 1);
  EXPECT_EQ(TakeValue(pool), 2);
  EXPECT_EQ(TakeValue(pool), 3);
  pool.Put(2, 1);
  pool.Put(1, 2);
  pool.Put(3, 3);
  EXPECT_EQ(TakeValue(pool), 2);
  pool.Put(2, 4);  // Just released: goes behind 1 and 3.
  EXPECT_EQ(TakeValue(pool), 1);
  EXPECT_EQ(TakeValue(pool), 3);
  EXPECT_EQ(TakeValue(pool), 2);
}

TEST(ValuePoolTest, UnusableValuesAreSkippedAndStayFree) {
  ValuePool pool({1, 4}, {});
  std::optional<ValuePool::Taken> taken = pool.TakeOldest([](int32_t v) { return v != 1; });
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->value, 2);
  EXPECT_TRUE(pool.IsFree(1));
  // The skipped value went to the back of the free order.
  EXPECT_EQ(TakeValue(pool), 3);
  EXPECT_EQ(TakeValue(pool), 1);
}

TEST(ValuePoolTest, PutWithTheOldSequenceRestoresTheOrder) {
  ValuePool pool({1, 4}, {});
  std::optional<ValuePool::Taken> first = pool.TakeOldest(Always);
  ASSERT_TRUE(first.has_value());
  pool.Put(first->value, first->release_seq);
  EXPECT_EQ(TakeValue(pool), first->value);
}

TEST(ValuePoolTest, PutIgnoresFreeAndUnpooledValues) {
  ValuePool pool({1, 3}, {2});
  pool.Put(1, 7);   // Already free.
  pool.Put(2, 7);   // Reserved.
  pool.Put(99, 7);  // Outside.
  EXPECT_EQ(pool.free(), 1u);
  EXPECT_EQ(pool.used(), 0u);
}

TEST(GpuSlotsTest, LeastLoadedFirstWithLowIndexOnTies) {
  GpuSlots gpus({1, 0}, 2);
  EXPECT_EQ(gpus.total(), 4u);
  EXPECT_THAT(gpus.TakeLeastLoaded(), Optional(0));
  EXPECT_THAT(gpus.TakeLeastLoaded(), Optional(1));
  EXPECT_THAT(gpus.TakeLeastLoaded(), Optional(0));
  gpus.Put(0);
  EXPECT_THAT(gpus.TakeLeastLoaded(), Optional(0));
  EXPECT_THAT(gpus.TakeLeastLoaded(), Optional(1));
  EXPECT_EQ(gpus.TakeLeastLoaded(), std::nullopt);  // Both at the cap of 2.
  EXPECT_EQ(gpus.used(), 4u);
}

TEST(GpuSlotsTest, NoGpuMeansNoSlot) {
  GpuSlots gpus({}, 3);
  EXPECT_EQ(gpus.TakeLeastLoaded(), std::nullopt);
  EXPECT_EQ(gpus.total(), 0u);
}

TEST(GpuSlotsTest, ForcedTakeMayExceedTheCapButNotInventAGpu) {
  GpuSlots gpus({0}, 1);
  EXPECT_EQ(gpus.TakeForced(0), TakeResult::kTaken);
  EXPECT_EQ(gpus.TakeForced(0), TakeResult::kTaken);
  EXPECT_EQ(gpus.TakeForced(5), TakeResult::kNotPooled);
  EXPECT_EQ(gpus.TakeLeastLoaded(), std::nullopt);
  std::vector<GpuSlots::Usage> usage = gpus.PerGpu();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].used, 2u);
}

}  // namespace
}  // namespace berth::allocator
