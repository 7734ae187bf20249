#ifndef BERTH_DOCKER_SVC_ENGINE_DOCKER_EVENT_FEED_H_
#define BERTH_DOCKER_SVC_ENGINE_DOCKER_EVENT_FEED_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "docker-svc/engine/docker_client.h"

namespace berth::docker {

// Keeps one Docker event stream open for as long as it runs: when the stream breaks or the
// engine is down, it waits for the engine to answer again (backing off from 100 ms to 5 s),
// calls `on_reconnect` (so the caller can resync what the outage hid) and resumes the stream
// from the last event seen, so that the engine replays what it still has.
class DockerEventFeed {
 public:
  struct Callbacks {
    // Called on the feed's thread, in order; must not block for long.
    std::function<void(const Event&)> on_event;
    std::function<void()> on_reconnect;
    // Told true as the feed opens the stream and false once it broke (optional).
    std::function<void(bool open)> on_stream;
  };

  DockerEventFeed(DockerClient* docker, EventFilters filters, absl::Time since,
                  Callbacks callbacks);
  // Stops the stream and joins its thread.
  ~DockerEventFeed();
  DockerEventFeed(const DockerEventFeed&) = delete;
  DockerEventFeed& operator=(const DockerEventFeed&) = delete;

  void Start();

 private:
  void Run();
  // Sleeps up to `duration`; false when the feed is stopping.
  bool Sleep(absl::Duration duration);

  DockerClient* const docker_;
  const EventFilters filters_;
  const Callbacks callbacks_;
  absl::Time since_;  // only the feed's thread touches it after Start()
  Cancellation cancel_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_ENGINE_DOCKER_EVENT_FEED_H_
