// fleet_load: the fleet under load, on one machine. For each N of --hosts it starts one fleet of
// N hosts — each a real allocator-svc, docker-svc (on a fake_dockerd of its own, volumes on
// /dev/shm) and fleet-agent — over one PostgreSQL, and measures:
//
//   idle    the database's statements per second per host while the fleet does nothing
//           (pg_stat_statements; pg_stat_database's xact_commit as a cross-check);
//   open    an open loop at --rate assigns/s: `SELECT * FROM berth.assign(app, user, session)`
//           for a new user each, sent at fixed times from a timer over a pool of connections,
//           measured from the scheduled time (so the client's own queueing is counted);
//   closed  a closed loop from --connections connections: assign, wait until the box is
//           ALLOCATED on its host, assign again: the fleet's throughput ceiling, with the CPU
//           of every kind of process over the window.
//
// Order for each N: start, wait until every host is ACTIVE with a full warm pool mirrored in
// the table ("settled"), idle, an untimed open-loop warm-up (--warmup), open, closed. After the
// warm-up and after the open loop, every assigned box is stopped through the fleet
// (berth.stop_box) and the fleet settles again. Every connection of the load is warmed first
// (berth.assign in a rolled-back transaction), as a webserver's pooled connection is. Every
// measured window also records the CPU of each kind of process and what pg_stat_statements
// counted, per assign.
//
// "ALLOCATED" is what docker-svc says: a Watch stream per host, opened before the load, gives
// the time of the event in which the box turned ALLOCATED with the user; end-to-end is the SQL
// call's start (open loop: its scheduled time) to that event. An assign is warm when the Watch
// showed its box WAITING before (a warm pool box), else cold (the box was made for the user).
//
// Double assignments are looked for three ways: no box id returned by berth.assign for two
// users; no host's Watch showing a box with a second user while a first still holds it; every
// ALLOCATED box docker-svc lists holds the user berth.assign gave it, on the host it named.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "bench/daemon_start.h"
#include "bench/fleet_load_fleet.h"
#include "bench/json_output.h"
#include "bench/stop_signals.h"
#include "berth/box/v1/box.pb.h"
#include "fleet-agent/pg/pg_connection.h"
#include "testing_support/postgres_cluster.h"

ABSL_FLAG(std::string, hosts, "1,5,10,20", "fleet sizes N, comma-separated");
ABSL_FLAG(double, rate, 20, "open loop: assigns per second offered");
ABSL_FLAG(absl::Duration, open_duration, absl::Seconds(20), "open loop: how long it sends");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(5),
          "an untimed open loop at --rate before the measured one (its boxes are then stopped), "
          "so that the agents' connections are open and their statements planned, as in a "
          "fleet that has been running (an agent's worker connects at its first action, so a "
          "few may still connect during the measurement); 0: none");
ABSL_FLAG(int32_t, open_connections, 16,
          "open loop: connections the scheduled sends are spread over");
ABSL_FLAG(int32_t, connections, 32, "closed loop: connections, each one assign at a time");
ABSL_FLAG(absl::Duration, closed_duration, absl::Seconds(10), "closed loop: measured window");
ABSL_FLAG(absl::Duration, closed_lead_in, absl::Seconds(1),
          "closed loop: warm-up before the window, not counted");
ABSL_FLAG(absl::Duration, idle_window, absl::Seconds(30),
          "how long the idle fleet's statements are counted");
