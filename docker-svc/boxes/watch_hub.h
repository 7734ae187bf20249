#ifndef BERTH_DOCKER_SVC_BOXES_WATCH_HUB_H_
#define BERTH_DOCKER_SVC_BOXES_WATCH_HUB_H_

#include <cstddef>
#include <deque>
#include <list>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"

namespace berth::docker {

// Fans box events out to every Watch stream. Each watcher has its own queue, so a slow one
// delays nobody; one that falls more than `max_queued` events behind is dropped (its stream
// ends and the client watches again, getting a fresh snapshot). Thread-safe.
class WatchHub {
 public:
  class Watcher {
   public:
    // The next event, waiting at most `timeout`. False on timeout or when dropped (see lost()).
    bool Next(box::v1::BoxEvent* event, absl::Duration timeout);
    // True once the watcher fell too far behind; no further events arrive.
    bool lost() const;

   private:
    friend class WatchHub;
    mutable absl::Mutex mu_;
    std::deque<box::v1::BoxEvent> queue_ ABSL_GUARDED_BY(mu_);
    bool lost_ ABSL_GUARDED_BY(mu_) = false;
  };

  explicit WatchHub(size_t max_queued = 10000) : max_queued_(max_queued) {}

  // A new watcher whose queue starts with `snapshot`; it sees every event published after.
  // Callers hold whatever lock orders the snapshot against Publish().
  std::shared_ptr<Watcher> Subscribe(std::vector<box::v1::BoxEvent> snapshot);
  void Unsubscribe(const std::shared_ptr<Watcher>& watcher);
  void Publish(const box::v1::BoxEvent& event);
  size_t watcher_count() const;

 private:
  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::list<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_WATCH_HUB_H_
