#ifndef BERTH_FLEET_AGENT_SCHEMA_SCHEMA_H_
#define BERTH_FLEET_AGENT_SCHEMA_SCHEMA_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fleet-agent/pg/pg_connection.h"

namespace berth::fleet {

// One migration of the `berth` schema: deploy/sql/<NNN>_<name>.sql, built into the binary.
struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// Every migration this build knows, in version order (1, 2, ...).
const std::vector<Migration>& KnownMigrations();

// Brings the database's `berth` schema to the newest known version: under a session advisory
// lock (so that agents starting together take turns), each missing migration runs in a
// transaction of its own with its version recorded in berth.schema_version. Returns the
// version the schema is at. FAILED_PRECONDITION when the database is at a version newer than
// this build knows (an older agent must not run against it), naming both.
absl::StatusOr<int> Migrate(pg::Connection& connection);

// The version the database's schema is at (0: none), without changing anything;
// FAILED_PRECONDITION as Migrate's for a version newer than this build knows.
absl::StatusOr<int> SchemaVersion(pg::Connection& connection);

}  // namespace berth::fleet

#endif  // BERTH_FLEET_AGENT_SCHEMA_SCHEMA_H_