ABSL_FLAG(int32_t, warm, 30, "WAITING boxes each docker-svc keeps (--warm_pool)");
ABSL_FLAG(int32_t, max_boxes, 2500, "each allocator-svc's --max_boxes (4 host ports each)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(5), "each agent's heartbeat");
ABSL_FLAG(absl::Duration, allocation_timeout, absl::Seconds(30),
          "how long an assigned box may take to turn ALLOCATED before it counts as an error");
ABSL_FLAG(absl::Duration, settle_timeout, absl::Seconds(180),
          "how long a fleet may take to be ACTIVE with full warm pools");
ABSL_FLAG(std::string, modes, "idle,open,closed", "which measurements, comma-separated");
ABSL_FLAG(std::string, json_out, "", "also append the JSON lines to this file");
ABSL_FLAG(std::string, keep_logs, "",
          "copy every daemon's log into this directory (per N) before the fleet goes");

namespace berth::bench::fleet_load {
namespace {

namespace v1 = ::berth::box::v1;
namespace pg = ::berth::fleet::pg;

constexpr char kSession[] = "s1";

std::string JsonEscape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string JsonLatency(const LatencySummary& s) {
  return absl::StrFormat(
      R"({"n":%d,"p50":%.2f,"p90":%.2f,"p99":%.2f,"max":%.2f,"mean":%.2f})", s.count, s.p50,
      s.p90, s.p99, s.max, s.mean);
}

std::string JsonMap(const std::map<std::string, double>& values, int digits) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : values) {
    parts.push_back(absl::StrFormat("\"%s\":%.*f", JsonEscape(key), digits, value));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

int64_t Ns(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

std::unique_ptr<pg::Connection> Connect(const std::string& conninfo) {
  absl::StatusOr<std::unique_ptr<pg::Connection>> connection =
      pg::Connection::Open(conninfo, std::nullopt, absl::Seconds(10));
  if (!connection.ok()) Die(absl::StrCat("PostgreSQL: ", connection.status().ToString()));
  return *std::move(connection);
}

pg::Result MustExec(pg::Connection& db, const std::string& sql,
                    const std::vector<pg::Param>& params = {}) {
  absl::StatusOr<pg::Result> result = db.Exec(sql, params);
  if (!result.ok()) Die(absl::StrCat(sql, ": ", result.status().ToString()));
  return *std::move(result);
}

// ---- one assign and what became of it ----------------------------------------------------------

struct Assignment {
  std::string user;
  Clock::time_point scheduled;  // open loop; the start otherwise
  Clock::time_point start;
  Clock::time_point end;
  bool ok = false;
  std::string box;
  std::string host;
  std::string error;
  std::optional<HostWatch::Allocation> seen;
  // The box turned ALLOCATED on another host than berth.assign named (that host's id).
  std::string seen_on_other_host;
};

// Runs one assign on `db` for `user` into `a` (start, end, result).
void Assign(pg::Connection& db, const std::string& user, Assignment* a) {
  a->user = user;
  a->start = Clock::now();
  absl::StatusOr<pg::Result> result =
      db.Exec("SELECT * FROM berth.assign($1, $2, $3)", {std::string(kApp), user, kSession});
  a->end = Clock::now();
  if (!result.ok()) {
    a->error = result.status().ToString();
    return;
  }
  if (result->rows() != 1 || result->columns() < 2) {
    a->error = absl::StrCat("berth.assign returned ", result->rows(), " rows");
    return;
  }
  a->ok = true;
  a->box = result->Get(0, 0);
  a->host = result->Get(0, 1);
}

// Waits (until `deadline`) for `a`'s box to turn ALLOCATED on its host; looks on the other
// hosts when it does not.
void AwaitAllocation(Fleet& fleet, Clock::time_point deadline, Assignment* a) {
  if (!a->ok) return;
  Fleet::Host* host = fleet.HostById(a->host);
  if (host != nullptr) a->seen = host->watch->WaitAllocated(a->box, deadline);
  if (a->seen.has_value()) return;
  for (auto& other : fleet.hosts()) {
    if (other->id != a->host && other->watch->Allocated(a->box).has_value()) {
      a->seen_on_other_host = other->id;
    }
  }
}

// ---- settling ---------------------------------------------------------------------------------

// Empty when every host is ACTIVE, its docker-svc has exactly `warm` WAITING boxes and no box
// with a user, and its rows agree and ask for nothing; else what is still missing.
std::string Unsettled(pg::Connection& db, Fleet& fleet, int warm) {
  absl::StatusOr<pg::Result> rows = db.Exec(
      "SELECT h.id, h.status, "
      "(SELECT count(*) FROM berth.boxes b WHERE b.host_id = h.id AND b.state = 'WAITING' "
      "   AND b.action IS NULL AND b.user_id = ''), "
      "(SELECT count(*) FROM berth.boxes b WHERE b.host_id = h.id AND b.action IS NOT NULL), "
      "(SELECT count(*) FROM berth.boxes b WHERE b.host_id = h.id "
      "   AND b.state NOT IN ('GONE', 'FAILED', 'WAITING')) "
      "FROM berth.hosts h");
  if (!rows.ok()) return rows.status().ToString();
  std::map<std::string, std::vector<std::string>> by_host;
  for (int i = 0; i < rows->rows(); ++i) {
    by_host[rows->Get(i, 0)] = {rows->Get(i, 1), rows->Get(i, 2), rows->Get(i, 3), rows->Get(i, 4)};
  }
  for (auto& host : fleet.hosts()) {
    if (auto ended = host->watch->ended(); ended.has_value()) {
      Die(absl::StrCat("the Watch of ", host->id, " ended: ", *ended));
    }
    auto it = by_host.find(host->id);
    if (it == by_host.end()) return absl::StrCat(host->id, ": no row");
    const std::vector<std::string>& r = it->second;
    const std::string counts = absl::StrCat(host->id, ": ", r[0], ", WAITING rows ", r[1],
                                            ", rows asking ", r[2], ", rows with a user ", r[3],
                                            "; docker-svc WAITING ", host->watch->waiting(),
                                            ", with a user ", host->watch->with_user());
    if (r[0] != "ACTIVE" || r[1] != absl::StrCat(warm) || r[2] != "0" || r[3] != "0" ||
        host->watch->waiting() != warm || host->watch->with_user() != 0) {
      return counts;
    }
  }
  return "";
}

void WaitSettled(pg::Connection& db, Fleet& fleet, int warm, const std::string& what) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::GetFlag(FLAGS_settle_timeout);
  std::string missing = Unsettled(db, fleet, warm);
  while (!missing.empty()) {
    if (absl::Now() > deadline) {
      Fleet::Host* host = fleet.hosts().front().get();
      Die(absl::StrCat(what, ": the fleet did not settle in ",
                       absl::FormatDuration(absl::GetFlag(FLAGS_settle_timeout)), ": ", missing,
                       "\nagent log of ", host->id, ":\n", LogTail(host->agent_log(), 20),
                       "docker-svc log:\n", LogTail(host->box_host->docker_svc_log(), 20)));
    }
    absl::SleepFor(absl::Milliseconds(250));
    missing = Unsettled(db, fleet, warm);
  }
  std::printf("# %s: settled in %.1f s\n", what.c_str(), absl::ToDoubleSeconds(absl::Now() - start));
  std::fflush(stdout);
}

// ---- idle -------------------------------------------------------------------------------------

struct IdleResult {
  double seconds = 0;
  std::string source;  // "pg_stat_statements" or "xact_commit"
  double statements = 0;
  double per_s_per_host = 0;
  std::map<std::string, double> by_statement;
  double xact_commits = 0;
  double xact_per_s_per_host = 0;
  std::map<std::string, double> cpu_s;
};

// A statement's short name: the berth function it calls ("berth.assign"), else its text.
std::string StatementName(const std::string& query) {
  const size_t at = query.find("berth.");
  if (at == std::string::npos) return query.substr(0, 60);
  const size_t paren = query.find('(', at);
  return query.substr(at, paren == std::string::npos ? std::string::npos : paren - at);
}

// What pg_stat_statements counted of one statement.
struct StatementCount {
  double calls = 0;
  double exec_ms = 0;  // total_exec_time
};

// This database's statements by short name, without this tool's probes (nothing when
// pg_stat_statements is off).
std::map<std::string, StatementCount> Statements(pg::Connection& db, bool pgss) {
  std::map<std::string, StatementCount> out;
  if (!pgss) return out;
  pg::Result rows = MustExec(
      db,
      "SELECT query, calls, total_exec_time FROM pg_stat_statements "
      "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())");
  for (int i = 0; i < rows.rows(); ++i) {
    const std::string query = rows.Get(i, 0);
    if (query.find("pg_stat_") != std::string::npos) continue;  // ours
    StatementCount count;
    (void)absl::SimpleAtod(rows.Get(i, 1), &count.calls);
    (void)absl::SimpleAtod(rows.Get(i, 2), &count.exec_ms);
    StatementCount& sum = out[StatementName(query)];
    sum.calls += count.calls;
    sum.exec_ms += count.exec_ms;
  }
  return out;
}

std::map<std::string, StatementCount> StatementsBetween(
    const std::map<std::string, StatementCount>& before,
    const std::map<std::string, StatementCount>& after) {
  std::map<std::string, StatementCount> out;
  for (const auto& [name, count] : after) {
    StatementCount delta = count;
    if (auto it = before.find(name); it != before.end()) {
      delta.calls -= it->second.calls;
      delta.exec_ms -= it->second.exec_ms;
    }
    if (delta.calls > 0) out[name] = delta;
  }
  return out;
}

double XactCommits(pg::Connection& db) {
  pg::Result rows = MustExec(
      db, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
  double value = 0;
  if (rows.rows() == 1) (void)absl::SimpleAtod(rows.Get(0, 0), &value);
  return value;
}

IdleResult MeasureIdle(pg::Connection& db, Fleet& fleet, pid_t postmaster, bool pgss) {
  IdleResult idle;
  // PostgreSQL 15's backends publish their transaction counts at most once a second, and an
  // idle backend within 10 s: wait until the settling's own are in, so that pg_stat_database
  // counts only the window's.
  absl::SleepFor(absl::Seconds(12));
  const std::map<std::string, StatementCount> before = Statements(db, pgss);
  const double xact_before = XactCommits(db);
  const CpuSample cpu_before = SampleCpu(fleet, postmaster);
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::GetFlag(FLAGS_idle_window));
  const double xact_after = XactCommits(db);
  idle.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const CpuSample cpu_after = SampleCpu(fleet, postmaster);
  idle.cpu_s = CpuBetween(cpu_before, cpu_after);
  const double hosts = static_cast<double>(fleet.hosts().size());
  // Of this tool's own transactions, the first xact_commit read commits inside the window.
  idle.xact_commits = xact_after - xact_before - 1;
  idle.xact_per_s_per_host = idle.xact_commits / hosts / idle.seconds;
  if (pgss) {
    for (const auto& [name, count] : StatementsBetween(before, Statements(db, pgss))) {
      idle.by_statement[name] = count.calls;
      idle.statements += count.calls;
    }
    idle.source = "pg_stat_statements";
  } else {
    idle.statements = idle.xact_commits;
    idle.source = "xact_commit";
  }
  idle.per_s_per_host = idle.statements / hosts / idle.seconds;
  return idle;
}

// ---- the load ---------------------------------------------------------------------------------

struct DoubleChecks {
  int box_returned_twice = 0;  // berth.assign gave one box to two users
  int host_conflicts = 0;      // a host's Watch showed a box with a second user
  int wrong_user = 0;          // a box turned ALLOCATED with another user than assigned
  int wrong_host = 0;          // ... on another host than berth.assign named
  int listed_mismatch = 0;     // docker-svc lists an ALLOCATED box whose user is not its own
  std::vector<std::string> details;
  int total() const {
    return box_returned_twice + host_conflicts + wrong_user + wrong_host + listed_mismatch;
  }
};

struct ModeResult {
  std::string mode;
  double seconds = 0;
  int attempted = 0;
  int allocated = 0;  // counted towards per_s
  double per_s = 0;
  int sql_errors = 0;
  int not_allocated = 0;
  std::string first_error;
  int warm = 0;
  int cold = 0;
  LatencySummary sql_ms;
  LatencySummary e2e_ms;
  LatencySummary warm_e2e_ms;
  LatencySummary cold_e2e_ms;
  LatencySummary lag_ms;  // open loop: actual start - scheduled
  int per_host_min = 0;
  int per_host_max = 0;
  // Over each heartbeat interval, the share of its assigns that went to its busiest host,
  // averaged over the intervals (1/N would be an even spread).
  double busiest_share = 0;
  DoubleChecks doubles;
  std::map<std::string, double> cpu_s;
  // What the database ran over the same span as cpu_s.
  std::map<std::string, StatementCount> statements;
};

// Fills the parts of `r` that every mode shares from the assignments it measures (`measured`)
// and checks all assignments of the fleet so far (`all`) for double assignments.
void Summarize(Fleet& fleet, const std::vector<const Assignment*>& measured,
               const std::vector<Assignment>& all, bool from_scheduled, ModeResult* r) {
  std::vector<int64_t> sql;
  std::vector<int64_t> e2e;
  std::vector<int64_t> warm;
  std::vector<int64_t> cold;
  std::vector<int64_t> lag;
  std::map<std::string, int> per_host;
  for (auto& host : fleet.hosts()) per_host[host->id] = 0;
  r->attempted = static_cast<int>(measured.size());
  for (const Assignment* a : measured) {
    if (from_scheduled) lag.push_back(Ns(a->start - a->scheduled));
    if (!a->ok) {
      ++r->sql_errors;
      if (r->first_error.empty()) r->first_error = a->error;
      continue;
    }
    sql.push_back(Ns(a->end - a->start));
    ++per_host[a->host];
    if (!a->seen.has_value()) {
      ++r->not_allocated;
      if (r->first_error.empty()) {
        r->first_error = absl::StrCat("box ", a->box, " of ", a->user, " not ALLOCATED on ",
                                      a->host, " in time");
      }
      continue;
    }
    const int64_t ns = Ns(a->seen->seen - (from_scheduled ? a->scheduled : a->start));
    e2e.push_back(ns);
    (a->seen->warm ? warm : cold).push_back(ns);
    ++(a->seen->warm ? r->warm : r->cold);
  }
  r->sql_ms = SummarizeLatencies(sql, 1e6);
  r->e2e_ms = SummarizeLatencies(e2e, 1e6);
  r->warm_e2e_ms = SummarizeLatencies(warm, 1e6);
  r->cold_e2e_ms = SummarizeLatencies(cold, 1e6);
  r->lag_ms = SummarizeLatencies(lag, 1e6);
  {
    // Placement by heartbeat interval (from the first measured assign's start).
    std::map<int64_t, std::map<std::string, int>> by_interval;
    const int64_t interval_ns = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_heartbeat_interval));
    Clock::time_point origin = Clock::time_point::max();
    for (const Assignment* a : measured) origin = std::min(origin, a->scheduled);
    for (const Assignment* a : measured) {
      if (a->ok) ++by_interval[Ns(a->scheduled - origin) / interval_ns][a->host];
    }
    double shares = 0;
    for (const auto& [interval, hosts] : by_interval) {
      int sum = 0;
      int most = 0;
      for (const auto& [id, count] : hosts) {
        sum += count;
        most = std::max(most, count);
      }
      shares += static_cast<double>(most) / sum;
    }
    r->busiest_share = by_interval.empty() ? 0 : shares / by_interval.size();
  }
  r->per_host_min = per_host.empty() ? 0 : INT32_MAX;
  for (const auto& [id, count] : per_host) {
    r->per_host_min = std::min(r->per_host_min, count);
    r->per_host_max = std::max(r->per_host_max, count);
  }

  DoubleChecks& d = r->doubles;
  std::map<std::string, std::string> user_of;  // box -> user, from berth.assign
  std::map<std::string, std::string> host_of;
  for (const Assignment& a : all) {
    if (!a.ok) continue;
    auto [it, fresh] = user_of.emplace(a.box, a.user);
    if (!fresh && it->second != a.user) {
      ++d.box_returned_twice;
      d.details.push_back(absl::StrCat("box ", a.box, " returned for ", it->second, " and ", a.user));
    }
    host_of[a.box] = a.host;
    if (a.seen.has_value() && a.seen->user != a.user) {
      ++d.wrong_user;
      d.details.push_back(absl::StrCat("box ", a.box, " ALLOCATED to ", a.seen->user,
                                       " but assigned to ", a.user));
    }
    if (!a.seen_on_other_host.empty()) {
      ++d.wrong_host;
      d.details.push_back(absl::StrCat("box ", a.box, " assigned on ", a.host,
                                       " turned ALLOCATED on ", a.seen_on_other_host));
    }
  }
  std::map<std::string, std::string> listed_on;
  for (auto& host : fleet.hosts()) {
    for (const std::string& conflict : host->watch->conflicts()) {
      ++d.host_conflicts;
      d.details.push_back(absl::StrCat(host->id, ": ", conflict));
    }
    v1::ListRequest request;
    request.set_state(v1::BOX_STATE_ALLOCATED);
    absl::StatusOr<std::vector<v1::Box>> boxes = host->box_host->boxes().List(request);
    if (!boxes.ok()) Die(absl::StrCat("List on ", host->id, ": ", boxes.status().ToString()));
    for (const v1::Box& box : *boxes) {
      auto user = user_of.find(box.box_id());
      std::string problem;
      if (user == user_of.end()) {
        problem = absl::StrCat("holds user ", box.user_id(), " that no assign gave it");
      } else if (user->second != box.user_id()) {
        problem = absl::StrCat("holds user ", box.user_id(), ", assigned to ", user->second);
      } else if (host_of[box.box_id()] != host->id) {
        problem = absl::StrCat("is on this host, assigned on ", host_of[box.box_id()]);
      } else if (auto [it, fresh] = listed_on.emplace(box.box_id(), host->id); !fresh) {
        problem = absl::StrCat("is listed on ", it->second, " too");
      }
      if (!problem.empty()) {
        ++d.listed_mismatch;
        d.details.push_back(absl::StrCat(host->id, ": box ", box.box_id(), " ", problem));
      }
    }
  }
}

// `count` connections, each warmed as a webserver's pooled connection is: one berth.assign
// (the warm path) in a transaction that is rolled back, so that the backend has compiled the
// function and planned its statements; nothing of it stays or is notified.
std::vector<std::unique_ptr<pg::Connection>> Connections(const std::string& conninfo, int count) {
  std::vector<std::unique_ptr<pg::Connection>> connections;
  for (int i = 0; i < count; ++i) {
    connections.push_back(Connect(conninfo));
    pg::Connection& db = *connections.back();
    MustExec(db, "BEGIN");
    MustExec(db, "SELECT * FROM berth.assign($1, $2, $3)",
             {std::string(kApp), absl::StrCat("warm-connection-", i), kSession});
    MustExec(db, "ROLLBACK");
  }
  return connections;
}

// The open loop: sends at fixed times, each on the first free connection.
ModeResult RunOpen(std::vector<std::unique_ptr<pg::Connection>>& connections,
                   pg::Connection& admin, bool pgss, Fleet& fleet, pid_t postmaster,
                   absl::Duration duration, const std::string& user_prefix,
                   std::vector<Assignment>* all) {
  const double rate = absl::GetFlag(FLAGS_rate);
  const double seconds = absl::ToDoubleSeconds(duration);
  const int total = std::max(1, static_cast<int>(std::lround(rate * seconds)));
  std::vector<Assignment> sent(total);

  absl::Mutex mu;
  std::deque<int> queue;
  bool closed = false;
  std::vector<std::thread> workers;
  for (auto& connection : connections) {
    workers.emplace_back([&, db = connection.get()] {
      while (true) {
        int index = -1;
        {
          absl::MutexLock lock(&mu);
          auto ready = [&] { return !queue.empty() || closed; };
          mu.Await(absl::Condition(&ready));
          if (queue.empty()) return;
          index = queue.front();
          queue.pop_front();
        }
        Assign(*db, absl::StrCat(user_prefix, index), &sent[index]);
      }
    });
  }
  const Clock::duration period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  const std::map<std::string, StatementCount> statements_before = Statements(admin, pgss);
  const Clock::time_point t0 = Clock::now() + std::chrono::milliseconds(200);
  const CpuSample cpu_before = SampleCpu(fleet, postmaster);
  for (int i = 0; i < total; ++i) {
    sent[i].scheduled = t0 + i * period;
    std::this_thread::sleep_until(sent[i].scheduled);
    absl::MutexLock lock(&mu);
    queue.push_back(i);
  }
  {
    absl::MutexLock lock(&mu);
    closed = true;
  }
  for (std::thread& worker : workers) worker.join();
  const Clock::time_point deadline =
      Clock::now() + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_allocation_timeout));
  for (Assignment& a : sent) AwaitAllocation(fleet, deadline, &a);
  const CpuSample cpu_after = SampleCpu(fleet, postmaster);

  ModeResult r;
  r.mode = "open";
  r.seconds = seconds;
  r.cpu_s = CpuBetween(cpu_before, cpu_after);
  r.statements = StatementsBetween(statements_before, Statements(admin, pgss));
  all->insert(all->end(), sent.begin(), sent.end());
  std::vector<const Assignment*> measured;
  for (const Assignment& a : sent) measured.push_back(&a);
  Summarize(fleet, measured, *all, /*from_scheduled=*/true, &r);
  r.allocated = r.warm + r.cold;
  r.per_s = r.allocated / seconds;
  return r;
}

