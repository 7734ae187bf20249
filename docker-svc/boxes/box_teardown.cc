// BoxManager's ends: a box's stop, its container's removal, its directory, record and lease
// released in that order, and its final event.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/stop_reasons.h"
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
  return Teardown(box_id, reason.empty() ? kStoppedReason : reason, grace, /*wait_for_create=*/true,
                  /*by_caller=*/true);
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
                                         bool wait_for_create, bool by_caller) {
  Box before;
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> entry,
                   BeginTeardown(box_id, reason, wait_for_create, &before));
  if (entry == nullptr) return before;  // deferred to its create, or another stop ended it
  const absl::Time began = clock_->Now();
  metrics_->StopBegan(before.app(), StopReasonLabel(reason, by_caller));
  internal::BoxRecord record;
  std::optional<TeardownSteps> steps;
  {
    absl::MutexLock lock(&mu_);
    record = entry->life.record();
    steps.emplace(entry->life.box(), reason, stop_grace, entry->life.exit_code_seen(),
                  entry->life.oom_seen());
  }
  spdlog::info("[box {}] ending: {}", box_id, reason);
  absl::Duration backoff = kFirstRetry;
  for (std::optional<TeardownStep> step = steps->step(); step.has_value();) {
    TeardownStepResult result = RunTeardownStep(*step, record, stop_grace, *steps);
    bool retry = false;
    std::optional<TeardownStep> next = steps->Advance(result, clock_->Now(), &retry);
    if (retry) {
      spdlog::warn("[box {}] {}: {}; retrying in {}", box_id, TeardownStepName(*step),
                   result.status.ToString(), absl::FormatDuration(backoff));
      if (!SleepUnlessStopping(backoff)) {
        return *step == TeardownStep::kRelease
                   ? absl::UnavailableError(
                         "docker-svc is shutting down; the restart frees the lease")
                   : StopLeftToRestart();
      }
      backoff = std::min(backoff * 2, kMaxRetry);
      continue;
    }
    backoff = kFirstRetry;
    step = next;
  }
  metrics_->Stopped(before.app(), clock_->Now() - began);
  const BoxEvent gone = steps->final_event();
  spdlog::info("[box {}] gone: {}, exit code {}{}, ran {}", box_id, gone.box().reason(),
               gone.exit_code(), gone.oom_killed() ? ", OOM-killed" : "",
               absl::FormatDuration(absl::Seconds(gone.run_time().seconds())));
  return before;
}

TeardownStepResult BoxManager::RunTeardownStep(TeardownStep step,
                                               const internal::BoxRecord& record,
                                               std::optional<absl::Duration> stop_grace,
                                               const TeardownSteps& steps) {
  const std::string& box_id = record.box().box_id();
  const std::string& container_id = record.box().container_id();
  TeardownStepResult result;
  switch (step) {
    case TeardownStep::kStopContainer:
      result.status = docker_->StopContainer(container_id, stop_grace.value_or(absl::ZeroDuration()));
      if (!result.status.ok() && !absl::IsNotFound(result.status)) {
        spdlog::warn("[box {}] docker stop: {}; removing it by force", box_id,
                     result.status.ToString());
      }
      break;
    case TeardownStep::kInspectEnd: {
      absl::StatusOr<ContainerInfo> info = docker_->InspectContainer(container_id);
      result.status = info.status();
      if (info.ok()) {
        result.exit_code = info->exit_code;
        result.oom_killed = info->oom_killed;
        result.started_at = info->started_at;
        result.finished_at = info->finished_at;
        result.running = info->running;
      }
      break;
    }
    case TeardownStep::kRemoveContainer:
      // The container must be gone before its ports and TTY may go to another box.
      result.status = docker_->RemoveContainer(container_id, /*force=*/true,
                                               /*remove_volumes=*/true);
      break;
    case TeardownStep::kRemoveMappingDir:
      // The mapping directory went with the container's volumes, or goes now (an old box's is
      // a directory of boxes_dir).
      RemoveMappingVolume(box_id, record.mapping_volume());
      RemoveLegacyMappingDir(box_id, record.mapping_dir());
      break;
    case TeardownStep::kDeleteRecord:
      result.status = store_.Delete(box_id);
      if (!result.status.ok()) spdlog::error("[box {}] {}", box_id, result.status.ToString());
      break;
    case TeardownStep::kRelease:
      result.status = ReleaseAndDrop(box_id, steps.final_event());
      break;
  }
  return result;
}

absl::Status BoxManager::ReleaseAndDrop(const std::string& box_id, const BoxEvent& gone) {
  // Under the lifecycle lock, like a create's lease steps: the allocator reconcile sees the
  // lease and the box go together. KIND_GONE only once the lease is released.
  absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
  RETURN_IF_ERROR(leases_->Release(box_id));
  absl::MutexLock lock(&mu_);
  boxes_.erase(box_id);
  detached_reported_.erase(box_id);
  Publish(BoxEvent::KIND_GONE, gone.box(), &gone);
  return absl::OkStatus();
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
