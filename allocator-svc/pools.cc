#include "allocator-svc/pools.h"

#include <algorithm>

#include "common/invariant.h"

namespace berth::allocator {

ValuePool::ValuePool(common::IntRange range, const std::vector<uint16_t>& reserved)
    : range_(range), state_(static_cast<size_t>(range.size()), 0) {
  for (uint16_t value : reserved) {
    if (range_.Contains(value)) state_[Index(value)] = kNotPooledMark;
  }
  for (int64_t value = range_.begin; value < range_.end; ++value) {
    if (state_[Index(static_cast<int32_t>(value))] == 0) {
      free_order_.emplace(0, static_cast<int32_t>(value));
      ++total_;
    }
  }
}

bool ValuePool::Pooled(int32_t value) const {
  return range_.Contains(value) && state_[Index(value)] != kNotPooledMark;
}

bool ValuePool::IsFree(int32_t value) const {
  return Pooled(value) && state_[Index(value)] != kInUseMark;
}

uint64_t ValuePool::ReleaseSeq(int32_t value) const {
  return IsFree(value) ? state_[Index(value)] : 0;
}

std::optional<ValuePool::Taken> ValuePool::TakeOldest(
    const std::function<bool(int32_t)>& usable) {
  std::vector<int32_t> skipped;
  std::optional<Taken> taken;
  for (auto it = free_order_.begin(); it != free_order_.end();) {
    auto [release_seq, value] = *it;
    BERTH_INVARIANT(state_[Index(value)] == release_seq,
                    "a free value's state is its place in the free order");
    it = free_order_.erase(it);
    if (usable(value)) {
      state_[Index(value)] = kInUseMark;
      taken = Taken{value, release_seq};
      break;
    }
    skipped.push_back(value);
  }
  for (int32_t value : skipped) {
    state_[Index(value)] = ++skip_seq_;
    free_order_.emplace(skip_seq_, value);
  }
  return taken;
}

TakeResult ValuePool::Take(int32_t value) {
  if (!Pooled(value)) return TakeResult::kNotPooled;
  uint64_t& state = state_[Index(value)];
  if (state == kInUseMark) return TakeResult::kInUse;
  const size_t erased = free_order_.erase({state, value});
  BERTH_INVARIANT(erased == 1, "a free value is in the free order under its release sequence");
  state = kInUseMark;
  return TakeResult::kTaken;
}

void ValuePool::Put(int32_t value, uint64_t release_seq) {
  if (!Pooled(value)) return;
  uint64_t& state = state_[Index(value)];
  if (state != kInUseMark) return;
  state = release_seq;
  const bool inserted = free_order_.emplace(release_seq, value).second;
  BERTH_INVARIANT(inserted, "a value in use is not in the free order");
}

GpuSlots::GpuSlots(std::vector<int32_t> gpu_indexes, int32_t boxes_per_gpu)
    : cap_(static_cast<uint32_t>(std::max(boxes_per_gpu, 0))) {
  std::sort(gpu_indexes.begin(), gpu_indexes.end());
  gpu_indexes.erase(std::unique(gpu_indexes.begin(), gpu_indexes.end()), gpu_indexes.end());
  for (int32_t index : gpu_indexes) gpus_.push_back({index, 0});
}

std::optional<int32_t> GpuSlots::TakeLeastLoaded() {
  Usage* best = nullptr;
  for (Usage& gpu : gpus_) {
    if (gpu.used < cap_ && (best == nullptr || gpu.used < best->used)) best = &gpu;
  }
  if (best == nullptr) return std::nullopt;
  ++best->used;
  return best->gpu_index;
}

TakeResult GpuSlots::TakeForced(int32_t gpu_index) {
  for (Usage& gpu : gpus_) {
    if (gpu.gpu_index == gpu_index) {
      ++gpu.used;
      return TakeResult::kTaken;
    }
  }
  return TakeResult::kNotPooled;
}

void GpuSlots::Put(int32_t gpu_index) {
  for (Usage& gpu : gpus_) {
    if (gpu.gpu_index == gpu_index && gpu.used > 0) --gpu.used;
  }
}

std::vector<GpuSlots::Usage> GpuSlots::PerGpu() const { return gpus_; }

uint32_t GpuSlots::used() const {
  uint32_t used = 0;
  for (const Usage& gpu : gpus_) used += gpu.used;
  return used;
}

}  // namespace berth::allocator
