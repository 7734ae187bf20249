// Issue 12: the berth schema's SQL (deploy/sql) against a real PostgreSQL 15, without daemons:
// migrations, placement by berth.assign (warm, cold, repeated, concurrent), its errors and bad
// input, stop/drain/undrain, heartbeats and berth.reap_lost_hosts.
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/read_file.h"
#include "fleet-agent/pg/pg_connection.h"
#include "fleet-agent/schema/schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/daemon_process.h"
#include "testing_support/postgres_cluster.h"

namespace berth::testing {
namespace {

using fleet::pg::Connection;
using fleet::pg::Result;
using ::testing::HasSubstr;

class FleetSqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::unique_ptr<Connection>> db = cluster_->Connect();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    absl::StatusOr<int> version = fleet::Migrate(*db_);
    ASSERT_TRUE(version.ok()) << version.status();
    ASSERT_EQ(*version, fleet::KnownMigrations().back().version);
  }

  // Runs `sql`, failing the test on an error.
  Result Must(const std::string& sql, const std::vector<fleet::pg::Param>& params = {}) {
    absl::StatusOr<Result> result = db_->Exec(sql, params);
    EXPECT_TRUE(result.ok()) << sql << ": " << result.status();
    return result.ok() ? *std::move(result) : Result(nullptr);
  }

  std::string One(const std::string& sql, const std::vector<fleet::pg::Param>& params = {}) {
    Result result = Must(sql, params);
    return result.rows() > 0 ? result.Get(0, 0) : "<no row>";
  }

  // A registered, ACTIVE host with a fresh heartbeat, room for `capacity` boxes, serving
  // test-box.
  void AddHost(const std::string& id, int capacity, const std::string& zone = "") {
    Must("SELECT berth.register_host($1, $2, $3, '1', '15 seconds')",
         {id, absl::StrCat("10.0.0.", hosts_++, ":4678"), zone});
    Beat(id, capacity);
  }
  void Beat(const std::string& id, int capacity, const std::string& drain_state = "SERVING") {
    Must("SELECT berth.heartbeat($1, $2, true, '{test-box}', $3, $3, 50, 50, 100, 100, 50, 50, "
         "0, 0)",
         {id, drain_state, absl::StrCat(capacity)});
  }
  void AddWaiting(const std::string& host, const std::string& box) {
    Must("SELECT berth.mirror_box($1, $2, 'test-box', '', '', 'WAITING', "
         "'[{\"protocol\":\"tcp\",\"container_port\":32262,\"host_port\":40001}]', 11, NULL, "
         "now(), now(), '')",
         {host, box});
  }
  // The whole state of the tables, for "nothing changed" checks.
  std::string Snapshot() {
    return One("SELECT coalesce(string_agg(t, '|' ORDER BY t), '') FROM ("
               "SELECT row(b.*)::text AS t FROM berth.boxes b UNION ALL "
               "SELECT row(h.id, h.status, h.drain_requested)::text FROM berth.hosts h) x");
  }

  std::unique_ptr<PostgresCluster> cluster_;
  std::unique_ptr<Connection> db_;
  int hosts_ = 1;
};

TEST_F(FleetSqlTest, MigrationsAreIdempotentAndANewerSchemaStopsTheStart) {
  absl::StatusOr<int> again = fleet::Migrate(*db_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(One("SELECT count(*) FROM berth.schema_version"),
            absl::StrCat(fleet::KnownMigrations().size()));
  Must("INSERT INTO berth.schema_version (version, name) VALUES (999, 'future')");
  absl::StatusOr<int> refused = fleet::Migrate(*db_);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("version 999"));
}