// The closed loop: each connection assigns, waits for ALLOCATED, assigns again.
ModeResult RunClosed(std::vector<std::unique_ptr<pg::Connection>>& connections,
                     pg::Connection& admin, bool pgss, Fleet& fleet, pid_t postmaster,
                     const std::string& user_prefix, std::vector<Assignment>* all) {
  const int count = static_cast<int>(connections.size());
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(100);
  const Clock::time_point measure_start =
      start + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_closed_lead_in));
  const Clock::time_point measure_end =
      measure_start + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_closed_duration));
  const Clock::duration timeout = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_allocation_timeout));
  std::atomic<int64_t> sequence{0};
  std::vector<std::vector<Assignment>> done(count);
  std::vector<std::thread> callers;
  for (int i = 0; i < count; ++i) {
    callers.emplace_back([&, i, db = connections[i].get()] {
      std::this_thread::sleep_until(start);
      while (Clock::now() < measure_end) {
        Assignment a;
        Assign(*db, absl::StrCat(user_prefix, sequence.fetch_add(1)), &a);
        a.scheduled = a.start;
        if (a.ok) {
          AwaitAllocation(fleet, a.end + timeout, &a);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // no hot loop on BR001
        }
        done[i].push_back(std::move(a));
      }
    });
  }
  std::this_thread::sleep_until(measure_start);
  const std::map<std::string, StatementCount> statements_before = Statements(admin, pgss);
  const CpuSample cpu_before = SampleCpu(fleet, postmaster);
  std::this_thread::sleep_until(measure_end);
  const CpuSample cpu_after = SampleCpu(fleet, postmaster);
  const std::map<std::string, StatementCount> statements_after = Statements(admin, pgss);
  for (std::thread& caller : callers) caller.join();

  ModeResult r;
  r.mode = "closed";
  r.seconds = std::chrono::duration<double>(measure_end - measure_start).count();
  r.cpu_s = CpuBetween(cpu_before, cpu_after);
  r.statements = StatementsBetween(statements_before, statements_after);
  const size_t first = all->size();
  for (std::vector<Assignment>& list : done) {
    all->insert(all->end(), std::make_move_iterator(list.begin()),
                std::make_move_iterator(list.end()));
  }
  std::vector<const Assignment*> measured;
  int completed = 0;
  for (size_t i = first; i < all->size(); ++i) {
    const Assignment& a = (*all)[i];
    if (a.start < measure_start || a.start >= measure_end) continue;
    measured.push_back(&a);
    if (a.seen.has_value() && a.seen->seen <= measure_end) ++completed;
  }
  Summarize(fleet, measured, *all, /*from_scheduled=*/false, &r);
  r.allocated = completed;
  r.per_s = completed / r.seconds;
  return r;
}

