// BoxManager's session flow against an in-memory engine and allocator: assign from the warm
// pool or cold, the client config handshake, the sweeper, boxes asking to stop, drain, and the
// warm pool keeper. The same against the real engine and daemons: tests/box_sessions_test.cc.
#include <atomic>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/testing/box_manager_fixture.h"
#include "docker-svc/boxes/warm_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

class BoxSessionsTest : public testing::BoxManagerFixture {
 protected:
  void SetUp() override {
    BoxManagerFixture::SetUp();
    manager_->Start();
    events_ = manager_->Watch();
  }
  void TearDown() override {
    manager_->Unwatch(events_);
    manager_->Shutdown();
  }

  // A WAITING box (no user) of `app`.
  std::string Waiting(const std::string& box_id, const std::string& app = "test-box") {
    box::v1::CreateRequest request = Request(box_id, "");
    request.set_app(app);
    EXPECT_THAT(manager_->CreateBox(request), IsOk());
    return box_id;
  }

  box::v1::AssignRequest Assign(const std::string& app, const std::string& user,
                                const std::string& session, const std::string& box_id = "") {
    box::v1::AssignRequest request;
    request.set_app(app);
    request.set_user_id(user);
    request.set_session_id(session);
    request.set_box_id(box_id);
    return request;
  }

  box::v1::SetConfigRequest Config(const std::string& box_id, const std::string& json) {
    box::v1::SetConfigRequest request;
    request.set_mandelbox_id(box_id);
    request.set_json_data(json);
    return request;
  }

  // Plays the box's part: once config.json appears, writes the readiness marker.
  std::thread BoxAnswersConfig(const std::string& box_id) {
    return std::thread([this, box_id] {
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (!Exists(MappingFile(box_id, "config.json")) && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      std::ofstream(MappingFile(box_id, "ready")) << "";
    });
  }

  // Waits for the KIND_GONE event of `box_id`; its final reason.
  std::string WaitGone(const std::string& box_id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    box::v1::BoxEvent event;
    while (absl::Now() < deadline) {
      if (!events_->Next(&event, deadline - absl::Now())) break;
      if (event.kind() == box::v1::BoxEvent::KIND_GONE && event.box().box_id() == box_id) {
        return event.box().reason();
      }
    }
    ADD_FAILURE() << box_id << " still there after " << timeout;
    return "";
  }

  // Docker calls about containers so far; the manager's own background calls (its event
  // stream, opened by a thread of its own at any time, and the periodic listing) left out.
  size_t ContainerCalls() const {
    size_t count = 0;
    for (const std::string& call : docker_.calls()) {
      if (!absl::StartsWith(call, "events") && !absl::StartsWith(call, "list")) ++count;
    }
    return count;
  }

  // Every event since the test began.
  std::shared_ptr<WatchHub::Watcher> events_;
};

TEST_F(BoxSessionsTest, AssignTakesAWaitingBoxWithoutDockerThenCreatesWhenNoneWaits) {
  Waiting("w1");
  Waiting("w2");
  const size_t docker_calls = ContainerCalls();

  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse first,
                       manager_->AssignBox(Assign("test-box", "alice", "s-1")));
  EXPECT_TRUE(first.from_pool());
  EXPECT_THAT(first.box().box_id(), AnyOf("w1", "w2"));
  EXPECT_EQ(first.box().state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(first.box().user_id(), "alice");
  EXPECT_EQ(first.box().session_id(), "s-1");
  EXPECT_EQ(ContainerCalls(), docker_calls) << "no Docker call on the warm path";
  EXPECT_EQ(berth::testing::ReadFileOrEmpty(MappingFile(first.box().box_id(), "session_id")),
            "s-1");

  // The same request again: the same box.
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse again,
                       manager_->AssignBox(Assign("test-box", "alice", "s-1")));
  EXPECT_EQ(again.box().box_id(), first.box().box_id());
  EXPECT_TRUE(again.from_pool());

  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse second,
                       manager_->AssignBox(Assign("test-box", "bob", "s-2")));
  EXPECT_TRUE(second.from_pool());
  EXPECT_NE(second.box().box_id(), first.box().box_id());

  // None waits now: a box is made for carol.
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse cold,
                       manager_->AssignBox(Assign("test-box", "carol", "s-3")));
  EXPECT_FALSE(cold.from_pool());
  EXPECT_EQ(cold.box().user_id(), "carol");
  EXPECT_EQ(cold.box().state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_GT(ContainerCalls(), docker_calls);
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse cold_again,
                       manager_->AssignBox(Assign("test-box", "carol", "s-3")));
  EXPECT_EQ(cold_again.box().box_id(), cold.box().box_id());
  EXPECT_FALSE(cold_again.from_pool());

  // Two cold assigns of the same session at once (a retry racing the first): one box.
  absl::StatusOr<box::v1::AssignResponse> a, b;
  std::thread racer1([&] { a = manager_->AssignBox(Assign("test-box", "dave", "s-4")); });
  std::thread racer2([&] { b = manager_->AssignBox(Assign("test-box", "dave", "s-4")); });
  racer1.join();
  racer2.join();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->box().box_id(), b->box().box_id());
  box::v1::ListRequest daves;
  daves.set_user_id("dave");
  EXPECT_THAT(manager_->ListBoxes(daves), SizeIs(1));
}

