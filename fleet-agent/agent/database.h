#ifndef BERTH_FLEET_AGENT_AGENT_DATABASE_H_
#define BERTH_FLEET_AGENT_AGENT_DATABASE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fleet-agent/pg/pg_connection.h"

namespace berth::fleet {

// One loop's connection to PostgreSQL, opened again (with backoff) whenever it broke. Not
// thread-safe: one loop owns it.
class Database {
 public:
  Database(std::string conninfo, std::optional<std::string> password)
      : conninfo_(std::move(conninfo)), password_(std::move(password)) {}

  // The open connection; when there is none or it broke, connects, retrying with backoff
  // (100 ms doubling to 5 s) until it succeeds or `stopping` says so (then nullptr). `fresh` is
  // set when this call opened a new connection; `on_retry` (when set) runs before each wait.
  pg::Connection* Get(const std::function<bool()>& stopping, bool* fresh = nullptr,
                      const std::function<void()>& on_retry = nullptr);
  // Drops the connection (after an error that leaves it unusable).
  void Reset() { connection_.reset(); }

 private:
  const std::string conninfo_;
  const std::optional<std::string> password_;
  std::unique_ptr<pg::Connection> connection_;
  absl::Time last_complaint_ = absl::InfinitePast();
};

}  // namespace berth::fleet

#endif  // BERTH_FLEET_AGENT_AGENT_DATABASE_H_