// The fleet-agent binary refuses to start on a schema newer than it knows, saying so; with
// --migrate it brings an empty database up to date and exits 0.
TEST_F(FleetSqlTest, TheAgentStopsItsStartOnANewerSchemaAndMigratesOnRequest) {
  TempDir dir;
  const std::string log = dir.File("agent.log");
  Must("INSERT INTO berth.schema_version (version, name) VALUES (999, 'future')");
  absl::StatusOr<std::unique_ptr<DaemonProcess>> agent = DaemonProcess::Start(
      {DaemonBinary("fleet-agent"),
       {"--listen=unix:" + dir.File("fleet.sock"), "--boxes=unix:" + dir.File("none.sock"),
        "--database=" + cluster_->conninfo(), "--host_id=h1", "--address=127.0.0.1:4678"},
       {},
       log});
  ASSERT_TRUE(agent.ok()) << agent.status();
  absl::StatusOr<int> exit_code = (*agent)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok()) << "the agent ran on a newer schema:\n" << ReadFileOrEmpty(log);
  EXPECT_NE(*exit_code, 0);
  EXPECT_THAT(ReadFileOrEmpty(log), HasSubstr("version 999, newer than the newest"));
  EXPECT_EQ(One("SELECT count(*) FROM berth.hosts"), "0");

  Must("DROP SCHEMA berth CASCADE");
  absl::StatusOr<std::unique_ptr<DaemonProcess>> migrate = DaemonProcess::Start(
      {DaemonBinary("fleet-agent"), {"--migrate", "--database=" + cluster_->conninfo()}, {}, log});
  ASSERT_TRUE(migrate.ok()) << migrate.status();
  absl::StatusOr<int> migrated = (*migrate)->Wait(absl::Seconds(30));
  ASSERT_TRUE(migrated.ok());
  EXPECT_EQ(*migrated, 0) << ReadFileOrEmpty(log);
  EXPECT_EQ(One("SELECT max(version) FROM berth.schema_version"),
            absl::StrCat(fleet::KnownMigrations().back().version));
}

TEST_F(FleetSqlTest, WarmThenColdThenTheSameBoxAgain) {
  AddHost("h1", 4);
  AddHost("h2", 4);
  AddWaiting("h2", "warm-1");
  Result warm = Must("SELECT * FROM berth.assign('test-box', 'u1', 's1')");
  ASSERT_EQ(warm.rows(), 1);
  EXPECT_EQ(warm.Get(0, 0), "warm-1");
  EXPECT_EQ(warm.Get(0, 1), "h2");
  EXPECT_EQ(warm.Get(0, 2), "10.0.0.2:4678");
  EXPECT_EQ(One("SELECT action || ' ' || user_id || ' ' || session_id FROM berth.boxes "
                "WHERE id = 'warm-1'"),
            "ASSIGN u1 s1");
  // The same user and session again: the same box, nothing new.
  EXPECT_EQ(One("SELECT box_id FROM berth.assign('test-box', 'u1', 's1')"), "warm-1");
  // No warm box left: a new one, on the least-loaded host (h1 holds none).
  Result cold = Must("SELECT * FROM berth.assign('test-box', 'u2', 's1')");
  ASSERT_EQ(cold.rows(), 1);
  EXPECT_EQ(cold.Get(0, 1), "h1");
  EXPECT_EQ(One("SELECT state || ' ' || action FROM berth.boxes WHERE id = $1", {cold.Get(0, 0)}),
            "PENDING CREATE");
  EXPECT_EQ(One("SELECT box_id FROM berth.assign('test-box', 'u2', 's1')"), cold.Get(0, 0));
  EXPECT_EQ(One("SELECT count(*) FROM berth.pending_actions('h1')"), "1");
  // The routes of the warm box.
  EXPECT_EQ(One("SELECT host_ip || ' ' || protocol || ' ' || host_port FROM berth.box_routes "
                "WHERE box_id = 'warm-1'"),
            "10.0.0.2 tcp 40001");
}

