#ifndef BERTH_FLEET_AGENT_PG_PG_CONNECTION_H_
#define BERTH_FLEET_AGENT_PG_PG_CONNECTION_H_

// A thin RAII layer over libpq: a connection, a result, parameters always bound (never spliced
// into the SQL text), and errors as absl::Status.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct pg_conn;
struct pg_result;

namespace berth::fleet::pg {

// The SQLSTATE of an error that PostgreSQL raised, kept in the Status's payload under this URL;
// std::nullopt for errors of the connection itself.
inline constexpr char kSqlStatePayload[] = "type.berth.dev/sqlstate";
std::optional<std::string> SqlStateOf(const absl::Status& status);

// A statement's rows. Values are text (libpq's text format); a NULL reads as "".
class Result {
 public:
  explicit Result(pg_result* result);
  ~Result();
  Result(Result&& other) noexcept;
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  int columns() const;
  std::string Get(int row, int column) const;
  bool IsNull(int row, int column) const;

 private:
  pg_result* result_;
};

// A statement's parameter: text, or SQL NULL.
using Param = std::optional<std::string>;

// One connection to PostgreSQL. Not thread-safe: one user at a time.
class Connection {
 public:
  // Connects with a libpq connection string or URI (`conninfo`); `password`, when set, is
  // passed as libpq's `password` keyword, never in the string itself. TCP keepalives and a
  // 30 s TCP user timeout are set over whatever `conninfo` says; the session gets a 30 s
  // statement_timeout and a 10 s lock_timeout. Gives up after `connect_timeout` whatever the
  // server does. UNAVAILABLE when the
  // server cannot be reached or refuses the login, with libpq's message.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& conninfo,
                                                          const std::optional<std::string>& password,
                                                          absl::Duration connect_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with `params` bound as $1.. (text). Errors: the server's, mapped by
  // SQLSTATE (22xxx/23xxx and 22023: INVALID_ARGUMENT, BR001: RESOURCE_EXHAUSTED, BR002/BR003:
  // NOT_FOUND, 40001/40P01: ABORTED, others INTERNAL) with the SQLSTATE in the payload;
  // UNAVAILABLE when the connection is lost (then ok() is false).
  absl::StatusOr<Result> Exec(const std::string& sql, const std::vector<Param>& params = {});

  // Runs `sql`, which may hold several statements and no parameters (a migration script), as
  // one implicit transaction unless it says otherwise. Errors as Exec's.
  absl::Status ExecScript(const std::string& sql);

  // False once the connection broke; it is then useless and must be replaced.
  bool ok() const;

  // Waits up to `timeout` for NOTIFYs on the channels this connection LISTENs to; their
  // payloads (possibly none when the wait timed out). UNAVAILABLE when the connection broke.
  absl::StatusOr<std::vector<std::string>> WaitForNotifications(absl::Duration timeout);

  // The server's backend process id (for tests that kill a connection).
  int backend_pid() const;

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  absl::Status ErrorOf(pg_result* result) const;
  std::vector<std::string> TakeNotifications();

  pg_conn* conn_;
};

// A quoted SQL identifier ("berth_host_ab12..." -> "\"berth_host_ab12...\""), for LISTEN.
std::string QuoteIdentifier(const std::string& name);

}  // namespace berth::fleet::pg

#endif  // BERTH_FLEET_AGENT_PG_PG_CONNECTION_H_
