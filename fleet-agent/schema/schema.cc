#include "fleet-agent/schema/schema.h"

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace berth::fleet {
namespace {

// pg_advisory_lock's key for migrations ("berthsql").
constexpr char kMigrationLock[] = "7090999331574232428";

constexpr char kVersionTable[] =
    "SET client_min_messages = warning;"
    "CREATE SCHEMA IF NOT EXISTS berth;"
    "CREATE TABLE IF NOT EXISTS berth.schema_version ("
    "  version integer PRIMARY KEY,"
    "  name text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

absl::StatusOr<int> VersionIn(pg::Connection& connection) {
  ASSIGN_OR_RETURN(pg::Result result,
                   connection.Exec("SELECT coalesce(max(version), 0) FROM berth.schema_version"));
  int version = 0;
  if (result.rows() != 1 || !absl::SimpleAtoi(result.Get(0, 0), &version)) {
    return absl::InternalError("berth.schema_version: unreadable");
  }
  return version;
}

// FAILED_PRECONDITION when `version` is newer than this build knows.
absl::Status CheckKnown(int version) {
  const std::vector<Migration>& known = KnownMigrations();
  const int newest = known.empty() ? 0 : known.back().version;
  if (version <= newest) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the database's berth schema is at version ", version, ", newer than the newest this "
      "fleet-agent knows (", newest, "): run a fleet-agent at least as new as the one that "
      "migrated it"));
}

}  // namespace

absl::StatusOr<int> SchemaVersion(pg::Connection& connection) {
  ASSIGN_OR_RETURN(pg::Result exists,
                   connection.Exec("SELECT to_regclass('berth.schema_version') IS NOT NULL"));
  if (exists.rows() != 1 || exists.Get(0, 0) != "t") return 0;
  ASSIGN_OR_RETURN(int version, VersionIn(connection));
  RETURN_IF_ERROR(CheckKnown(version));
  return version;
}

absl::StatusOr<int> Migrate(pg::Connection& connection) {
  RETURN_IF_ERROR(connection.Exec("SELECT pg_advisory_lock($1)", {kMigrationLock}).status());
  absl::Cleanup unlock = [&connection] {
    if (connection.ok()) (void)connection.Exec("SELECT pg_advisory_unlock($1)", {kMigrationLock});
  };
  RETURN_IF_ERROR(connection.ExecScript(kVersionTable));
  ASSIGN_OR_RETURN(int version, VersionIn(connection));
  RETURN_IF_ERROR(CheckKnown(version));
  for (const Migration& migration : KnownMigrations()) {
    if (migration.version <= version) continue;
    const std::string script = absl::StrCat(
        "BEGIN;\n", migration.sql, "\n;INSERT INTO berth.schema_version (version, name) VALUES (",
        migration.version, ", '", migration.name, "');\nCOMMIT;");
    if (absl::Status applied = connection.ExecScript(script); !applied.ok()) {
      if (connection.ok()) (void)connection.ExecScript("ROLLBACK");
      return absl::Status(applied.code(), absl::StrCat("migration ", migration.version, " (",
                                                       migration.name, "): ", applied.message()));
    }
    spdlog::info("berth schema migrated to version {} ({})", migration.version, migration.name);
    version = migration.version;
  }
  return version;
}

}  // namespace berth::fleet
