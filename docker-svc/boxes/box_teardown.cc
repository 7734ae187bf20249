// BoxManager's ends: a box's stop, its container's removal, its directory, record and lease
// released in that order, and its final event.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_manager.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using box::v1::Box;
using box::v1::BoxEvent;
using google::protobuf::util::TimeUtil;

// Backoff of retried steps (Docker or the allocator failing for a while).
constexpr absl::Duration kFirstRetry = absl::Milliseconds(100);
constexpr absl::Duration kMaxRetry = absl::Seconds(5);

// A teardown given up at shutdown; the restart's recovery ends the box.
absl::Status StopLeftToRestart() {
  return absl::UnavailableError("docker-svc is shutting down; the restart finishes the stop");
}

// A Stop's reason reaches events and logs: short printable text only.
constexpr size_t kMaxReasonLength = 200;

absl::Status ValidateReason(const std::string& reason) {
  if (reason.size() > kMaxReasonLength) {
    return absl::InvalidArgumentError(absl::StrCat("reason is ", reason.size(),
                                                   " characters long; at most ",
                                                   kMaxReasonLength, " are allowed"));
  }
  for (char c : reason) {
    if (c < 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError("reason may hold only printable ASCII characters");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Box> BoxManager::StopBox(const std::string& box_id, const std::string& reason) {
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  RETURN_IF_ERROR(ValidateReason(reason));
  std::optional<absl::Duration> grace;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) return absl::NotFoundError(absl::StrCat("no box ", box_id));
    grace = absl::Seconds(it->second->life.profile().stop_grace_seconds());
  }
  return Teardown(box_id, reason.empty() ? "stopped" : reason, grace, /*wait_for_create=*/true);
}

void BoxManager::ScheduleTeardown(const std::string& box_id, const std::string& reason,
                                  std::optional<absl::Duration> stop_grace) {
  if (teardowns_ == nullptr) return;
  teardowns_->Schedule([this, box_id, reason, stop_grace] {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;  // the restart's recovery ends the box instead
    }
    Teardown(box_id, reason, stop_grace, /*wait_for_create=*/false).IgnoreError();
  });
}

absl::StatusOr<std::shared_ptr<BoxManager::Entry>> BoxManager::BeginTeardown(
    const std::string& box_id, const std::string& reason, bool wait_for_create, Box* before) {
  absl::MutexLock lock(&mu_);
  while (true) {
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) return absl::NotFoundError(absl::StrCat("no box ", box_id));
    std::shared_ptr<Entry> entry = it->second;
    *before = entry->life.box();
    BoxEffects effects;
    switch (entry->life.BeginTeardown(reason, wait_for_create, &effects)) {
      case TeardownStart::kStarted:
        ApplyEffects(box_id, *entry, std::move(effects)).IgnoreError();
        return entry;
      case TeardownStart::kDeferred:
        return nullptr;
      case TeardownStart::kAwaitCreate: {
        auto created = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entry->life.Listed(); };
        auto created_or_gone = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          auto now = boxes_.find(box_id);
          return now == boxes_.end() || now->second != entry || created();
        };
        AwaitCounted(absl::Condition(&created_or_gone));
        continue;
      }
      case TeardownStart::kAwaitOtherStop: {
        // Another teardown is under way: wait for it to finish, or to give up at shutdown.
        auto gone = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          auto now = boxes_.find(box_id);
          return now == boxes_.end() || now->second != entry;
        };
        auto gone_or_stopping = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || gone();
        };
        AwaitCounted(absl::Condition(&gone_or_stopping));
        if (!gone()) return StopLeftToRestart();
        return nullptr;
      }
    }
  }
}

