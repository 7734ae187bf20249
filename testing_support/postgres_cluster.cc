#include "testing_support/postgres_cluster.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace berth::testing {
namespace {

// The first line `command` prints; "" when it fails.
std::string FirstLineOf(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char line[4096] = {};
  const bool read = fgets(line, sizeof(line), pipe) != nullptr;
  const int status = pclose(pipe);
  if (!read || status != 0) return "";
  return std::string(absl::StripAsciiWhitespace(line));
}

absl::Status RunAsNobody(const std::string& command) {
  const std::string full = absl::StrCat("runuser -u nobody -- ", command);
  if (std::system(full.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", full));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start() {
  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  // Debian keeps the server's binaries off PATH; pg_config (libpq-dev) names their directory.
  cluster->bin_dir_ = FirstLineOf("pg_config --bindir 2>/dev/null");
  if (cluster->bin_dir_.empty() || access((cluster->bin_dir_ + "/initdb").c_str(), X_OK) != 0) {
    cluster->bin_dir_ = "/usr/lib/postgresql/15/bin";
  }
  if (access((cluster->bin_dir_ + "/initdb").c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        "PostgreSQL's initdb not found: install postgresql-15 (scripts/install-deps.sh)");
  }
  if (cluster->dir_.path().empty()) return absl::InternalError("no temp dir");
  const passwd* nobody = getpwnam("nobody");
  if (nobody == nullptr || chown(cluster->dir_.path().c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
    return absl::FailedPreconditionError("cannot give the cluster's directory to nobody (root?)");
  }
  const std::string& dir = cluster->dir_.path();
  if (absl::Status made = RunAsNobody(absl::StrCat(
          cluster->bin_dir_, "/initdb -D ", dir, "/data -U berth -A trust -E UTF8 --no-sync ",
          "--no-instructions >", dir, "/initdb.log 2>&1"));
      !made.ok()) {
    return made;
  }
  if (absl::Status started = cluster->StartAgain(); !started.ok()) return started;
  absl::StatusOr<std::unique_ptr<fleet::pg::Connection>> admin = fleet::pg::Connection::Open(
      absl::StrCat("host=", dir, " port=5432 user=berth dbname=postgres"), std::nullopt,
      absl::Seconds(10));
  if (!admin.ok()) return admin.status();
  if (absl::Status created = (*admin)->Exec("CREATE DATABASE berth").status(); !created.ok()) {
    return created;
  }
  return cluster;
}

PostgresCluster::~PostgresCluster() { (void)PgCtl("stop -m immediate"); }

absl::Status PostgresCluster::PgCtl(const std::string& arguments) const {
  const std::string& dir = dir_.path();
  return RunAsNobody(absl::StrCat(bin_dir_, "/pg_ctl -D ", dir, "/data -l ", dir,
                                  "/server.log -w ", arguments, " >>", dir, "/pg_ctl.log 2>&1"));
}

absl::Status PostgresCluster::StartAgain() {
  return PgCtl(absl::StrCat("-o \"-k ", dir_.path(),
                            " -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                            "-c full_page_writes=off -c max_connections=300\" start"));
}

absl::Status PostgresCluster::Stop() { return PgCtl("stop -m fast"); }

absl::Status PostgresCluster::Restart() {
  if (absl::Status stopped = Stop(); !stopped.ok()) return stopped;
  return StartAgain();
}

std::string PostgresCluster::conninfo() const {
  return absl::StrCat("host=", dir_.path(), " port=5432 user=berth dbname=berth");
}

absl::StatusOr<std::unique_ptr<fleet::pg::Connection>> PostgresCluster::Connect() const {
  return fleet::pg::Connection::Open(conninfo(), std::nullopt, absl::Seconds(10));
}

absl::StatusOr<fleet::pg::Result> PostgresCluster::Query(
    const std::string& sql, const std::vector<fleet::pg::Param>& params) const {
  absl::StatusOr<std::unique_ptr<fleet::pg::Connection>> connection = Connect();
  if (!connection.ok()) return connection.status();
  return (*connection)->Exec(sql, params);
}

}  // namespace berth::testing
