#include "fleet-agent/agent/database.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace berth::fleet {

pg::Connection* Database::Get(const std::function<bool()>& stopping, bool* fresh,
                              const std::function<void()>& on_retry) {
  if (fresh != nullptr) *fresh = false;
  if (connection_ != nullptr && connection_->ok()) return connection_.get();
  connection_.reset();
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stopping()) {
    absl::StatusOr<std::unique_ptr<pg::Connection>> opened =
        pg::Connection::Open(conninfo_, password_, absl::Seconds(5));
    if (opened.ok()) {
      connection_ = *std::move(opened);
      if (fresh != nullptr) *fresh = true;
      return connection_.get();
    }
    // Once a minute at most: an outage is one problem, not a line per retry.
    if (absl::Now() - last_complaint_ > absl::Minutes(1)) {
      spdlog::warn("PostgreSQL unreachable, retrying: {}", opened.status().ToString());
      last_complaint_ = absl::Now();
    }
    if (on_retry) on_retry();
    for (absl::Duration slept; slept < backoff && !stopping(); slept += absl::Milliseconds(50)) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return nullptr;
}

}  // namespace berth::fleet