// Stops every box the assignments got, through the fleet (berth.stop_box), and waits until
// the fleet is as it was before the load.
void StopAssigned(pg::Connection& db, Fleet& fleet, const std::vector<Assignment>& assignments,
                  int warm) {
  const absl::Time start = absl::Now();
  int stopped = 0;
  for (const Assignment& a : assignments) {
    if (!a.ok) continue;
    MustExec(db, "SELECT berth.stop_box($1)", {a.box});
    ++stopped;
  }
  std::printf("# asked the fleet to stop %d boxes\n", stopped);
  WaitSettled(db, fleet, warm, "after the stops");
  std::printf("# stops done in %.1f s\n", absl::ToDoubleSeconds(absl::Now() - start));
}

// ---- reporting --------------------------------------------------------------------------------

// {"berth.assign":{"calls":..,"per_assign":..,"mean_ms":..},...}: what the database ran, per
// assign that turned ALLOCATED in the window.
std::string StatementsJson(const ModeResult& r) {
  std::vector<std::string> parts;
  for (const auto& [name, count] : r.statements) {
    parts.push_back(absl::StrFormat(
        R"("%s":{"calls":%.0f,"per_assign":%.2f,"mean_ms":%.3f,"ms_per_assign":%.3f})",
        JsonEscape(name), count.calls, r.allocated > 0 ? count.calls / r.allocated : 0,
        count.calls > 0 ? count.exec_ms / count.calls : 0,
        r.allocated > 0 ? count.exec_ms / r.allocated : 0));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string ModeJson(int hosts, const ModeResult& r) {
  double total_cpu = 0;
  for (const auto& [kind, seconds] : r.cpu_s) total_cpu += seconds;
  std::map<std::string, double> share;
  for (const auto& [kind, seconds] : r.cpu_s) {
    share[kind] = total_cpu > 0 ? 100 * seconds / total_cpu : 0;
  }
  std::map<std::string, double> ms_per_assign;
  for (const auto& [kind, seconds] : r.cpu_s) {
    ms_per_assign[kind] = r.allocated > 0 ? 1e3 * seconds / r.allocated : 0;
  }
  return absl::StrCat(
      "{\"bench\":\"fleet_load\",\"date\":\"", Today(), "\",\"hosts\":", hosts, ",\"mode\":\"",
      r.mode, "\"",
      r.mode == "open" ? absl::StrFormat(",\"rate\":%.1f", absl::GetFlag(FLAGS_rate))
                       : absl::StrFormat(",\"connections\":%d", absl::GetFlag(FLAGS_connections)),
      absl::StrFormat(",\"seconds\":%.2f,\"assigns\":%d,\"allocated\":%d,\"per_s\":%.1f", r.seconds,
                      r.attempted, r.allocated, r.per_s),
      ",\"sql_ms\":", JsonLatency(r.sql_ms), ",\"e2e_ms\":", JsonLatency(r.e2e_ms),
      ",\"warm_e2e_ms\":", JsonLatency(r.warm_e2e_ms), ",\"cold_e2e_ms\":",
      JsonLatency(r.cold_e2e_ms),
      r.mode == "open" ? absl::StrCat(",\"send_lag_ms\":", JsonLatency(r.lag_ms)) : "",
      ",\"warm\":", r.warm, ",\"cold\":", r.cold, ",\"errors\":{\"sql\":", r.sql_errors,
      ",\"not_allocated\":", r.not_allocated, ",\"first\":\"", JsonEscape(r.first_error),
      "\"},\"double_assignments\":{\"box_returned_twice\":", r.doubles.box_returned_twice,
      ",\"host_conflicts\":", r.doubles.host_conflicts, ",\"wrong_user\":", r.doubles.wrong_user,
      ",\"wrong_host\":", r.doubles.wrong_host, ",\"listed_mismatch\":",
      r.doubles.listed_mismatch, "},\"per_host\":{\"min\":", r.per_host_min,
      ",\"max\":", r.per_host_max,
      absl::StrFormat(",\"busiest_share_per_heartbeat\":%.3f", r.busiest_share), "},\"cpu_s\":", JsonMap(r.cpu_s, 3),
      ",\"cpu_share_pct\":", JsonMap(share, 1), ",\"cpu_ms_per_assign\":",
      JsonMap(ms_per_assign, 3), ",\"statements\":", StatementsJson(r), ",\"cores\":",
      std::thread::hardware_concurrency(), "}");
}

std::string IdleJson(int hosts, const IdleResult& idle) {
  return absl::StrCat(
      "{\"bench\":\"fleet_load\",\"date\":\"", Today(), "\",\"hosts\":", hosts,
      ",\"mode\":\"idle\"",
      absl::StrFormat(",\"seconds\":%.2f,\"heartbeat_s\":%.1f,\"source\":\"%s\",\"statements\":%.0f,"
                      "\"statements_per_s_per_host\":%.4f,\"xact_commits\":%.0f,"
                      "\"xact_per_s_per_host\":%.4f",
                      idle.seconds,
                      absl::ToDoubleSeconds(absl::GetFlag(FLAGS_heartbeat_interval)), idle.source,
                      idle.statements, idle.per_s_per_host, idle.xact_commits,
                      idle.xact_per_s_per_host),
      ",\"by_statement\":", JsonMap(idle.by_statement, 0), ",\"cpu_s\":", JsonMap(idle.cpu_s, 3),
      ",\"cores\":", std::thread::hardware_concurrency(), "}");
}

struct Row {
  int hosts;
  std::optional<IdleResult> idle;
  std::vector<ModeResult> modes;
};

void PrintTables(const std::vector<Row>& rows) {
  std::printf(
      "\n| N | mode | assigns/s | SQL p50 / p99 ms | e2e p50 / p99 ms | warm e2e p50 / p99 ms | "
      "cold e2e p50 / p99 ms | warm / cold | errors | double | per host min-max (busiest %%) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    for (const ModeResult& r : row.modes) {
      const std::string mode =
          r.mode == "open" ? absl::StrFormat("open %.0f/s", absl::GetFlag(FLAGS_rate))
                           : absl::StrFormat("closed x%d", absl::GetFlag(FLAGS_connections));
      auto pair = [](const LatencySummary& s) {
        return s.count == 0 ? std::string("-")
                            : absl::StrFormat("%.1f / %.1f", s.p50, s.p99);
      };
      std::printf("| %d | %s | %.1f | %s | %s | %s | %s | %d / %d | %d | %d | %d-%d (%.0f %%) |\n",
                  row.hosts, mode.c_str(), r.per_s, pair(r.sql_ms).c_str(),
                  pair(r.e2e_ms).c_str(), pair(r.warm_e2e_ms).c_str(),
                  pair(r.cold_e2e_ms).c_str(), r.warm, r.cold, r.sql_errors + r.not_allocated,
                  r.doubles.total(), r.per_host_min, r.per_host_max, 100 * r.busiest_share);
    }
  }
  std::printf(
      "\n| N | idle statements/s/host | (xact_commit/s/host) | top statement | agents' CPU ms/s/host "
      "| docker-svcs' CPU ms/s/host |\n|---|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    if (!row.idle.has_value()) continue;
    const IdleResult& idle = *row.idle;
    std::string top = "-";
    double top_calls = 0;
    for (const auto& [query, calls] : idle.by_statement) {
      if (calls > top_calls) {
        top_calls = calls;
        top = absl::StrCat(query.substr(0, 40), "… x", calls);
      }
    }
    auto per_host = [&](const char* kind) {
      auto it = idle.cpu_s.find(kind);
      const double s = it == idle.cpu_s.end() ? 0 : it->second;
      return 1e3 * s / row.hosts / idle.seconds;
    };
    std::printf("| %d | %.3f | %.3f | %s | %.2f | %.2f |\n", row.hosts, idle.per_s_per_host,
                idle.xact_per_s_per_host, top.c_str(), per_host("fleet-agent"),
                per_host("docker-svc"));
  }
  std::printf(
      "\n| N | mode | CPU s in window | postgres | fleet-agents | docker-svcs | allocator-svcs | "
      "fake engines | fleet_load | other |\n|---|---|---|---|---|---|---|---|---|---|\n");
  const char* kinds[] = {"postgres",     "fleet-agent", "docker-svc", "allocator-svc",
                         "fake_dockerd", "fleet_load",  "other"};
  for (const Row& row : rows) {
    for (const ModeResult& r : row.modes) {
      double total = 0;
      for (const auto& [kind, s] : r.cpu_s) total += s;
      std::string cells;
      for (const char* kind : kinds) {
        auto it = r.cpu_s.find(kind);
        const double s = it == r.cpu_s.end() ? 0 : it->second;
        absl::StrAppend(&cells, absl::StrFormat(" %.0f %% (%.2f ms/assign) |",
                                                total > 0 ? 100 * s / total : 0,
                                                r.allocated > 0 ? 1e3 * s / r.allocated : 0));
      }
      std::printf("| %d | %s | %.1f |%s\n", row.hosts, r.mode.c_str(), total, cells.c_str());
    }
  }
  std::printf(
      "\n| N | mode | statements per assign | their exec ms per assign | by statement (per assign) "
      "|\n|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    for (const ModeResult& r : row.modes) {
      if (r.allocated == 0 || r.statements.empty()) continue;
      double calls = 0;
      double exec_ms = 0;
      std::vector<std::pair<double, std::string>> parts;
      for (const auto& [name, count] : r.statements) {
        calls += count.calls;
        exec_ms += count.exec_ms;
        parts.push_back({count.calls, name});
      }
      std::sort(parts.rbegin(), parts.rend());
      std::vector<std::string> cells;
      for (const auto& [count, name] : parts) {
        if (count / r.allocated >= 0.05) {
          cells.push_back(absl::StrFormat("%s %.2f", name, count / r.allocated));
        }
      }
      std::printf("| %d | %s | %.2f | %.2f | %s |\n", row.hosts, r.mode.c_str(),
                  calls / r.allocated, exec_ms / r.allocated, absl::StrJoin(cells, ", ").c_str());
    }
  }
  std::fflush(stdout);
}

