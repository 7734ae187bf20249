#include "fleet-agent/agent/config.h"

#include <unistd.h>

#include <climits>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace berth::fleet {
namespace {

bool MatchesFully(const std::string& value, const char* pattern) {
  return std::regex_match(value, std::regex(pattern));
}

// True when a libpq connection string or URI carries a password.
bool HasPassword(const std::string& conninfo) {
  if (absl::StartsWith(conninfo, "postgresql://") || absl::StartsWith(conninfo, "postgres://")) {
    // scheme://[user[:password]@]host...: a ':' in the part before '@' of the authority.
    const size_t start = conninfo.find("//") + 2;
    const size_t at = conninfo.find('@', start);
    const size_t slash = conninfo.find('/', start);
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) {
      return absl::StrContains(conninfo, "password=");
    }
    return conninfo.substr(start, at - start).find(':') != std::string::npos ||
           absl::StrContains(conninfo, "password=");
  }
  return std::regex_search(conninfo, std::regex(R"((^|\s)password\s*=)"));
}

std::string Hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

}  // namespace

absl::StatusOr<AgentConfig> BuildConfig(const FlagValues& flags) {
  AgentConfig config;
  config.listen = flags.listen;
  config.socket_group = flags.socket_group;
  config.boxes = flags.boxes;
  if (!absl::StartsWith(flags.boxes, "unix:")) {
    return absl::InvalidArgumentError("--boxes must be docker-svc's socket, unix:PATH");
  }
  if (flags.database.empty()) {
    return absl::InvalidArgumentError(
        "--database is required: a libpq connection string or URI (e.g. "
        "postgresql://berth@db.example/berth)");
  }
  if (HasPassword(flags.database)) {
    return absl::InvalidArgumentError(
        "--database may not hold the password (it would show in ps and the journal): use "
        "--database_password_file or libpq's PGPASSFILE");
  }
  config.database = flags.database;
  if (!flags.database_password_file.empty()) {
    ASSIGN_OR_RETURN(std::string password, common::ReadFile(flags.database_password_file));
    password = std::string(absl::StripTrailingAsciiWhitespace(password));
    if (password.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--database_password_file ", flags.database_password_file, " is empty"));
    }
    config.database_password = password;
  }
  config.host.id = flags.host_id.empty() ? Hostname() : flags.host_id;
  if (config.host.id.size() > 253 ||
      !MatchesFully(config.host.id, "[A-Za-z0-9][A-Za-z0-9._-]*")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--host_id \"", config.host.id, "\" must be 1 to 253 of A-Z a-z 0-9 . _ - (a hostname)"));
  }
  if (!MatchesFully(flags.address, R"((\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5})")) {
    return absl::InvalidArgumentError(
        "--address is required: HOST:PORT that clients dial for this host's gateway (e.g. "
        "203.0.113.7:4678 or [2001:db8::7]:4678)");
  }
  config.host.address = flags.address;
  if (flags.zone.size() > 63 || !MatchesFully(flags.zone, "[A-Za-z0-9._-]*")) {
    return absl::InvalidArgumentError("--zone must be at most 63 of A-Z a-z 0-9 . _ -");
  }
  config.host.zone = flags.zone;
  config.host.version = BERTH_VERSION;
  if (flags.heartbeat_interval < absl::Milliseconds(100) ||
      flags.heartbeat_interval > absl::Minutes(10)) {
    return absl::InvalidArgumentError("--heartbeat_interval must be between 100ms and 10m");
  }
  config.heartbeat_interval = flags.heartbeat_interval;
  config.host.host_timeout = flags.host_timeout == absl::ZeroDuration()
                                 ? 3 * flags.heartbeat_interval
                                 : flags.host_timeout;
  if (config.host.host_timeout <= flags.heartbeat_interval) {
    return absl::InvalidArgumentError(
        "--host_timeout must be longer than --heartbeat_interval (default: 3 heartbeats)");
  }
  if (flags.action_workers < 1 || flags.action_workers > 32) {
    return absl::InvalidArgumentError("--action_workers must be between 1 and 32");
  }
  config.action_workers = flags.action_workers;
  config.migrate_at_start = flags.migrate_at_start;
  config.shutdown_grace = flags.shutdown_grace;
  return config;
}

}  // namespace berth::fleet
