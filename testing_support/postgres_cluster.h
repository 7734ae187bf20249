#ifndef BERTH_TESTING_SUPPORT_POSTGRES_CLUSTER_H_
#define BERTH_TESTING_SUPPORT_POSTGRES_CLUSTER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/testing/temp_dir.h"
#include "fleet-agent/pg/pg_connection.h"

namespace berth::testing {

// A throwaway PostgreSQL 15 cluster (Debian's postgresql-15) for one test: initdb and pg_ctl
// run as user `nobody` (the server refuses root) on a unix socket in a temp dir of its own,
// no TCP, fsync off. Database `berth`, superuser `berth`, trust authentication. The destructor
// stops it at once and removes everything. Needs root.
class PostgresCluster {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start();
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // What libpq is given: "host=<dir> port=5432 user=berth dbname=berth".
  std::string conninfo() const;
  absl::StatusOr<std::unique_ptr<fleet::pg::Connection>> Connect() const;
  // One statement on a connection of its own; its rows.
  absl::StatusOr<fleet::pg::Result> Query(const std::string& sql,
                                          const std::vector<fleet::pg::Param>& params = {}) const;

  // Stops the server the fast way (connections cut) and starts it again on the same data.
  absl::Status Restart();
  absl::Status Stop();
  absl::Status StartAgain();
  const std::string& dir() const { return dir_.path(); }

 private:
  PostgresCluster() = default;
  absl::Status PgCtl(const std::string& arguments) const;

  TempDir dir_;
  std::string bin_dir_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_POSTGRES_CLUSTER_H_
