#ifndef BERTH_FLEET_AGENT_AGENT_CONFIG_H_
#define BERTH_FLEET_AGENT_AGENT_CONFIG_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fleet-agent/schema/fleet_store.h"

namespace berth::fleet {

// The flags as given.
struct FlagValues {
  std::string listen;
  std::string socket_group;
  std::string boxes;
  std::string database;
  std::string database_password_file;
  std::string host_id;  // empty: the machine's hostname
  std::string address;
  std::string zone;
  absl::Duration heartbeat_interval = absl::Seconds(5);
  absl::Duration host_timeout = absl::ZeroDuration();  // zero: 3 heartbeats
  bool migrate_at_start = true;
  int action_workers = 4;
  absl::Duration shutdown_grace = absl::Seconds(10);
};

// What the agent runs with, checked.
struct AgentConfig {
  std::string listen;
  std::string socket_group;
  std::string boxes;
  std::string database;
  // Given to libpq as its `password` keyword; unset: libpq's own (PGPASSFILE, ~/.pgpass).
  std::optional<std::string> database_password;
  HostIdentity host;
  absl::Duration heartbeat_interval;
  bool migrate_at_start = true;
  int action_workers = 4;
  absl::Duration shutdown_grace;
};

// INVALID_ARGUMENT naming the flag for a bad value; a password in --database (a `password=`
// keyword or a URI's user:password@) is refused: it would show in `ps` and the journal.
absl::StatusOr<AgentConfig> BuildConfig(const FlagValues& flags);

}  // namespace berth::fleet

#endif  // BERTH_FLEET_AGENT_AGENT_CONFIG_H_
