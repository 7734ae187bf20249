// BoxManager's drain: refuse new boxes, stop the WAITING ones, kept across restarts.
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "spdlog/spdlog.h"

namespace berth::docker {

absl::Status BoxManager::SetDraining(bool draining) {
  const std::string marker = absl::StrCat(options_.boxes_dir, "/", kDrainingMarkerFile);
  if (draining) {
    return common::WriteFileAtomically(marker, "draining\n", 0644);
  }
  if (unlink(marker.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(common::ErrnoMessage(absl::StrCat("remove ", marker), errno));
  }
  return absl::OkStatus();
}

box::v1::DrainState BoxManager::drain_state() const {
  absl::MutexLock lock(&mu_);
  if (!draining_) return box::v1::DRAIN_STATE_SERVING;
  return boxes_.empty() ? box::v1::DRAIN_STATE_DRAINED : box::v1::DRAIN_STATE_DRAINING;
}

box::v1::DrainResponse BoxManager::Drain() {
  absl::MutexLock drain(&drain_mu_);
  if (absl::Status kept = SetDraining(true); !kept.ok()) {
    spdlog::error("drain: {} (the drain holds until docker-svc restarts)", kept.ToString());
  }
  uint32_t stopped = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!draining_) spdlog::info("draining: new boxes are refused, WAITING boxes stopped");
    draining_ = true;
    for (auto& [box_id, entry] : boxes_) {
      if (!entry->life.Unclaimed()) continue;
      RequestEnd(box_id, *entry, kDrainingReason);
      ++stopped;
    }
  }
  box::v1::DrainResponse response;
  response.set_drain_state(drain_state());
  response.set_stopped_waiting(stopped);
  return response;
}

box::v1::DrainResponse BoxManager::Undrain() {
  absl::MutexLock drain(&drain_mu_);
  if (absl::Status kept = SetDraining(false); !kept.ok()) spdlog::error("undrain: {}", kept.ToString());
  {
    absl::MutexLock lock(&mu_);
    if (draining_) spdlog::info("serving again: the drain is over");
    draining_ = false;
  }
  box::v1::DrainResponse response;
  response.set_drain_state(drain_state());
  return response;
}

}  // namespace berth::docker
