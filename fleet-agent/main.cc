// fleet-agent: joins this host to a fleet through PostgreSQL. See README "Fleet".
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "fleet-agent/agent/config.h"
#include "fleet-agent/agent/run.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "unix:/run/berth/fleet.sock",
          "the agent's own socket (health and reflection), unix:PATH");
ABSL_FLAG(std::string, socket_group, "", "the group that may connect to --listen");
ABSL_FLAG(std::string, boxes, "unix:/run/berth/boxes.sock", "docker-svc's socket");
ABSL_FLAG(std::string, database, "",
          "PostgreSQL: a libpq connection string or URI, without the password");
ABSL_FLAG(std::string, database_password_file, "",
          "a file holding the database password (else libpq's PGPASSFILE / ~/.pgpass)");
ABSL_FLAG(std::string, host_id, "", "this host's id in the fleet (default: the hostname)");
ABSL_FLAG(std::string, address, "", "HOST:PORT that clients dial for this host's gateway");
ABSL_FLAG(std::string, zone, "", "this host's zone, for placement (berth.assign's zone)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(5),
          "how often the host's row is refreshed");
ABSL_FLAG(absl::Duration, host_timeout, absl::ZeroDuration(),
          "a host whose heartbeat is older is never chosen and may be reaped LOST (0: 3 "
          "heartbeats)");
ABSL_FLAG(bool, migrate, false, "bring the database's berth schema up to date, then exit");
ABSL_FLAG(bool, migrate_at_start, true,
          "apply missing schema migrations at start (needs the right to create in the schema)");
ABSL_FLAG(int, action_workers, 4,
          "rows worked on at once (creates, assigns, stops); each holds a database connection");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "after SIGTERM, how long work in flight may go on");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Berth fleet-agent: joins this host to a fleet through PostgreSQL");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status =
          berth::common::InitLogging("fleet-agent", absl::GetFlag(FLAGS_log_level));
      !status.ok()) {
    fprintf(stderr, "fleet-agent: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  berth::fleet::FlagValues flags;
  flags.listen = absl::GetFlag(FLAGS_listen);
  flags.socket_group = absl::GetFlag(FLAGS_socket_group);
  flags.boxes = absl::GetFlag(FLAGS_boxes);
  flags.database = absl::GetFlag(FLAGS_database);
  flags.database_password_file = absl::GetFlag(FLAGS_database_password_file);
  flags.host_id = absl::GetFlag(FLAGS_host_id);
  flags.address = absl::GetFlag(FLAGS_address);
  flags.zone = absl::GetFlag(FLAGS_zone);
  flags.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  flags.host_timeout = absl::GetFlag(FLAGS_host_timeout);
  flags.migrate_at_start = absl::GetFlag(FLAGS_migrate_at_start);
  flags.action_workers = absl::GetFlag(FLAGS_action_workers);
  flags.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  const bool migrate_only = absl::GetFlag(FLAGS_migrate);
  if (migrate_only && flags.address.empty()) flags.address = "localhost:0";  // unused
  absl::StatusOr<berth::fleet::AgentConfig> config = berth::fleet::BuildConfig(flags);
  if (!config.ok()) {
    spdlog::error("bad flags: {}", config.status().ToString());
    return EXIT_FAILURE;
  }
  const absl::Status status =
      migrate_only ? berth::fleet::MigrateOnly(*config) : berth::fleet::Run(*config);
  if (!status.ok()) {
    spdlog::error("fleet-agent: {}", status.ToString());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