TEST_F(FleetSqlTest, NoCapacityAndUnknownAppsHaveTheirOwnSqlState) {
  AddHost("h1", 1, "eu");
  Must("SELECT * FROM berth.assign('test-box', 'u1', 's1')");
  const std::string before = Snapshot();
  absl::StatusOr<Result> full = db_->Exec("SELECT * FROM berth.assign('test-box', 'u2', 's1')");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(fleet::pg::SqlStateOf(full.status()), "BR001");
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.status().message()), HasSubstr("are full"));
  absl::StatusOr<Result> unknown = db_->Exec("SELECT * FROM berth.assign('no-such-app', 'u2', 's')");
  EXPECT_EQ(fleet::pg::SqlStateOf(unknown.status()), "BR001");
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("serves app \"no-such-app\""));
  absl::StatusOr<Result> zone = db_->Exec("SELECT * FROM berth.assign('test-box', 'u3', 's', 'us')");
  EXPECT_THAT(std::string(zone.status().message()), HasSubstr("in zone \"us\""));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(FleetSqlTest, BadInputIsAClearErrorAndChangesNothing) {
  AddHost("h1", 4);
  AddWaiting("h1", "warm-1");
  const std::string before = Snapshot();
  const std::string huge(10 << 10, 'x');
  const std::string sql = "x'); DELETE FROM berth.boxes; --";
  struct Case {
    std::vector<fleet::pg::Param> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"test-box", "", "s"}, "user_id must be"},
      {{"test-box", "u", ""}, "session_id must be"},
      {{"", "u", "s"}, "app must be"},
      {{std::nullopt, "u", "s"}, "app must be"},
      {{"test-box", std::nullopt, "s"}, "user_id must be"},
      {{huge, "u", "s"}, "app must be"},
      {{"test-box", huge, "s"}, "user_id must be"},
      {{"test-box", "u", huge}, "session_id must be"},
      {{sql, "u", "s"}, "app must be"},
      {{"test-box", sql, "s"}, "user_id must be"},
      {{"test-box", "u\"'", "s\nx"}, "session_id must be"},
      {{"Test-Box", "u", "s"}, "app must be"},
  };
  for (const Case& bad : cases) {
    absl::StatusOr<Result> result =
        db_->Exec("SELECT * FROM berth.assign($1, $2, $3)", bad.args);
    ASSERT_FALSE(result.ok()) << bad.message;
    EXPECT_EQ(fleet::pg::SqlStateOf(result.status()), "22023") << result.status();
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(bad.message));
  }
  absl::StatusOr<Result> zone =
      db_->Exec("SELECT * FROM berth.assign('test-box', 'u', 's', $1)", {sql});
  EXPECT_EQ(fleet::pg::SqlStateOf(zone.status()), "22023");
  for (const std::string& box : {std::string(""), huge, sql}) {
    absl::StatusOr<Result> stop = db_->Exec("SELECT berth.stop_box($1)", {box});
    EXPECT_EQ(fleet::pg::SqlStateOf(stop.status()), "22023") << stop.status();
  }
  absl::StatusOr<Result> missing = db_->Exec("SELECT berth.stop_box('no-such-box')");
  EXPECT_EQ(fleet::pg::SqlStateOf(missing.status()), "BR002");
  EXPECT_EQ(fleet::pg::SqlStateOf(db_->Exec("SELECT berth.drain_host('no-such-host')").status()),
            "BR003");
  EXPECT_EQ(
      fleet::pg::SqlStateOf(db_->Exec("SELECT berth.undrain_host('no-such-host')").status()),
      "BR003");
  for (const std::string& host : {huge, sql, std::string("")}) {
    EXPECT_EQ(fleet::pg::SqlStateOf(db_->Exec("SELECT berth.drain_host($1)", {host}).status()),
              "22023");
    EXPECT_EQ(fleet::pg::SqlStateOf(db_->Exec("SELECT berth.undrain_host($1)", {host}).status()),
              "22023");
  }
  // A user id with quotes and SQL in it, but within the rules, is just a user id.
  const std::string odd_user = "o'brien\";--DROP";
  EXPECT_EQ(One("SELECT box_id FROM berth.assign('test-box', $1, 's')", {odd_user}), "warm-1");
  EXPECT_EQ(One("SELECT user_id FROM berth.boxes WHERE id = 'warm-1'"), odd_user);
  EXPECT_NE(Snapshot(), before);  // that one did change something
}

