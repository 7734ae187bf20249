#include "docker-svc/boxes/watch_hub.h"

#include <utility>

namespace berth::docker {

bool WatchHub::Watcher::Next(box::v1::BoxEvent* event, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lost_ || !queue_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (lost_ || queue_.empty()) return false;
  *event = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

bool WatchHub::Watcher::lost() const {
  absl::MutexLock lock(&mu_);
  return lost_;
}

std::shared_ptr<WatchHub::Watcher> WatchHub::Subscribe(std::vector<box::v1::BoxEvent> snapshot) {
  auto watcher = std::make_shared<Watcher>();
  {
    absl::MutexLock lock(&watcher->mu_);
    for (box::v1::BoxEvent& event : snapshot) watcher->queue_.push_back(std::move(event));
  }
  absl::MutexLock lock(&mu_);
  watchers_.push_back(watcher);
  return watcher;
}

void WatchHub::Unsubscribe(const std::shared_ptr<Watcher>& watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.remove(watcher);
}

void WatchHub::Publish(const box::v1::BoxEvent& event) {
  absl::MutexLock lock(&mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    Watcher& watcher = **it;
    absl::MutexLock watcher_lock(&watcher.mu_);
    if (watcher.queue_.size() >= max_queued_) {
      watcher.lost_ = true;
      watcher.queue_.clear();
      it = watchers_.erase(it);
      continue;
    }
    watcher.queue_.push_back(event);
    ++it;
  }
}

size_t WatchHub::watcher_count() const {
  absl::MutexLock lock(&mu_);
  return watchers_.size();
}

}  // namespace berth::docker
