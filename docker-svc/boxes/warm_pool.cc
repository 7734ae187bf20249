#include "docker-svc/boxes/warm_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "spdlog/spdlog.h"

namespace berth::docker {

WarmPool::WarmPool(BoxManager* manager, std::map<std::string, int> targets,
                   WarmPoolOptions options)
    : manager_(manager),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : &system_clock_) {
  for (const auto& [app, target] : targets) {
    if (target <= 0) continue;
    AppState& state = apps_[app];
    state.target = target;
    state.backoff = options_.first_backoff;
  }
}

WarmPool::~WarmPool() { Stop(); }

void WarmPool::Start() {
  if (apps_.empty()) return;
  for (const auto& [app, state] : apps_) {
    spdlog::info("warm pool: keeping {} WAITING boxes of {}", state.target, app);
  }
  thread_ = std::thread([this] { Loop(); });
}

void WarmPool::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

int64_t WarmPool::idle_passes() const {
  absl::MutexLock lock(&passes_mu_);
  return idle_passes_;
}

bool WarmPool::AwaitIdlePasses(int64_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&passes_mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(passes_mu_) { return idle_passes_ >= count; };
  return passes_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

int WarmPool::WaitingBoxes(const std::string& app) const {
  box::v1::ListRequest filter;
  filter.set_state(box::v1::BOX_STATE_WAITING);
  filter.set_app(app);
  int waiting = 0;
  for (const box::v1::Box& box : manager_->ListBoxes(filter)) {
    if (box.user_id().empty()) ++waiting;
  }
  return waiting;
}

bool WarmPool::TopUpOne(WatchHub::Watcher& watcher) {
  if (manager_->drain_state() != box::v1::DRAIN_STATE_SERVING) return false;
  for (auto& [app, state] : apps_) {
    if (stopping_) return false;
    if (clock_->Now() < state.next_try) continue;
    const int waiting = WaitingBoxes(app);
    // Events are published under the manager's lock, so every change the count saw is
    // queued by now: a box that died before the count backs its app off here.
    TakeQueuedEvents(watcher);
    if (clock_->Now() < state.next_try || waiting >= state.target) continue;
    box::v1::CreateRequest request;
    request.set_app(app);
    absl::StatusOr<box::v1::CreateResponse> created = manager_->CreateBox(request);
    if (created.ok()) {
      made_[created->box().box_id()] = {app, clock_->Now()};
      spdlog::info("[box {}] warm pool: made for {}", created->box().box_id(), app);
    } else {
      Failed(state, app, created.status().ToString());
    }
    return true;
  }
  return false;
}

void WarmPool::Failed(AppState& state, const std::string& app, const std::string& why) {
  state.next_try = clock_->Now() + state.backoff;
  spdlog::warn("warm pool: {}: {}; next try in {}", app, why, absl::FormatDuration(state.backoff));
  state.backoff = std::min(state.backoff * 2, options_.max_backoff);
}

void WarmPool::OnEvent(const box::v1::BoxEvent& event) {
  auto it = made_.find(event.box().box_id());
  if (it == made_.end()) return;
  const Made made = it->second;
  if (!event.box().user_id().empty()) {
    made_.erase(it);  // taken: a success
    apps_[made.app].backoff = options_.first_backoff;
    return;
  }
  // Judged as the box starts dying: the keeper refills as soon as it is no longer WAITING.
  if (event.kind() != box::v1::BoxEvent::KIND_GONE &&
      event.box().state() != box::v1::BOX_STATE_DYING) {
    return;
  }
  made_.erase(it);
  // Only a box that ended by itself tells of a broken app, not one stopped by a drain or a
  // caller.
  const std::string& reason = event.box().reason();
  const bool by_itself = reason == kDiedReason || reason == kOomReason || reason == kRemovedReason;
  if (by_itself && clock_->Now() - made.at < options_.early_death) {
    Failed(apps_[made.app], made.app,
           absl::StrCat("box ", event.box().box_id(), " ended unused after ",
                        absl::FormatDuration(clock_->Now() - made.at), " (",
                        event.box().reason(), ")"));
  } else {
    apps_[made.app].backoff = options_.first_backoff;
  }
}

void WarmPool::TakeQueuedEvents(WatchHub::Watcher& watcher) {
  box::v1::BoxEvent event;
  while (watcher.Next(&event, absl::ZeroDuration())) OnEvent(event);
}

void WarmPool::Loop() {
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  box::v1::BoxEvent event;
  while (!stopping_) {
    if (TopUpOne(*watcher)) continue;
    // Nothing to do now: sleep until a box event (a box taken or gone) or the recheck.
    if (watcher->Next(&event, options_.recheck)) {
      OnEvent(event);
      TakeQueuedEvents(*watcher);
    } else if (watcher->lost()) {
      manager_->Unwatch(watcher);
      watcher = manager_->Watch();
    }
    absl::MutexLock lock(&passes_mu_);
    ++idle_passes_;
  }
  manager_->Unwatch(watcher);
}

}  // namespace berth::docker
