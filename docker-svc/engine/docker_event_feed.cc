#include "docker-svc/engine/docker_event_feed.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

}  // namespace

DockerEventFeed::DockerEventFeed(DockerClient* docker, EventFilters filters, absl::Time since,
                                 Callbacks callbacks)
    : docker_(docker),
      filters_(std::move(filters)),
      callbacks_(std::move(callbacks)),
      since_(since) {}

DockerEventFeed::~DockerEventFeed() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

void DockerEventFeed::Start() {
  thread_ = std::thread([this] { Run(); });
}

bool DockerEventFeed::Sleep(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), duration);
  return !stopping_;
}

void DockerEventFeed::Run() {
  absl::Duration backoff = kFirstBackoff;
  bool reconnecting = false;
  while (!cancel_.IsCancelled()) {
    if (reconnecting) {
      // Wait for the engine before resuming, so that the resync sees it answer.
      absl::Status ping = docker_->Ping();
      if (!ping.ok()) {
        spdlog::warn("docker event stream: engine unreachable ({}); retrying in {}",
                     std::string(ping.message()), absl::FormatDuration(backoff));
        if (!Sleep(backoff)) return;
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      spdlog::info("docker event stream: engine answers again; resuming from {}",
                   absl::FormatTime(since_));
      if (callbacks_.on_reconnect) callbacks_.on_reconnect();
    }
    if (callbacks_.on_stream) callbacks_.on_stream(true);
    absl::Status streamed = docker_->StreamEvents(
        filters_, since_,
        [this, &backoff](const Event& event) {
          backoff = kFirstBackoff;
          // Resume after this event next time; the engine's `since` is whole seconds at best,
          // so a replay may repeat events, which the receiver treats as idempotent.
          since_ = std::max(since_, event.time);
          callbacks_.on_event(event);
          return true;
        },
        cancel_);
    if (callbacks_.on_stream) callbacks_.on_stream(false);
    if (cancel_.IsCancelled()) return;
    spdlog::warn("docker event stream ended: {}", streamed.ok() ? "closed by the engine"
                                                               : streamed.ToString());
    reconnecting = true;
    if (!Sleep(backoff)) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace berth::docker
