#ifndef BERTH_DOCKER_SVC_BOXES_WARM_POOL_H_
#define BERTH_DOCKER_SVC_BOXES_WARM_POOL_H_

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "docker-svc/boxes/box_manager.h"

namespace berth::docker {

struct WarmPoolOptions {
  // After a failed create, the app's next try waits this long, doubling up to max_backoff.
  absl::Duration first_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  // How often the pools are looked at when no box event wakes the keeper.
  absl::Duration recheck = absl::Seconds(1);
  // A pool box that ends within this long of being made, without a user, counts as a failed
  // create (a broken image that exits at once must not be recreated in a tight loop).
  absl::Duration early_death = absl::Seconds(60);
  // The time backoffs and early deaths are judged by; null: the system clock.
  const common::Clock* clock = nullptr;
};

// Keeps `targets[app]` WAITING boxes (without a user) of each app, like Whist's zygotes, so that
// an assign finds one ready. A box taken, stopped or dead is replaced as soon as its event
// arrives. One box is made at a time, on the keeper's own thread, so refilling never holds up
// a request; an app whose create fails (host full: RESOURCE_EXHAUSTED, a missing image, Docker
// down), or whose boxes die soon after being made, is retried with backoff while the other
// apps are served. Nothing is made while the host
// drains. The boxes are ordinary boxes: a restart of docker-svc recovers them like any other.
class WarmPool {
 public:
  // `manager` must outlive the pool.
  WarmPool(BoxManager* manager, std::map<std::string, int> targets,
           WarmPoolOptions options = {});
  ~WarmPool();
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  void Start();
  // Returns once the keeper has stopped (a create under way finishes first). Idempotent.
  void Stop();

  // How many times the keeper found nothing to make and waited (for a box event or the
  // recheck). Each such pass judged every app; two more passes with nothing made show that
  // the pool is at rest. Waits until the count is at least `count`; whether it was within
  // `timeout`. For tests, which need not sleep to see that nothing happens.
  int64_t idle_passes() const;
  bool AwaitIdlePasses(int64_t count, absl::Duration timeout) const;

 private:
  struct AppState {
    int target = 0;
    absl::Duration backoff;
    absl::Time next_try = absl::InfinitePast();
  };

  void Loop();
  // Makes one box for the first app below its target whose backoff has passed; false when no
  // app needs one now. Box events are taken from `watcher` after each count, so a box that
  // ended before the count has been judged (and its app maybe backed off) before a
  // replacement is made.
  bool TopUpOne(WatchHub::Watcher& watcher);
  // Hands every event already queued on `watcher` to OnEvent().
  void TakeQueuedEvents(WatchHub::Watcher& watcher);
  void Failed(AppState& state, const std::string& app, const std::string& why);
  // Notes the end of a box this pool made (a failure when it died early and unused).
  void OnEvent(const box::v1::BoxEvent& event);
  int WaitingBoxes(const std::string& app) const;

  BoxManager* const manager_;
  const WarmPoolOptions options_;
  const common::SystemClock system_clock_;
  const common::Clock* const clock_;
  std::map<std::string, AppState> apps_;  // the keeper thread's own
  struct Made {
    std::string app;
    absl::Time at;
  };
  std::map<std::string, Made> made_;  // boxes this pool made and nobody took yet; the keeper's
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex passes_mu_;
  int64_t idle_passes_ ABSL_GUARDED_BY(passes_mu_) = 0;
  std::thread thread_;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_WARM_POOL_H_