// 64 callers at once for distinct users against two hosts with 20 warm boxes and room for 40
// boxes in all: every call gets a box or BR001, no box twice, no host past its capacity.
TEST_F(FleetSqlTest, ConcurrentCallersNeverShareABoxNorOverfillAHost) {
  AddHost("h1", 20);
  AddHost("h2", 20);
  for (int i = 0; i < 10; ++i) {
    AddWaiting("h1", absl::StrCat("warm-a", i));
    AddWaiting("h2", absl::StrCat("warm-b", i));
  }
  absl::Mutex mu;
  std::multiset<std::string> boxes;
  std::atomic<int> no_capacity{0};
  std::atomic<int> other_errors{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 64; ++i) {
    callers.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<Connection>> db = cluster_->Connect();
      if (!db.ok()) {
        ++other_errors;
        return;
      }
      absl::StatusOr<Result> result = (*db)->Exec(
          "SELECT box_id FROM berth.assign('test-box', $1, 's')", {absl::StrCat("user-", i)});
      if (result.ok() && result->rows() == 1) {
        absl::MutexLock lock(&mu);
        boxes.insert(result->Get(0, 0));
      } else if (fleet::pg::SqlStateOf(result.status()) == "BR001") {
        ++no_capacity;
      } else {
        ++other_errors;
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(boxes.size(), 40u);
  EXPECT_EQ(no_capacity.load(), 24);
  EXPECT_EQ(std::set<std::string>(boxes.begin(), boxes.end()).size(), boxes.size())
      << "a box was handed out twice";
  EXPECT_EQ(One("SELECT count(*) FROM berth.boxes WHERE user_id <> ''"), "40");
  EXPECT_EQ(One("SELECT max(n) FROM (SELECT count(*) AS n FROM berth.boxes GROUP BY host_id) c"),
            "20");
}

TEST_F(FleetSqlTest, DrainKeepsPlacementAwayUntilUndrained) {
  AddHost("h1", 4);
  AddWaiting("h1", "warm-1");
  Must("SELECT berth.drain_host('h1')");
  EXPECT_EQ(One("SELECT status FROM berth.hosts WHERE id = 'h1'"), "DRAINING");
  EXPECT_EQ(fleet::pg::SqlStateOf(
                db_->Exec("SELECT * FROM berth.assign('test-box', 'u1', 's1')").status()),
            "BR001");
  Beat("h1", 4, "DRAINED");
  EXPECT_EQ(One("SELECT status FROM berth.hosts WHERE id = 'h1'"), "DRAINED");
  Must("SELECT berth.undrain_host('h1')");
  Beat("h1", 4, "DRAINED");  // docker-svc not yet undrained: still not placeable
  EXPECT_EQ(One("SELECT status FROM berth.hosts WHERE id = 'h1'"), "DRAINING");
  Beat("h1", 4, "SERVING");
  EXPECT_EQ(One("SELECT status FROM berth.hosts WHERE id = 'h1'"), "ACTIVE");
  EXPECT_EQ(One("SELECT box_id FROM berth.assign('test-box', 'u1', 's1')"), "warm-1");
}

TEST_F(FleetSqlTest, AStaleHostIsNeverChosenAndIsReapedWithItsBoxes) {
  AddHost("h1", 4);
  AddHost("h2", 4);
  AddWaiting("h1", "warm-1");
  Must("UPDATE berth.hosts SET heartbeat_at = now() - interval '1 minute', "
       "started_at = now() - interval '2 minutes' WHERE id = 'h1'");
  // Its warm box is not taken; the new box goes to h2.
  Result placed = Must("SELECT * FROM berth.assign('test-box', 'u1', 's1')");
  ASSERT_EQ(placed.rows(), 1);
  EXPECT_NE(placed.Get(0, 0), "warm-1");
  EXPECT_EQ(placed.Get(0, 1), "h2");
  // Any live host's heartbeat reaps it (no cron job needed).
  Beat("h2", 4);
  EXPECT_EQ(One("SELECT status FROM berth.hosts WHERE id = 'h1'"), "LOST");
  EXPECT_EQ(One("SELECT state || ' ' || reason FROM berth.boxes WHERE id = 'warm-1'"),
            "GONE host lost");
  EXPECT_EQ(One("SELECT count(*) FROM berth.reap_lost_hosts()"), "0");
  Must("UPDATE berth.hosts SET heartbeat_at = now() - interval '1 minute', "
       "started_at = now() - interval '2 minutes' WHERE id = 'h2'");
  EXPECT_EQ(One("SELECT string_agg(h, ',') FROM berth.reap_lost_hosts() AS h"), "h2");
  // A LOST host that heartbeats again is told so (its agent mirrors its boxes again).
  EXPECT_EQ(One("SELECT was_lost FROM berth.heartbeat('h1', 'SERVING', true, '{test-box}', 4, 4, "
                "1, 1, 1, 1, 1, 1, 0, 0)"),
            "t");
  EXPECT_EQ(One("SELECT status FROM berth.hosts WHERE id = 'h1'"), "PRE_CONNECTION");
}

TEST_F(FleetSqlTest, ResyncEndsWhatTheHostLostButNotTheBoxesBeingMade) {
  AddHost("h1", 8);
  // Two cold creates: one not begun, one begun (docker-svc's snapshot leaves out boxes it is
  // still creating, so neither may be ended by a resync).
  const std::string not_begun = One("SELECT box_id FROM berth.assign('test-box', 'u2', 's1')");
  const std::string begun = One("SELECT box_id FROM berth.assign('test-box', 'u3', 's1')");
  EXPECT_EQ(One("SELECT berth.begin_create('h1', $1)", {begun}), "t");
  EXPECT_EQ(One("SELECT berth.begin_create('h1', $1)", {begun}), "f");
  AddWaiting("h1", "kept");
  AddWaiting("h1", "lost");
  AddWaiting("h1", "null");  // a box id that an unquoted array literal would make NULL
  // docker-svc has only `kept` and `null`.
  EXPECT_EQ(One("SELECT berth.resync_host('h1', $1::text[])", {"{\"kept\",\"null\"}"}), "1");
  EXPECT_EQ(One("SELECT state FROM berth.boxes WHERE id = 'kept'"), "WAITING");
  EXPECT_EQ(One("SELECT state FROM berth.boxes WHERE id = 'null'"), "WAITING");
  EXPECT_EQ(One("SELECT state FROM berth.boxes WHERE id = 'lost'"), "GONE");
  EXPECT_EQ(One("SELECT state || ' ' || action FROM berth.boxes WHERE id = $1", {not_begun}),
            "PENDING CREATE");
  EXPECT_EQ(One("SELECT state || ' ' || action FROM berth.boxes WHERE id = $1", {begun}),
            "PENDING CREATING");
  EXPECT_EQ(One("SELECT count(*) FROM berth.pending_actions('h1') WHERE action = 'CREATING' "
                "AND state = 'PENDING' AND idle_seconds >= 0"),
            "1");
}

// The watch and the agent's workers write on connections of their own: an event of the box from
// before its assignment may land after the assignment was done. It must not give the box back
// to the pool, nor lose its user.
TEST_F(FleetSqlTest, AStaleEventDoesNotUndoAnAssignment) {
  AddHost("h1", 4);
  AddWaiting("h1", "w1");
  EXPECT_EQ(One("SELECT box_id FROM berth.assign('test-box', 'u1', 's1')"), "w1");
  Must("SELECT berth.action_done('h1', 'w1', 'ASSIGN')");
  AddWaiting("h1", "w1");  // the stale WAITING event, without a user
  EXPECT_EQ(One("SELECT user_id || ' ' || session_id FROM berth.boxes WHERE id = 'w1'"), "u1 s1");
  // u2 gets a new box, not w1.
  EXPECT_NE(One("SELECT box_id FROM berth.assign('test-box', 'u2', 's2')"), "w1");
  EXPECT_EQ(One("SELECT box_id FROM berth.assign('test-box', 'u1', 's1')"), "w1");
  // Nor does another host's event about the same id move the row.
  AddHost("h2", 4);
  AddWaiting("h2", "w1");
  EXPECT_EQ(One("SELECT host_id FROM berth.boxes WHERE id = 'w1'"), "h1");
}

}  // namespace
}  // namespace berth::testing
