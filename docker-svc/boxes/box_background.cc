// BoxManager's background work: Docker's events, readiness markers, shutdown requests, the
// tick (TTLs, the sweeper, queued lease releases) and the periodic resync. Each feeds the
// boxes' state machines and runs the effects they return.
#include <iterator>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

// Boxes' shutdown requests are looked for every this many readiness polls (with the default
// 10 ms poll, about every 250 ms).
constexpr int kShutdownCheckRounds = 25;

// The sweeper gives a CONNECTING box this much beyond its readiness timeout, so that the
// SetConfig call waiting for it ends it first, with the caller told why.
constexpr absl::Duration kSweepSlack = absl::Seconds(5);

ContainerEnd ContainerEndOf(const Event& event) {
  ContainerEnd end{event.action, event.actor_id, std::nullopt};
  int64_t exit_code = 0;
  auto code = event.attributes.find("exitCode");
  if (code != event.attributes.end() && absl::SimpleAtoi(code->second, &exit_code)) {
    end.exit_code = exit_code;
  }
  return end;
}

}  // namespace

absl::Status BoxManager::ApplyEffects(const std::string& box_id, Entry& entry,
                                      BoxEffects effects) {
  for (BoxEffect& effect : effects) {
    switch (effect.kind) {
      case BoxEffect::Kind::kCommitRecord:
        RETURN_IF_ERROR(CommitRecord(box_id, entry, std::move(effect.record)));
        break;
      case BoxEffect::Kind::kPersist:
        if (absl::Status put = store_.Put(entry.life.record()); !put.ok()) {
          spdlog::error("[box {}] {}", box_id, put.ToString());
        }
        break;
      case BoxEffect::Kind::kPublishChanged:
        Publish(box::v1::BoxEvent::KIND_CHANGED, entry.life.box());
        break;
      case BoxEffect::Kind::kScheduleTeardown:
        ScheduleTeardown(box_id, effect.reason, effect.stop_grace);
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status BoxManager::CommitRecord(const std::string& box_id, Entry& entry,
                                      internal::BoxRecord next) {
  const absl::Time now = clock_->Now();
  next = entry.life.Stamped(std::move(next), now);
  if (absl::Status put = store_.Put(next); !put.ok()) {
    spdlog::error("[box {}] {}", box_id, put.ToString());
    return put;
  }
  entry.life.Commit(std::move(next), now);
  Publish(box::v1::BoxEvent::KIND_CHANGED, entry.life.box());
  return absl::OkStatus();
}

void BoxManager::RequestEnd(const std::string& box_id, Entry& entry, const std::string& reason,
                            std::optional<absl::Duration> stop_grace) {
  ApplyEffects(box_id, entry, entry.life.RequestEnd(reason, stop_grace)).IgnoreError();
}

void BoxManager::OnDockerEvent(const Event& event) {
  if (event.type != "container") return;
  std::optional<std::string> box_id = BoxIdOf(event.attributes);
  if (!box_id.has_value()) return;
  absl::MutexLock lock(&mu_);
  auto it = boxes_.find(*box_id);
  if (it == boxes_.end()) return;
  BoxEffects effects = it->second->life.OnContainerEnded(ContainerEndOf(event));
  if (!effects.empty()) spdlog::info("[box {}] docker event {}", *box_id, event.action);
  ApplyEffects(*box_id, *it->second, std::move(effects)).IgnoreError();
}

void BoxManager::ReadinessLoop() {
  while (true) {
    std::vector<std::pair<std::string, MappingDir>> waiting;
    std::vector<std::string> markers;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.readiness_poll_interval);
      if (stopping_) return;
      for (const auto& [box_id, entry] : boxes_) {
        if (!entry->life.AwaitsReadiness()) continue;
        waiting.emplace_back(box_id, DirOf(entry->life.record()));
        markers.push_back(entry->life.profile().readiness_marker());
      }
    }
    for (size_t i = 0; i < waiting.size(); ++i) {  // file checks outside the lock
      if (waiting[i].second.Has(markers[i])) MarkReady(waiting[i].first);
    }
    if (++readiness_rounds_ % kShutdownCheckRounds == 0) CheckShutdownRequests();
  }
}

void BoxManager::MarkReady(const std::string& box_id) {
  std::string app;
  absl::Duration took;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) return;
    const absl::Time now = clock_->Now();
    BoxEffects effects = it->second->life.OnReady(now);
    if (effects.empty()) return;
    const box::v1::Box& box = it->second->life.box();
    app = box.app();
    took = now - common::FromTimestamp(box.created_at());
    spdlog::info("[box {}] ready ({})", box_id, box::v1::BoxState_Name(box.state()));
    ApplyEffects(box_id, *it->second, std::move(effects)).IgnoreError();
  }
  metrics_->Ready(app, took);  // outside the table's lock
}

void BoxManager::CheckShutdownRequests() {
  std::vector<std::pair<std::string, MappingDir>> live;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [box_id, entry] : boxes_) {
      if (entry->life.Endable()) live.emplace_back(box_id, DirOf(entry->life.record()));
    }
  }
  std::vector<std::string> asked;
  for (const auto& [box_id, dir] : live) {  // file checks outside the lock
    if (dir.Has(kShutdownRequestFile)) asked.push_back(box_id);
  }
  if (asked.empty()) return;
  absl::MutexLock lock(&mu_);
  for (const std::string& box_id : asked) {
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) continue;
    spdlog::info("[box {}] the box asked to be stopped", box_id);
    RequestEnd(box_id, *it->second, kBoxShutdownReason);
  }
}

void BoxManager::TickLoop() {
  absl::Time next_resync = clock_->Now() + options_.resync_interval;
  while (true) {
    bool resync = false;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || resync_requested_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), options_.tick_interval);
      if (stopping_) return;
      resync = resync_requested_ || clock_->Now() >= next_resync;
      resync_requested_ = false;
    }
    last_tick_unix_nanos_ = absl::ToUnixNanos(clock_->Now());
    Tick();
    if (resync) {
      Resync();
      next_resync = clock_->Now() + options_.resync_interval;
    }
  }
}

void BoxManager::Tick() {
  const absl::Time now = clock_->Now();
  std::set<std::string> releases;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [box_id, entry] : boxes_) {
      BoxEffects effects = entry->life.OnTick(now, kSweepSlack);
      if (effects.empty()) continue;
      spdlog::info("[box {}] ending on its timer: {}", box_id, effects.front().reason);
      ApplyEffects(box_id, *entry, std::move(effects)).IgnoreError();
    }
    releases.swap(pending_releases_);
  }
  RetryPendingReleases(std::move(releases));
}

void BoxManager::RetryPendingReleases(std::set<std::string> releases) {
  for (auto it = releases.begin(); it != releases.end(); ++it) {
    const std::string& box_id = *it;
    absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (boxes_.count(box_id) > 0) continue;  // a new box took the id and its own lease
      releasing_.insert(box_id);  // a create of the id waits for the answer
    }
    const bool released = ReleaseLease(box_id);
    absl::MutexLock lock(&mu_);
    releasing_.erase(box_id);
    if (!released) {
      // The allocator still fails: the rest wait for the next tick rather than each taking
      // the allocator's timeout on this thread (the watchdog's liveness check).
      pending_releases_.insert(std::next(it), releases.end());
      break;
    }
  }
}

}  // namespace berth::docker