void KeepLogs(Fleet& fleet, const std::string& into) {
  if (into.empty()) return;
  namespace fs = std::filesystem;
  for (auto& host : fleet.hosts()) {
    const fs::path dir = fs::path(into) / host->id;
    std::error_code error;
    fs::create_directories(dir, error);
    fs::copy_file(host->agent_log(), dir / "fleet-agent.log", fs::copy_options::overwrite_existing, error);
    fs::copy_file(host->box_host->docker_svc_log(), dir / "docker-svc.log",
                  fs::copy_options::overwrite_existing, error);
    fs::copy_file(host->box_host->allocator_log(), dir / "allocator-svc.log",
                  fs::copy_options::overwrite_existing, error);
    fs::copy_file(host->engine_dir.File("fake_dockerd.log"), dir / "fake_dockerd.log",
                  fs::copy_options::overwrite_existing, error);
  }
}

// Turns pg_stat_statements on (a restart of the cluster); false when it cannot be.
bool EnableStatementStats(testing::PostgresCluster& cluster) {
  std::unique_ptr<pg::Connection> db = Connect(cluster.conninfo());
  if (!db->Exec("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'").ok()) {
    return false;
  }
  db.reset();
  if (absl::Status restarted = cluster.Restart(); !restarted.ok()) {
    Die(absl::StrCat("restarting PostgreSQL: ", restarted.ToString()));
  }
  RegisterPostmaster(PostmasterPid(cluster.dir()));
  db = Connect(cluster.conninfo());
  return db->Exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").ok() &&
         db->Exec("SELECT count(*) FROM pg_stat_statements").ok();
}

}  // namespace
}  // namespace berth::bench::fleet_load