TEST_F(BoxSessionsTest, ARetryDuringTheColdCreateGetsThatBoxNotANewWaitingOne) {
  // The cold create of erin's session is slow (its Bind waits)...
  leases_.Hold("reserve");
  auto first = std::async(std::launch::async,
                          [&] { return manager_->AssignBox(Assign("test-box", "erin", "s-5")); });
  ASSERT_TRUE(leases_.AwaitHeld("reserve", 1));
  const std::vector<std::string> calls = leases_.calls();
  const std::string cold_id = calls.back().substr(std::string("reserve ").size());
  leases_.Hold("bind", cold_id);
  leases_.Unhold("reserve");
  ASSERT_TRUE(leases_.AwaitHeld("bind", 1));
  // ...and meanwhile a WAITING box appears (the warm pool refilling).
  Waiting("w1");
  auto retry = std::async(std::launch::async,
                          [&] { return manager_->AssignBox(Assign("test-box", "erin", "s-5")); });
  EXPECT_EQ(retry.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "the retry did not wait for the session's box";
  leases_.Unhold("bind");
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse made, first.get());
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse retried, retry.get());
  EXPECT_EQ(made.box().box_id(), cold_id);
  EXPECT_EQ(retried.box().box_id(), cold_id);
  ASSERT_OK_AND_ASSIGN(box::v1::Box waiting, manager_->GetBox("w1"));
  EXPECT_EQ(waiting.state(), box::v1::BOX_STATE_WAITING);
  EXPECT_EQ(waiting.user_id(), "");
}

