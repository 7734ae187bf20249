#ifndef BERTH_ALLOCATOR_SVC_POOLS_H_
#define BERTH_ALLOCATOR_SVC_POOLS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/value_parsing.h"

namespace berth::allocator {

// What Take() found.
enum class TakeResult {
  kTaken,      // The value was free and is now in use.
  kInUse,      // The value is already in use.
  kNotPooled,  // The value is outside the range or reserved: the pool does not hand it out.
};

// A pool of integer values (TTY numbers, the host ports of one protocol) over a half-open
// range minus reserved values. Hands out the value that has been free the longest, so that a
// just-released value is not reused at once. Free order is kept as a release sequence number
// per value, which the caller persists to keep the order across restarts.
// Not thread-safe: the owner serializes calls.
class ValuePool {
 public:
  ValuePool(common::IntRange range, const std::vector<uint16_t>& reserved);

  // Takes the value free the longest for which `usable` holds. A free value that is not
  // usable (say, a port some other process holds) moves to the back of the free order and
  // stays free. nullopt when no free value is usable.
  struct Taken {
    int32_t value;
    // The release sequence number it had while free; Put() it back with this to undo.
    uint64_t release_seq;
  };
  std::optional<Taken> TakeOldest(const std::function<bool(int32_t)>& usable);
  TakeResult Take(int32_t value);
  // Returns a value to the pool as released at `release_seq`; values the pool does not hand
  // out, or that are already free, are ignored.
  void Put(int32_t value, uint64_t release_seq);

  bool Pooled(int32_t value) const;
  bool IsFree(int32_t value) const;
  // The release sequence number a free value carries (0 = free since the pool was made).
  uint64_t ReleaseSeq(int32_t value) const;

  // Values the pool hands out (the range minus reserved values), in use, and free.
  uint32_t total() const { return total_; }
  uint32_t used() const { return total_ - static_cast<uint32_t>(free_order_.size()); }
  uint32_t free() const { return static_cast<uint32_t>(free_order_.size()); }
  const common::IntRange& range() const { return range_; }

 private:
  static constexpr uint64_t kInUseMark = UINT64_MAX;
  static constexpr uint64_t kNotPooledMark = UINT64_MAX - 1;

  size_t Index(int32_t value) const { return static_cast<size_t>(value - range_.begin); }

  common::IntRange range_;
  uint32_t total_ = 0;
  // Per value: its release sequence number while free, or one of the marks.
  std::vector<uint64_t> state_;
  // Free values ordered by (release sequence, value): the front has been free the longest.
  // Invariant: a pooled value is here, under the release sequence number state_ holds for it,
  // exactly when it is not in use; so no value is handed out twice.
  std::set<std::pair<uint64_t, int32_t>> free_order_;
  // Sequence numbers for values pushed back by TakeOldest; they sort after real releases.
  uint64_t skip_seq_ = 1ull << 62;
};

// GPU slots: `boxes_per_gpu` boxes at most on each GPU, least-loaded GPU first (ties go to the
// lower index). Not thread-safe.
class GpuSlots {
 public:
  GpuSlots(std::vector<int32_t> gpu_indexes, int32_t boxes_per_gpu);

  // The index of the least-loaded GPU below its cap, now holding one more box; nullopt when
  // every GPU is full or there is none.
  std::optional<int32_t> TakeLeastLoaded();
  // Counts one more box on `gpu_index` even over the cap (used when restoring what exists).
  // kNotPooled when the host has no such GPU.
  TakeResult TakeForced(int32_t gpu_index);
  void Put(int32_t gpu_index);

  struct Usage {
    int32_t gpu_index;
    uint32_t used;
  };
  std::vector<Usage> PerGpu() const;
  uint32_t total() const { return static_cast<uint32_t>(gpus_.size()) * cap_; }
  uint32_t used() const;
  int32_t boxes_per_gpu() const { return cap_; }

 private:
  std::vector<Usage> gpus_;  // Sorted by gpu_index.
  uint32_t cap_;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_POOLS_H_