int main(int argc, char** argv) {
  using namespace berth::bench;              // NOLINT
  using namespace berth::bench::fleet_load;  // NOLINT
  absl::SetProgramUsageMessage(
      "The fleet under load: N hosts (allocator-svc + docker-svc on fake_dockerd + fleet-agent) "
      "over one PostgreSQL; berth.assign open and closed loop, idle statements per host");
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::vector<int>> sizes = ParseIntList(absl::GetFlag(FLAGS_hosts), "hosts");
  if (!sizes.ok()) Die(sizes.status().ToString());
  const std::set<std::string> modes = [] {
    std::set<std::string> out;
    const std::vector<std::string> given =
        absl::StrSplit(absl::GetFlag(FLAGS_modes), ',', absl::SkipEmpty());
    for (const std::string& m : given) {
      if (m != "idle" && m != "open" && m != "closed") Die(absl::StrCat("unknown mode ", m));
      out.insert(m);
    }
    return out;
  }();
  const int warm = absl::GetFlag(FLAGS_warm);
  if (warm < 1 || absl::GetFlag(FLAGS_rate) <= 0 || absl::GetFlag(FLAGS_connections) < 1 ||
      absl::GetFlag(FLAGS_open_connections) < 1 || absl::GetFlag(FLAGS_max_boxes) < warm ||
      4 * absl::GetFlag(FLAGS_max_boxes) + 8 > 12768) {
    Die("need --warm >= 1, --rate > 0, --connections >= 1, --open_connections >= 1 and "
        "--warm <= --max_boxes <= 3190 (4 ports a box in 20000-32767)");
  }
  const std::string fake_binary = FAKE_DOCKERD_BINARY;
  for (const std::string& binary :
       {fake_binary, berth::testing::DaemonBinary("fleet-agent"),
        berth::testing::DaemonBinary("docker-svc"), berth::testing::DaemonBinary("allocator-svc")}) {
    if (access(binary.c_str(), X_OK) != 0) Die(absl::StrCat(binary, " is not built"));
  }

  // PostgreSQL first (its start runs pg_ctl, whose server must not inherit blocked signals).
  absl::StatusOr<std::unique_ptr<berth::testing::PostgresCluster>> cluster =
      berth::testing::PostgresCluster::Start();
  if (!cluster.ok()) Die(absl::StrCat("PostgreSQL: ", cluster.status().ToString()));
  RegisterDir((*cluster)->dir());
  RegisterPostmaster(PostmasterPid((*cluster)->dir()));
  const bool pgss = EnableStatementStats(**cluster);
  const pid_t postmaster = PostmasterPid((*cluster)->dir());

  // Ctrl-C and SIGTERM clean up.
  berth::bench::DieOnStopSignals([](const std::string& message) { Die(message); });

  char pattern[] = "/dev/shm/berth-fleet-XXXXXX";
  if (mkdtemp(pattern) == nullptr) Die("cannot make a directory in /dev/shm");
  const std::string volumes_root = pattern;
  RegisterDir(volumes_root);

  Output out(absl::GetFlag(FLAGS_json_out));
  std::unique_ptr<berth::fleet::pg::Connection> admin = Connect((*cluster)->conninfo());
  std::printf("# fleet_load %s: %u cores, PostgreSQL statements from %s, app %s, warm pool %d "
              "per host, heartbeat %s\n",
              Today().c_str(), std::thread::hardware_concurrency(),
              pgss ? "pg_stat_statements" : "pg_stat_database.xact_commit", kApp, warm,
              absl::FormatDuration(absl::GetFlag(FLAGS_heartbeat_interval)).c_str());
  std::vector<Row> rows;
  for (int hosts : *sizes) {
    // A clean schema for each fleet: the agents migrate it again.
    MustExec(*admin, "DROP SCHEMA IF EXISTS berth CASCADE");
    if (pgss) MustExec(*admin, "SELECT pg_stat_statements_reset()");
    FleetOptions options;
    options.hosts = hosts;
    options.warm = warm;
    options.max_boxes = absl::GetFlag(FLAGS_max_boxes);
    options.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
    options.fake_dockerd_binary = fake_binary;
    options.conninfo = (*cluster)->conninfo();
    options.volumes_root = absl::StrCat(volumes_root, "/n", hosts);
    options.tag = absl::StrCat("n", hosts, "h");
    const absl::Time started = absl::Now();
    absl::StatusOr<std::unique_ptr<Fleet>> fleet = Fleet::Start(options);
    if (!fleet.ok()) Die(absl::StrCat("fleet of ", hosts, ": ", fleet.status().ToString()));
    std::printf("# N=%d: %d hosts serving in %.1f s\n", hosts, hosts,
                absl::ToDoubleSeconds(absl::Now() - started));
    WaitSettled(*admin, **fleet, warm, absl::StrCat("N=", hosts, " start"));

    Row row;
    row.hosts = hosts;
    std::vector<Assignment> all;
    if (modes.count("idle")) {
      row.idle = MeasureIdle(*admin, **fleet, postmaster, pgss);
      out.Json(IdleJson(hosts, *row.idle));
    }
    std::vector<std::unique_ptr<berth::fleet::pg::Connection>> open_pool;
    if (modes.count("open")) {
      open_pool = Connections(options.conninfo, absl::GetFlag(FLAGS_open_connections));
      if (absl::GetFlag(FLAGS_warmup) > absl::ZeroDuration()) {
        std::vector<Assignment> warmup;
        ModeResult discarded = RunOpen(open_pool, *admin, pgss, **fleet, postmaster,
                                       absl::GetFlag(FLAGS_warmup),
                                       absl::StrCat("n", hosts, "-warmup-"), &warmup);
        std::printf("# warm-up: %d assigns (%d warm, %d cold), %d errors\n", discarded.attempted,
                    discarded.warm, discarded.cold,
                    discarded.sql_errors + discarded.not_allocated);
        StopAssigned(*admin, **fleet, warmup, warm);
      }
      ModeResult open = RunOpen(open_pool, *admin, pgss, **fleet, postmaster,
                                absl::GetFlag(FLAGS_open_duration),
                                absl::StrCat("n", hosts, "-open-"), &all);
      out.Json(ModeJson(hosts, open));
      for (size_t i = 0; i < open.doubles.details.size() && i < 10; ++i) {
        std::printf("# DOUBLE: %s\n", open.doubles.details[i].c_str());
      }
      row.modes.push_back(std::move(open));
      if (modes.count("closed")) StopAssigned(*admin, **fleet, all, warm);
    }
    if (modes.count("closed")) {
      std::vector<std::unique_ptr<berth::fleet::pg::Connection>> closed_pool =
          Connections(options.conninfo, absl::GetFlag(FLAGS_connections));
      ModeResult closed = RunClosed(closed_pool, *admin, pgss, **fleet, postmaster,
                                    absl::StrCat("n", hosts, "-closed-"), &all);
      out.Json(ModeJson(hosts, closed));
      for (size_t i = 0; i < closed.doubles.details.size() && i < 10; ++i) {
        std::printf("# DOUBLE: %s\n", closed.doubles.details[i].c_str());
      }
      row.modes.push_back(std::move(closed));
    }
    rows.push_back(std::move(row));
    KeepLogs(**fleet, absl::GetFlag(FLAGS_keep_logs).empty()
                          ? ""
                          : absl::StrCat(absl::GetFlag(FLAGS_keep_logs), "/n", hosts));
    fleet->reset();
    std::error_code ignored;
    std::filesystem::remove_all(options.volumes_root, ignored);
  }
  PrintTables(rows);

  admin.reset();
  cluster->reset();
  UnregisterDir(volumes_root);
  std::error_code ignored;
  std::filesystem::remove_all(volumes_root, ignored);
  int failures = 0;
  for (const Row& row : rows) {
    for (const ModeResult& r : row.modes) {
      failures += r.sql_errors + r.not_allocated + r.doubles.total();
    }
  }
  return failures == 0 ? 0 : 1;
}