TEST_F(BoxSessionsTest, AssignRefusesBadRequestsAndBoxesThatDoNotWait) {
  Waiting("w1");
  ASSERT_THAT(manager_->CreateBox(Request("taken", "dave")), IsOk());
  EXPECT_THAT(manager_->AssignBox(Assign("test-box", "", "s")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_id")));
  EXPECT_THAT(manager_->AssignBox(Assign("test-box", "u", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("session_id")));
  EXPECT_THAT(manager_->AssignBox(Assign("test-box", "u", "line\nbreak")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("printable ASCII")));
  EXPECT_THAT(manager_->AssignBox(Assign("test-box", "a user", "s")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("printable ASCII")));
  EXPECT_THAT(manager_->AssignBox(Assign("", "u", "s")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("app")));
  EXPECT_THAT(manager_->AssignBox(Assign("", "u", "s", "nope")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(manager_->AssignBox(Assign("", "u", "s", "taken")),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("not WAITING")));
  EXPECT_THAT(manager_->AssignBox(Assign("quick-box", "u", "s", "w1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("of app test-box")));
  // None of that touched w1.
  ASSERT_OK_AND_ASSIGN(box::v1::Box w1, manager_->GetBox("w1"));
  EXPECT_EQ(w1.state(), box::v1::BOX_STATE_WAITING);
  EXPECT_TRUE(w1.user_id().empty());
}

TEST_F(BoxSessionsTest, ConfigWaitsForTheAssignmentThenAnswersOnceTheBoxIsReady) {
  Waiting("w1");
  const std::string config = R"({"user":"alice","dark_mode":true})";
  absl::StatusOr<box::v1::SetConfigResponse> answer;
  std::thread client([&] {
    answer = manager_->SetConfig(Config("w1", config), "alice", absl::Seconds(10));
  });
  ASSERT_TRUE(manager_->AwaitWaitingCalls(1, absl::Seconds(5)))
      << "the client waits for its assignment";
  std::thread box = BoxAnswersConfig("w1");
  ASSERT_THAT(manager_->AssignBox(Assign("test-box", "alice", "s-1", "w1")), IsOk());
  client.join();
  box.join();
  ASSERT_THAT(answer, IsOk());
  EXPECT_EQ(answer->box().state(), box::v1::BOX_STATE_RUNNING);
  EXPECT_EQ(answer->result().port_32261(), answer->box().ports(0).host_port());
  EXPECT_EQ(answer->result().port_32262(), 0u);  // the app has no such port
  EXPECT_EQ(answer->result().aes_key().size(), 32u);
  EXPECT_EQ(berth::testing::ReadFileOrEmpty(MappingFile("w1", "config.json")), config);

  // Two identical configs at once for a fresh box: both answered, the file written once.
  Waiting("w2");
  ASSERT_THAT(manager_->AssignBox(Assign("test-box", "bob", "s-2", "w2")), IsOk());
  std::thread box2 = BoxAnswersConfig("w2");
  absl::StatusOr<box::v1::SetConfigResponse> one, two;
  std::thread c1([&] { one = manager_->SetConfig(Config("w2", config), "bob", absl::Seconds(5)); });
  std::thread c2([&] { two = manager_->SetConfig(Config("w2", config), "bob", absl::Seconds(5)); });
  c1.join();
  c2.join();
  box2.join();
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(one->result().SerializeAsString(), two->result().SerializeAsString());

  // An identical retry: the identical answer. Another config: ALREADY_EXISTS. Another user:
  // as if there were no box.
  ASSERT_OK_AND_ASSIGN(box::v1::SetConfigResponse retry,
                       manager_->SetConfig(Config("w1", config), "alice", absl::Seconds(1)));
  EXPECT_EQ(retry.result().SerializeAsString(), answer->result().SerializeAsString());
  EXPECT_THAT(manager_->SetConfig(Config("w1", R"({"other":1})"), "alice", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("another client config")));
  EXPECT_THAT(manager_->SetConfig(Config("w1", config), "mallory", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("w1")));
  EXPECT_EQ(berth::testing::ReadFileOrEmpty(MappingFile("w1", "config.json")), config);
}

TEST_F(BoxSessionsTest, ConfigWithoutAnAssignmentTimesOutAndChangesNothing) {
  Waiting("w1");
  EXPECT_THAT(manager_->SetConfig(Config("w1", "{}"), "alice", absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("not assigned")));
  ASSERT_OK_AND_ASSIGN(box::v1::Box w1, manager_->GetBox("w1"));
  EXPECT_EQ(w1.state(), box::v1::BOX_STATE_WAITING);
  EXPECT_FALSE(Exists(MappingFile("w1", "config.json")));
  EXPECT_THAT(manager_->SetConfig(Config("nope", "{}"), "alice", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(manager_->SetConfig(Config("w1", "not json"), "alice", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("json_data")));
  box::v1::SetConfigRequest both = Config("w1", "{}");
  both.set_box_id("w2");
  EXPECT_THAT(manager_->SetConfig(both, "alice", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("different boxes")));
}

// A caller that hangs up ends both waits (for the assignment, for readiness) at once; the box
// is left as it was (WAITING), or goes on CONNECTING with its config for the sweeper to judge.
TEST_F(BoxSessionsTest, ACallerThatGoesAwayEndsTheWaits) {
  Waiting("w1");
  Waiting("w2");
  std::atomic<bool> hung_up{false};
  auto caller_gone = [&hung_up] { return hung_up.load(); };
  // SetConfig for `box_id` as `user`, whose caller hangs up while it waits: CANCELLED, early.
  auto expect_cancelled = [&](const std::string& box_id, const std::string& user) {
    hung_up = false;
    // Hangs up once the call waits (so the test fails if SetConfig does not wait at all).
    std::thread hang_up([&] {
      EXPECT_TRUE(manager_->AwaitWaitingCalls(1, absl::Seconds(10)));
      hung_up = true;
    });
    const absl::Time start = absl::Now();
    EXPECT_THAT(manager_->SetConfig(Config(box_id, "{}"), user, absl::Seconds(30), caller_gone),
                StatusIs(absl::StatusCode::kCancelled, HasSubstr("went away")));
    EXPECT_LT(absl::Now() - start, absl::Seconds(10));
    hang_up.join();
  };
  expect_cancelled("w1", "alice");
  ASSERT_OK_AND_ASSIGN(box::v1::Box w1, manager_->GetBox("w1"));
  EXPECT_EQ(w1.state(), box::v1::BOX_STATE_WAITING);
  EXPECT_FALSE(Exists(MappingFile("w1", "config.json")));

  // Assigned, configured, never ready (the box does not answer): the caller gives up first.
  ASSERT_THAT(manager_->AssignBox(Assign("test-box", "bob", "s-2", "w2")), IsOk());
  expect_cancelled("w2", "bob");
  ASSERT_OK_AND_ASSIGN(box::v1::Box w2, manager_->GetBox("w2"));
  EXPECT_EQ(w2.state(), box::v1::BOX_STATE_CONNECTING);
  EXPECT_EQ(berth::testing::ReadFileOrEmpty(MappingFile("w2", "config.json")), "{}");
}

TEST_F(BoxSessionsTest, ABoxNotReadyAfterItsConfigIsStopped) {
  Waiting("q1", "unready-box");
  ASSERT_THAT(manager_->AssignBox(Assign("unready-box", "alice", "s-1")), IsOk());
  EXPECT_THAT(manager_->SetConfig(Config("q1", "{}"), "alice", absl::Seconds(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("being stopped")));
  EXPECT_EQ(WaitGone("q1", absl::Seconds(5)), "not ready after its config");
  ExpectNothingLeft("q1");
}

TEST_F(BoxSessionsTest, SweeperStopsAnAssignedBoxThatNeverGetsItsConfig) {
  Waiting("q1", "quick-box");
  ASSERT_THAT(manager_->AssignBox(Assign("quick-box", "alice", "s-1")), IsOk());
  EXPECT_EQ(WaitGone("q1", absl::Seconds(5)), "no client config within 1s");
  ExpectNothingLeft("q1");
}

TEST_F(BoxSessionsTest, ABoxThatAsksToStopIsStopped) {
  Waiting("w1");
  std::ofstream(MappingFile("w1", "shutdown")) << "";
  // Within 2 s as a rule (tests/gateway_sessions_test.cc times it); here only the reason counts.
  EXPECT_EQ(WaitGone("w1", absl::Seconds(10)), "shutdown requested by the box");
  ExpectNothingLeft("w1");
}

TEST_F(BoxSessionsTest, DrainStopsWaitingBoxesRefusesNewOnesAndEndsDrained) {
  Waiting("w1");
  ASSERT_THAT(manager_->CreateBox(Request("busy", "alice")), IsOk());
  EXPECT_EQ(manager_->drain_state(), box::v1::DRAIN_STATE_SERVING);

  box::v1::DrainResponse drained = manager_->Drain();
  EXPECT_EQ(drained.stopped_waiting(), 1u);
  EXPECT_EQ(drained.drain_state(), box::v1::DRAIN_STATE_DRAINING);
  EXPECT_TRUE(Exists(boxes_.File(kDrainingMarkerFile)));
  EXPECT_THAT(manager_->CreateBox(Request("new", "bob")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("draining")));
  EXPECT_THAT(manager_->AssignBox(Assign("test-box", "bob", "s")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("draining")));
  EXPECT_EQ(WaitGone("w1", absl::Seconds(5)), "draining");
  ASSERT_OK_AND_ASSIGN(box::v1::Box busy, manager_->GetBox("busy"));  // untouched
  EXPECT_EQ(busy.state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(manager_->drain_state(), box::v1::DRAIN_STATE_DRAINING);

  ASSERT_THAT(manager_->StopBox("busy", ""), IsOk());
  EXPECT_EQ(manager_->drain_state(), box::v1::DRAIN_STATE_DRAINED);

  // Kept across a restart, until undrained.
  manager_->Shutdown();
  BoxManagerOptions options;
  options.boxes_dir = boxes_.path();
  ASSERT_OK_AND_ASSIGN(manager_,
                       BoxManager::Create(options, &catalog_, &docker_, &leases_, &clock_));
  EXPECT_EQ(manager_->drain_state(), box::v1::DRAIN_STATE_DRAINED);
  EXPECT_EQ(manager_->Undrain().drain_state(), box::v1::DRAIN_STATE_SERVING);
  EXPECT_FALSE(Exists(boxes_.File(kDrainingMarkerFile)));
  EXPECT_THAT(manager_->CreateBox(Request("new", "bob")), IsOk());

  // A WAITING box that a restart adopts while the host drains is stopped too.
  manager_->Start();
  manager_->Unwatch(events_);
  events_ = manager_->Watch();
  Waiting("w2");
  manager_->Drain();
  manager_->Shutdown();
  ASSERT_OK_AND_ASSIGN(manager_,
                       BoxManager::Create(options, &catalog_, &docker_, &leases_, &clock_));
  ASSERT_THAT(manager_->Recover(), IsOk());
  events_ = manager_->Watch();
  manager_->Start();
  box::v1::ListRequest waiting;
  waiting.set_state(box::v1::BOX_STATE_WAITING);
  EXPECT_TRUE([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline) {
      if (manager_->ListBoxes(waiting).empty()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }()) << "the adopted WAITING box was not stopped";
  ASSERT_OK_AND_ASSIGN(box::v1::Box still, manager_->GetBox("new"));  // has a user: runs on
  EXPECT_EQ(still.user_id(), "bob");
}

TEST_F(BoxSessionsTest, WarmPoolKeepsItsBoxesAndRefillsAfterAnAssign) {
  WarmPoolOptions options;
  options.first_backoff = absl::Milliseconds(50);
  options.recheck = absl::Milliseconds(50);
  docker_.FailNext("create", absl::UnavailableError("engine hiccup"));  // retried
  WarmPool pool(manager_.get(), {{"test-box", 3}}, options);
  pool.Start();
  auto waiting = [&] {
    box::v1::ListRequest filter;
    filter.set_state(box::v1::BOX_STATE_WAITING);
    return manager_->ListBoxes(filter).size();
  };
  auto eventually = [&](size_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (waiting() != count && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    return waiting();
  };
  EXPECT_EQ(eventually(3), 3u);
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse assigned,
                       manager_->AssignBox(Assign("test-box", "alice", "s-1")));
  EXPECT_TRUE(assigned.from_pool());
  EXPECT_EQ(eventually(3), 3u);
  EXPECT_THAT(manager_->ListBoxes({}), SizeIs(4));
  // Two whole passes over the pool with nothing to make.
  ASSERT_TRUE(pool.AwaitIdlePasses(pool.idle_passes() + 2, absl::Seconds(5)));
  EXPECT_THAT(manager_->ListBoxes({}), SizeIs(4)) << "never beyond its target";

  // Draining: the pool's boxes are stopped and not replaced.
  manager_->Drain();
  EXPECT_EQ(eventually(0), 0u);
  ASSERT_TRUE(pool.AwaitIdlePasses(pool.idle_passes() + 2, absl::Seconds(5)));
  EXPECT_EQ(waiting(), 0u);
  pool.Stop();
}

TEST_F(BoxSessionsTest, WarmPoolBacksOffWhenItsBoxesDieUnused) {
  WarmPoolOptions options;
  options.first_backoff = absl::Seconds(1);
  options.recheck = absl::Milliseconds(20);
  WarmPool pool(manager_.get(), {{"test-box", 1}}, options);
  pool.Start();
  box::v1::ListRequest filter;
  filter.set_state(box::v1::BOX_STATE_WAITING);
  auto one_waiting = [&](absl::Duration timeout) -> std::string {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      std::vector<box::v1::Box> boxes = manager_->ListBoxes(filter);
      if (boxes.size() == 1) return boxes[0].box_id();
      absl::SleepFor(absl::Milliseconds(5));
    }
    return "";
  };
  const std::string first = one_waiting(absl::Seconds(5));
  ASSERT_FALSE(first.empty());
  // The box's process exits at once, as a broken image's would.
  ASSERT_THAT(docker_.Exit("berth-" + first, 1), IsOk());
  // When it began to die: the pool backs off from the moment it sees that, or later.
  absl::Time dying_at = absl::InfinitePast();
  box::v1::BoxEvent event;
  while (dying_at == absl::InfinitePast() && events_->Next(&event, absl::Seconds(5))) {
    if (event.box().box_id() == first && event.box().state() == box::v1::BOX_STATE_DYING) {
      dying_at = common::FromTimestamp(event.time());
    }
  }
  ASSERT_NE(dying_at, absl::InfinitePast()) << "no DYING event";
  std::string second;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && (second.empty() || second == first)) {
    second = one_waiting(absl::Seconds(1));
  }
  ASSERT_FALSE(second.empty()) << "never replaced after the backoff";
  ASSERT_NE(second, first);
  ASSERT_OK_AND_ASSIGN(box::v1::Box replacement, manager_->GetBox(second));
  // Timestamps, not the test's own timing: load can only widen the gap.
  EXPECT_GE(common::FromTimestamp(replacement.created_at()) - dying_at, absl::Seconds(1))
      << "replaced without backing off";
  pool.Stop();
}

}  // namespace
}  // namespace berth::docker