absl::StatusOr<Box> BoxManager::Teardown(const std::string& box_id, const std::string& reason,
                                         std::optional<absl::Duration> stop_grace,
                                         bool wait_for_create) {
  Box before;
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> entry,
                   BeginTeardown(box_id, reason, wait_for_create, &before));
  if (entry == nullptr) return before;  // deferred to its create, or another stop ended it
  internal::BoxRecord record;
  {
    absl::MutexLock lock(&mu_);
    record = entry->life.record();
  }
  spdlog::info("[box {}] ending: {}", box_id, reason);
  const std::string& container_id = before.container_id();
  if (stop_grace.has_value()) {
    absl::Status stopped = docker_->StopContainer(container_id, *stop_grace);
    if (!stopped.ok() && stopped.code() != absl::StatusCode::kNotFound) {
      spdlog::warn("[box {}] docker stop: {}; removing it by force", box_id, stopped.ToString());
    }
  }
  BoxEvent end = EndEventOf(*entry, before);
  std::string final_reason = reason;
  if (end.oom_killed() && (reason == "died" || reason == "removed")) final_reason = "oom";
  // The container must be gone before its ports and TTY may go to another box.
  bool removed_by_others = false;
  if (!RemoveContainerUntilGone(box_id, container_id, &removed_by_others)) {
    return StopLeftToRestart();
  }
  if (removed_by_others && reason == "died") final_reason = "removed";
  // The mapping directory went with the container's volumes, or goes now (an old box's is a
  // directory of boxes_dir).
  RemoveMappingVolume(box_id, record.mapping_volume());
  RemoveLegacyMappingDir(box_id, record.mapping_dir());
  if (absl::Status deleted = store_.Delete(box_id); !deleted.ok()) {
    spdlog::error("[box {}] {}", box_id, deleted.ToString());
  }
  if (!ReleaseUntilDone(box_id, *entry, final_reason, end)) {
    return absl::UnavailableError("docker-svc is shutting down; the restart frees the lease");
  }
  spdlog::info("[box {}] gone: {}, exit code {}{}, ran {}", box_id, final_reason,
               end.exit_code(), end.oom_killed() ? ", OOM-killed" : "",
               absl::FormatDuration(absl::Seconds(end.run_time().seconds())));
  return before;
}

BoxEvent BoxManager::EndEventOf(const Entry& entry, const Box& before) {
  BoxEvent end;
  absl::Time started = FromTimestamp(before.started_at());
  absl::Time finished = clock_->Now();
  if (absl::StatusOr<ContainerInfo> info = docker_->InspectContainer(before.container_id());
      info.ok()) {
    end.set_exit_code(static_cast<int32_t>(info->exit_code));
    end.set_oom_killed(info->oom_killed);
    if (info->started_at != absl::InfinitePast()) started = info->started_at;
    if (info->finished_at != absl::InfinitePast() && !info->running) finished = info->finished_at;
  } else {
    absl::MutexLock lock(&mu_);
    end.set_exit_code(static_cast<int32_t>(entry.life.exit_code_seen().value_or(-1)));
  }
  {
    absl::MutexLock lock(&mu_);
    if (entry.life.oom_seen()) end.set_oom_killed(true);
  }
  *end.mutable_run_time() = TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(std::max(finished - started, absl::ZeroDuration())));
  return end;
}

bool BoxManager::ReleaseUntilDone(const std::string& box_id, const Entry& entry,
                                  const std::string& final_reason, const BoxEvent& end) {
  // KIND_GONE only once the lease is released (the allocator may be restarting).
  for (absl::Duration backoff = kFirstRetry;; backoff = std::min(backoff * 2, kMaxRetry)) {
    {
      absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
      absl::Status released = leases_->Release(box_id);
      if (released.ok()) {
        absl::MutexLock lock(&mu_);
        Box box = entry.life.box();
        box.set_reason(final_reason);
        boxes_.erase(box_id);
        detached_reported_.erase(box_id);
        Publish(BoxEvent::KIND_GONE, box, &end);
        return true;
      }
      spdlog::warn("[box {}] {}; retrying in {}", box_id, released.ToString(),
                   absl::FormatDuration(backoff));
    }
    if (!SleepUnlessStopping(backoff)) return false;
  }
}

bool BoxManager::RemoveContainerUntilGone(const std::string& box_id,
                                          const std::string& container_id,
                                          bool* removed_by_others) {
  for (absl::Duration backoff = kFirstRetry;; backoff = std::min(backoff * 2, kMaxRetry)) {
    absl::Status removed = docker_->RemoveContainer(container_id, /*force=*/true,
                                                    /*remove_volumes=*/true);
    if (removed.ok()) return true;
    if (removed.code() == absl::StatusCode::kNotFound) {
      *removed_by_others = true;
      return true;
    }
    if (removed.code() == absl::StatusCode::kFailedPrecondition) {
      *removed_by_others = true;  // "removal already in progress": wait for it to finish
    } else {
      spdlog::warn("[box {}] docker rm: {}; retrying in {}", box_id, removed.ToString(),
                   absl::FormatDuration(backoff));
    }
    if (!SleepUnlessStopping(backoff)) return false;
  }
}

bool BoxManager::SleepUnlessStopping(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), duration);
  return !stopping_;
}

bool BoxManager::ReleaseLease(const std::string& box_id) {
  absl::Status released = leases_->Release(box_id);
  if (released.ok()) return true;
  spdlog::warn("[box {}] {}; retrying", box_id, released.ToString());
  absl::MutexLock lock(&mu_);
  pending_releases_.insert(box_id);
  return false;
}

}  // namespace berth::docker
