// BoxManager's disk limit: a box whose container's writable layer outgrows its app's
// disk_limit_bytes is stopped with reason "disk" (Docker's overlay2 on ext4 cannot bound a
// layer itself, so its size is measured).
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

// The longest one measurement of every box may take (the engine walks each writable layer).
constexpr absl::Duration kDiskCheckTimeout = absl::Seconds(15);

}  // namespace

void BoxManager::DiskLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.disk_check_interval);
      if (stopping_) return;
    }
    CheckDiskUse();
  }
}

void BoxManager::CheckDiskUse() {
  {
    absl::MutexLock lock(&mu_);
    const bool any_limited = std::any_of(boxes_.begin(), boxes_.end(), [](const auto& box) {
      return box.second->life.Live() && box.second->life.profile().disk_limit_bytes() > 0;
    });
    if (!any_limited) return;  // measuring layers costs the engine a walk of each
  }
  // Its own thread: a box with a huge layer slows the engine's walk, never docker-svc's tick;
  // bounded so that a walk that never ends holds neither this thread nor a shutdown for long.
  absl::StatusOr<std::vector<ContainerSummary>> sizes =
      docker_->ListContainerSizes(OwnedBoxesFilter(), kDiskCheckTimeout);
  if (!sizes.ok()) {
    spdlog::warn("disk check: {}", sizes.status().ToString());
    return;
  }
  absl::MutexLock lock(&mu_);
  for (const ContainerSummary& summary : *sizes) {
    std::optional<std::string> box_id = BoxIdOf(summary.labels);
    if (!box_id.has_value()) continue;
    auto it = boxes_.find(*box_id);
    if (it == boxes_.end()) continue;
    Entry& entry = *it->second;
    const uint64_t limit = entry.life.profile().disk_limit_bytes();
    if (entry.life.box().container_id() != summary.id || limit == 0 ||
        summary.size_rw <= static_cast<int64_t>(limit) || !entry.life.Endable()) {
      continue;
    }
    spdlog::warn("[box {}] wrote {} bytes into its container's writable layer, over its app's "
                 "limit of {}: stopping it",
                 *box_id, summary.size_rw, limit);
    // At once, as for an OOM kill: a grace would let it write on.
    RequestEnd(*box_id, entry, kDiskReason, absl::ZeroDuration());
  }
}

}  // namespace berth::docker
