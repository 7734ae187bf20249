#include "fleet-agent/pg/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace berth::fleet::pg {
namespace {

absl::StatusCode CodeOfSqlState(const std::string& state) {
  if (state == "BR001") return absl::StatusCode::kResourceExhausted;
  if (state == "BR002" || state == "BR003") return absl::StatusCode::kNotFound;
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (absl::StartsWith(state, "22") || absl::StartsWith(state, "23")) {
    return absl::StatusCode::kInvalidArgument;
  }
  // Class 08 (connection exception), 57P01..57P03 (the server shutting down or starting).
  if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57P")) {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

std::string Trimmed(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message == nullptr ? "" : message));
}

// The server's notices (e.g. "schema already exists, skipping") go to the debug log, not to
// stderr as libpq would have them.
void LogNotice(void*, const char* message) { spdlog::debug("PostgreSQL: {}", Trimmed(message)); }

}  // namespace

std::optional<std::string> SqlStateOf(const absl::Status& status) {
  absl::optional<absl::Cord> state = status.GetPayload(kSqlStatePayload);
  if (!state.has_value()) return std::nullopt;
  return std::string(*state);
}

Result::Result(pg_result* result) : result_(result) {}
Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}
Result::Result(Result&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}
int Result::rows() const { return PQntuples(result_); }
int Result::columns() const { return PQnfields(result_); }
std::string Result::Get(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     static_cast<size_t>(PQgetlength(result_, row, column)));
}
bool Result::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) == 1; }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& conninfo, const std::optional<std::string>& password,
    absl::Duration connect_timeout) {
  const std::string timeout =
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(connect_timeout)));
  // TCP keepalives and a user timeout: a connection whose server vanished (a half-open one)
  // fails within about 30 s instead of blocking a statement for the kernel's minutes.
  std::vector<const char*> keys = {"dbname",          "connect_timeout",     "application_name",
                                   "keepalives",      "keepalives_idle",     "keepalives_interval",
                                   "keepalives_count", "tcp_user_timeout"};
  std::vector<const char*> values = {conninfo.c_str(), timeout.c_str(), "berth-fleet-agent",
                                     "1",              "10",            "5",
                                     "3",              "30000"};
  if (password.has_value()) {
    keys.push_back("password");
    values.push_back(password->c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // expand_dbname=1: `conninfo` (a string or URI) gives every other keyword; those after it
  // (timeout, name, keepalives, password) win over what it says. The connection is made
  // without blocking, under a deadline of our own: however the server behaves while it stops
  // or starts, the caller gets an answer in time.
  pg_conn* conn = PQconnectStartParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  const absl::Time deadline = absl::Now() + connect_timeout;
  PostgresPollingStatusType polled = PGRES_POLLING_WRITING;
  while (PQstatus(conn) != CONNECTION_BAD && polled != PGRES_POLLING_OK &&
         polled != PGRES_POLLING_FAILED) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd fd{PQsocket(conn), static_cast<short>(polled == PGRES_POLLING_READING ? POLLIN : POLLOUT),
              0};
    if (fd.fd < 0) break;
    const int ready = poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) polled = PQconnectPoll(conn);
  }
  if (polled != PGRES_POLLING_OK || PQstatus(conn) != CONNECTION_OK) {
    std::string why = Trimmed(PQerrorMessage(conn));
    if (why.empty()) why = absl::StrCat("no connection within ", absl::FormatDuration(connect_timeout));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("PostgreSQL: ", why));
  }
  PQsetNoticeProcessor(conn, &LogNotice, nullptr);
  std::unique_ptr<Connection> connection(new Connection(conn));
  // No statement of the agent's runs long or waits long for a lock: one that does (a server in
  // trouble, a lock held by a stuck session) fails instead of stalling its loop.
  RETURN_IF_ERROR(connection->ExecScript("SET statement_timeout = '30s'; SET lock_timeout = '10s'"));
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

int Connection::backend_pid() const { return PQbackendPID(conn_); }

absl::Status Connection::ErrorOf(pg_result* result) const {
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (state == nullptr || !ok()) {
    return absl::UnavailableError(
        absl::StrCat("PostgreSQL connection: ", Trimmed(PQerrorMessage(conn_))));
  }
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  absl::Status error(CodeOfSqlState(state), Trimmed(primary));
  error.SetPayload(kSqlStatePayload, absl::Cord(state));
  return error;
}

absl::StatusOr<Result> Connection::Exec(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& param : params) values.push_back(param.has_value() ? param->c_str() : nullptr);
  pg_result* raw = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()),
                                /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                                /*paramFormats=*/nullptr, /*resultFormat=*/0);
  Result result(raw);  // frees `raw` on every path
  const ExecStatusType status = raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  return ErrorOf(raw);
}

absl::Status Connection::ExecScript(const std::string& sql) {
  pg_result* raw = PQexec(conn_, sql.c_str());
  Result result(raw);
  const ExecStatusType status = raw == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  return ErrorOf(raw);
}

std::vector<std::string> Connection::TakeNotifications() {
  std::vector<std::string> payloads;
  while (PGnotify* notify = PQnotifies(conn_)) {
    payloads.emplace_back(notify->extra == nullptr ? "" : notify->extra);
    PQfreemem(notify);
  }
  return payloads;
}

absl::StatusOr<std::vector<std::string>> Connection::WaitForNotifications(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (PQconsumeInput(conn_) == 0) {
      return absl::UnavailableError(
          absl::StrCat("PostgreSQL connection: ", Trimmed(PQerrorMessage(conn_))));
    }
    std::vector<std::string> payloads = TakeNotifications();
    if (!payloads.empty()) return payloads;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return payloads;
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    const int ready = poll(&fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::UnavailableError("poll on the PostgreSQL connection failed");
    }
  }
}

std::string QuoteIdentifier(const std::string& name) {
  return absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
}

}  // namespace berth::fleet::pg
