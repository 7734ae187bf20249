#include "docker-svc/warm_pool.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"

namespace berth::docker {

WarmPool::WarmPool(BoxManager* manager, std::map<std::string, int> targets,
                   WarmPoolOptions options)
    : manager_(manager), options_(options) {
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

bool WarmPool::TopUpOne() {
  if (manager_->drain_state() != box::v1::DRAIN_STATE_SERVING) return false;
  const absl::Time now = absl::Now();
  for (auto& [app, state] : apps_) {
    if (stopping_) return false;
    if (now < state.next_try || WaitingBoxes(app) >= state.target) continue;
    box::v1::CreateRequest request;
    request.set_app(app);
    absl::StatusOr<box::v1::CreateResponse> created = manager_->CreateBox(request);
    if (created.ok()) {
      state.backoff = options_.first_backoff;
      state.next_try = absl::InfinitePast();
      spdlog::info("[box {}] warm pool: made for {}", created->box().box_id(), app);
    } else {
      state.next_try = absl::Now() + state.backoff;
      spdlog::warn("warm pool: {}: {}; next try in {}", app, created.status().ToString(),
                   absl::FormatDuration(state.backoff));
      state.backoff = std::min(state.backoff * 2, options_.max_backoff);
    }
    return true;
  }
  return false;
}

void WarmPool::Loop() {
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  box::v1::BoxEvent event;
  while (!stopping_) {
    if (TopUpOne()) continue;
    // Nothing to do now: sleep until a box event (a box taken or gone) or the recheck.
    if (watcher->Next(&event, options_.recheck)) {
      while (watcher->Next(&event, absl::ZeroDuration())) {
      }
    } else if (watcher->lost()) {
      manager_->Unwatch(watcher);
      watcher = manager_->Watch();
    }
  }
  manager_->Unwatch(watcher);
}

}  // namespace berth::docker
