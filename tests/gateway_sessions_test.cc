// Issue 5: the session flow end to end, through curl, the real gateway, docker-svc,
// allocator-svc and dockerd, with the test box image playing Whist's container side (it waits
// for .paramsReady, then for config.json, then writes its readiness marker):
//   - a warm pool of 3 WAITING boxes; an assign takes one of them and the pool refills;
//   - PUT /json_transport (before the assignment, waiting for it) answers the box's ports and
//     AES key once it is RUNNING; config.json is the decoded json_data; a retry answers the same,
//     another body is 409, another user's token 404;
//   - without an assignment, json_transport ends in 504 and changes nothing;
//   - docker-svc SIGKILLed mid-handshake: the client is told (503), the box keeps its state and
//     user across the restart, and nothing leaks;
//   - the sweeper stops an assigned box that gets no config, and a box that writes `shutdown`
//     is stopped;
//   - a drain stops the WAITING boxes, refuses new ones (503), leaves the running ones, and the
//     host reports drained once they are gone.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "berth/box/v1/box.pb.h"
#include "common/proto_time.h"
#include "common/testing/gzip.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
using ::testing::HasSubstr;

constexpr char kApp[] = "whist-box";
constexpr int kNotFound = 5;
constexpr int kAlreadyExists = 6;
constexpr int kDeadlineExceeded = 4;
constexpr int kUnavailable = 14;

// The test box as a Whist-like app: it writes its readiness marker only after config.json.
std::string WhistBoxProfile() {
  return absl::StrCat(TestBoxProfileAs(kApp),
                      "\nenv { key: \"BERTH_WAIT_FOR_CONFIG\" value: \"1\" }\n");
}

class GatewaySessionsTest : public GatewayTest {
 protected:
  void StartWithPool(int pool, std::vector<std::string> docker_svc_flags = {},
                     const std::vector<std::string>& gateway_flags = {}) {
    BoxHostOptions options;
    options.profiles[kApp] = WhistBoxProfile();
    docker_svc_flags.push_back(absl::StrCat("--warm_pool=", kApp, "=", pool));
    options.docker_svc_flags = docker_svc_flags;
    ASSERT_NO_FATAL_FAILURE(StartAll(options, gateway_flags));
  }

  // The WAITING boxes of the app, by id (tracked as this test's).
  std::set<std::string> Waiting() {
    HttpResult listed =
        Call(Get(absl::StrCat("/v1/boxes?state=BOX_STATE_WAITING&app=", kApp), BackendToken()));
    EXPECT_EQ(listed.status, 200) << listed.Describe();
    std::set<std::string> ids;
    absl::StatusOr<v1::ListResponse> list = ParseJson<v1::ListResponse>(listed.body);
    if (!list.ok()) return ids;
    for (const v1::Box& box : list->boxes()) {
      ids.insert(box.box_id());
      Track(box.box_id());  // the pool's boxes are this test's too
    }
    return ids;
  }

  bool PoolReaches(size_t count, absl::Duration timeout = absl::Seconds(60)) {
    return WaitUntil([&] { return Waiting().size() == count; }, timeout);
  }

  absl::StatusOr<v1::AssignResponse> Assign(const std::string& user, const std::string& session,
                                            const std::string& box_id = "") {
    HttpResult result = Call(Post("/v1/boxes:assign",
                                  absl::StrCat(R"({"app":")", kApp, R"(","userId":")", user,
                                               R"(","sessionId":")", session, R"(","boxId":")",
                                               box_id, R"("})"),
                                  BackendToken()));
    if (result.status != 200) return absl::InternalError(result.Describe());
    absl::StatusOr<v1::AssignResponse> assigned = ParseJson<v1::AssignResponse>(result.body);
    if (assigned.ok()) Track(assigned->box().box_id());
    return assigned;
  }

  // Whist's request; `extra` (",\"k\":v...") adds fields.
  static HttpCall JsonTransport(const std::string& box_id, const std::string& json_data,
                                const std::string& token, const std::string& extra = "") {
    HttpCall call = Post("/json_transport",
                         absl::StrCat(R"({"mandelbox_id":")", box_id, R"(","json_data":")",
                                      json_data, R"(","app_name":")", kApp, R"(")", extra, "}"),
                         token);
    call.method = "PUT";
    return call;
  }

  // A box through the whole handshake (assigned, configured): its json_transport answer.
  v1::SetConfigResponse Handshake(const std::string& user, const std::string& config) {
    absl::StatusOr<v1::AssignResponse> assigned = Assign(user, absl::StrCat("s-", user));
    EXPECT_TRUE(assigned.ok()) << assigned.status();
    if (!assigned.ok()) return {};
    HttpResult answer = Call(JsonTransport(assigned->box().box_id(),
                                           absl::Base64Escape(Gzip(config)), UserToken(user)));
    EXPECT_EQ(answer.status, 200) << answer.Describe();
    absl::StatusOr<v1::SetConfigResponse> parsed = ParseJson<v1::SetConfigResponse>(answer.body);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? *parsed : v1::SetConfigResponse();
  }

  absl::StatusOr<v1::HostResponse> HostView() {
    HttpResult result = Call(Get("/v1/host", BackendToken()));
    if (result.status != 200) return absl::InternalError(result.Describe());
    return ParseJson<v1::HostResponse>(result.body);
  }
};

TEST_F(GatewaySessionsTest, WarmPoolAssignAndTheJsonTransportHandshake) {
  ASSERT_NO_FATAL_FAILURE(StartWithPool(3));
  ASSERT_TRUE(PoolReaches(3)) << "the warm pool never held 3 WAITING boxes";
  const std::set<std::string> pool = Waiting();

  // The client sends its config before the webserver assigned the box: it waits.
  const std::string box_id = *pool.begin();
  const std::string config = R"({"dark_mode":true,"desired_timezone":"Europe/Paris"})";
  const std::string json_data = absl::Base64Escape(Gzip(config));
  HttpResult early;
  std::thread client([&] { early = Call(JsonTransport(box_id, json_data, UserToken("alice"))); });
  absl::SleepFor(absl::Seconds(1));
  absl::StatusOr<v1::AssignResponse> assigned = Assign("alice", "s-1", box_id);
  client.join();
  ASSERT_TRUE(assigned.ok()) << assigned.status();
  EXPECT_TRUE(assigned->from_pool()) << "an assign with a WAITING box must not create one";
  EXPECT_EQ(assigned->box().state(), v1::BOX_STATE_ALLOCATED);
  ASSERT_EQ(early.status, 200) << early.Describe();
  EXPECT_THAT(early.body, HasSubstr(R"("result":{"port_32261":)"));
  ASSERT_OK_AND_ASSIGN(v1::SetConfigResponse answer, ParseJson<v1::SetConfigResponse>(early.body));

  // The four Whist ports are the box's host ports; the AES key is the box's.
  ASSERT_OK_AND_ASSIGN(v1::Box box, host().boxes().Get(box_id));
  EXPECT_EQ(box.state(), v1::BOX_STATE_RUNNING);
  std::map<uint32_t, uint32_t> host_port;
  for (const auto& port : box.ports()) host_port[port.container_port()] = port.host_port();
  EXPECT_EQ(answer.result().port_32261(), host_port[32261]);
  EXPECT_EQ(answer.result().port_32262(), host_port[32262]);
  EXPECT_EQ(answer.result().port_32263(), host_port[32263]);
  EXPECT_EQ(answer.result().port_32273(), host_port[32273]);
  EXPECT_EQ(answer.result().aes_key().size(), 32u);
  EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(host().BoxDir(box_id), "/config.json")), config);
  EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(host().BoxDir(box_id), "/session_id")), "s-1");
  EXPECT_EQ(ReadGreeting(static_cast<uint16_t>(answer.result().port_32262())), box_id + "\n");

  // Safe retries: the same body answers the same; another body is 409; another user sees no
  // such box; plain JSON (Whist's fallback) is the same config.
  std::vector<HttpResult> again = Calls(
      {JsonTransport(box_id, json_data, UserToken("alice")),
       JsonTransport(box_id, absl::Base64Escape(Gzip(R"({"dark_mode":false})")),
                     UserToken("alice")),
       JsonTransport(box_id, json_data, UserToken("mallory")),
       // A stock Whist client also sends its tokens; they are accepted and ignored.
       JsonTransport(box_id, json_data, UserToken("alice"),
                     R"(,"ip":"203.0.113.7","jwt_access_token":"t","config_encryption_token":)"
                     R"("k","is_new_config_encryption_token":true)")});
  ASSERT_EQ(again.size(), 4u);
  EXPECT_EQ(again[3].status, 200) << again[3].Describe();
  EXPECT_EQ(again[0].status, 200) << again[0].Describe();
  ASSERT_OK_AND_ASSIGN(v1::SetConfigResponse retry, ParseJson<v1::SetConfigResponse>(again[0].body));
  EXPECT_EQ(retry.result().SerializeAsString(), answer.result().SerializeAsString());
  ExpectError(again[1], 409, kAlreadyExists, "another client configuration");
  ExpectError(again[2], 404, kNotFound, box_id);

  // The pool is back to 3 WAITING boxes, none of them the assigned one.
  ASSERT_TRUE(PoolReaches(3)) << "the warm pool was not refilled";
  EXPECT_EQ(Waiting().count(box_id), 0u);
}

TEST_F(GatewaySessionsTest, JsonTransportWithoutAnAssignmentTimesOutAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartWithPool(1, {"--assignment_wait=2s"}));
  ASSERT_TRUE(PoolReaches(1));
  const std::string box_id = *Waiting().begin();
  const absl::Time start = absl::Now();
  HttpResult result = Call(JsonTransport(box_id, R"({\"a\":1})", UserToken("alice")));
  ExpectError(result, 504, kDeadlineExceeded, "not assigned");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(v1::Box box, host().boxes().Get(box_id));
  EXPECT_EQ(box.state(), v1::BOX_STATE_WAITING);
  EXPECT_TRUE(box.user_id().empty());
  EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(host().BoxDir(box_id), "/config.json")), "");
  // Not even an end user's token may assign.
  HttpResult assign = Call(Post("/v1/boxes:assign",
                                absl::StrCat(R"({"app":")", kApp,
                                             R"(","userId":"alice","sessionId":"s"})"),
                                UserToken("alice")));
  EXPECT_EQ(assign.status, 403) << assign.Describe();
}

TEST_F(GatewaySessionsTest, DrainStopsWaitingBoxesRefusesNewOnesAndReportsDrained) {
  ASSERT_NO_FATAL_FAILURE(StartWithPool(2));
  ASSERT_TRUE(PoolReaches(2));
  const std::string first = Handshake("alice", R"({"n":1})").box().box_id();
  const std::string second = Handshake("bob", R"({"n":2})").box().box_id();
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  ASSERT_TRUE(PoolReaches(2));  // 2 running, 2 waiting

  HttpResult drain = Call(Post("/v1/host:drain", "{}", BackendToken()));
  ASSERT_EQ(drain.status, 200) << drain.Describe();
  ASSERT_OK_AND_ASSIGN(v1::DrainResponse drained, ParseJson<v1::DrainResponse>(drain.body));
  EXPECT_EQ(drained.stopped_waiting(), 2u);
  EXPECT_EQ(drained.drain_state(), v1::DRAIN_STATE_DRAINING);
  EXPECT_TRUE(PoolReaches(0, absl::Seconds(30))) << "the WAITING boxes were not stopped";

  HttpResult refused = Call(Post("/v1/boxes", absl::StrCat(R"({"app":")", kApp, R"("})"),
                                 BackendToken()));
  ExpectError(refused, 503, kUnavailable, "draining");
  for (const std::string& id : {first, second}) {
    ASSERT_OK_AND_ASSIGN(v1::Box box, host().boxes().Get(id));
    EXPECT_EQ(box.state(), v1::BOX_STATE_RUNNING) << id;
  }
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(Waiting().size(), 0u) << "the pool refilled while draining";
  ASSERT_OK_AND_ASSIGN(v1::HostResponse draining, HostView());
  EXPECT_EQ(draining.drain_state(), v1::DRAIN_STATE_DRAINING);
  EXPECT_EQ(draining.boxes(), 2u);

  // The sessions end; the host is drained.
  EXPECT_EQ(Call(Delete("/v1/boxes/" + first, BackendToken())).status, 200);
  EXPECT_EQ(Call(Delete("/v1/boxes/" + second, BackendToken())).status, 200);
  ASSERT_OK_AND_ASSIGN(v1::HostResponse done, HostView());
  EXPECT_EQ(done.drain_state(), v1::DRAIN_STATE_DRAINED);
  EXPECT_EQ(done.leases_size(), 0);

  // Undrain: the pool fills again.
  EXPECT_EQ(Call(Post("/v1/host:undrain", "{}", BackendToken())).status, 200);
  EXPECT_TRUE(PoolReaches(2));
}

// SIGTERM while a json_transport waits for its assignment (up to a minute): after the gateway's
// grace the call is cancelled, its client is answered 503 (retry), the gateway exits 0 at once
// rather than after the minute, and docker-svc is left as it was.
TEST_F(GatewaySessionsTest, GatewaySigtermCutsOffAWaitingHandshakeAfterTheGrace) {
  ASSERT_NO_FATAL_FAILURE(StartWithPool(1, {}, {"--shutdown_grace=1s"}));
  ASSERT_TRUE(PoolReaches(1));
  const std::string box_id = *Waiting().begin();
  HttpResult waiting;
  std::thread client(
      [&] { waiting = Call(JsonTransport(box_id, R"({\"a\":1})", UserToken("alice"))); });
  ASSERT_TRUE(RequestsInFlightReach(2));
  const absl::Time start = absl::Now();
  absl::StatusOr<int> exit_code = gateway().Terminate();
  const absl::Duration took = absl::Now() - start;
  client.join();
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(took, absl::Seconds(6)) << "the gateway waited for the call instead of its grace";
  ExpectError(waiting, 503, kUnavailable, "shutting down");
  ASSERT_OK_AND_ASSIGN(v1::Box box, host().boxes().Get(box_id));
  EXPECT_EQ(box.state(), v1::BOX_STATE_WAITING);
  EXPECT_TRUE(box.user_id().empty());
}

TEST_F(GatewaySessionsTest, DockerSvcKilledMidHandshakeKeepsTheBoxAndItsUser) {
  ASSERT_NO_FATAL_FAILURE(StartWithPool(1));
  ASSERT_TRUE(PoolReaches(1));
  const std::string box_id = *Waiting().begin();
  // The client is waiting for its assignment when docker-svc dies; it is told so at once.
  HttpResult cut;
  std::thread client([&] {
    cut = Call(JsonTransport(box_id, R"({\"a\":1})", UserToken("alice")));
  });
  absl::SleepFor(absl::Milliseconds(500));
  host().KillDockerSvc();
  client.join();
  ExpectError(cut, 503, kUnavailable);

  ASSERT_TRUE(host().StartDockerSvc().ok());
  ASSERT_OK_AND_ASSIGN(v1::Box waiting, host().boxes().Get(box_id));
  EXPECT_EQ(waiting.state(), v1::BOX_STATE_WAITING);  // as it was

  // Assigned, then killed again before the config: the restart keeps user and session.
  ASSERT_TRUE(Assign("alice", "s-1", box_id).ok());
  host().KillDockerSvc();
  ASSERT_TRUE(host().StartDockerSvc().ok());
  ASSERT_OK_AND_ASSIGN(v1::Box assigned, host().boxes().Get(box_id));
  EXPECT_EQ(assigned.state(), v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(assigned.user_id(), "alice");
  EXPECT_EQ(assigned.session_id(), "s-1");
  // The handshake finishes on the restarted daemon, and the same assign is still the same.
  HttpResult answer = Call(JsonTransport(box_id, R"({\"a\":1})", UserToken("alice")));
  EXPECT_EQ(answer.status, 200) << answer.Describe();
  ASSERT_OK_AND_ASSIGN(v1::AssignResponse again, Assign("alice", "s-1", box_id));
  EXPECT_EQ(again.box().state(), v1::BOX_STATE_RUNNING);
  // Nothing leaked: every container, lease, record and directory belongs to a box.
  ASSERT_TRUE(PoolReaches(1));
  EXPECT_EQ(HostDisagreement(host(), [this](const std::string& id) { return Mine(id); }), "");
}

TEST_F(GatewaySessionsTest, SweeperAndSelfShutdownOnTheRealEngine) {
  // An app whose assigned boxes may wait 2 s for their client's config.
  BoxHostOptions options;
  options.profiles[kApp] = absl::StrCat(WhistBoxProfile(), "config_timeout_seconds: 2\n");
  options.docker_svc_flags = {absl::StrCat("--warm_pool=", kApp, "=2")};
  ASSERT_NO_FATAL_FAILURE(StartAll(options));
  ASSERT_TRUE(PoolReaches(2));
  absl::StatusOr<std::unique_ptr<BoxWatcher>> watcher = BoxWatcher::Start(host().boxes_address());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  auto gone_reason = [&](const std::string& box_id) -> std::string {
    absl::StatusOr<ReceivedEvent> gone = (*watcher)->WaitFor(
        [&](const v1::BoxEvent& event) {
          return event.kind() == v1::BoxEvent::KIND_GONE && event.box().box_id() == box_id;
        },
        absl::Seconds(15));
    return gone.ok() ? gone->event.box().reason() : gone.status().ToString();
  };

  // Assigned, no config: swept after its 2 s.
  absl::StatusOr<v1::AssignResponse> assigned = Assign("alice", "s-1");
  ASSERT_TRUE(assigned.ok()) << assigned.status();
  const absl::Time assigned_at = absl::Now();
  EXPECT_EQ(gone_reason(assigned->box().box_id()), "no client config within 2s");
  EXPECT_LT(absl::Now() - assigned_at, absl::Seconds(10));

  // A box that writes `shutdown` into its mapping directory (from inside, with docker exec) is
  // stopped within 2 s.
  const std::string box_id = *Waiting().begin();
  ASSERT_TRUE(RunCommand(absl::StrCat("/usr/bin/docker exec berth-", box_id,
                                      " touch /whist/resourceMappings/shutdown"))
                  .ok());
  const absl::Time asked_at = absl::Now();  // the marker exists from here on
  absl::StatusOr<ReceivedEvent> dying = (*watcher)->WaitFor(
      [&](const v1::BoxEvent& event) {
        return event.box().box_id() == box_id && event.box().state() == v1::BOX_STATE_DYING;
      },
      absl::Seconds(5));
  ASSERT_TRUE(dying.ok()) << dying.status();
  EXPECT_LT(common::FromTimestamp(dying->event.time()) - asked_at, absl::Seconds(2))
      << "the stop did not begin in 2 s";
  EXPECT_EQ(gone_reason(box_id), "shutdown requested by the box");
  EXPECT_EQ(HostDisagreement(host(), [this](const std::string& id) { return Mine(id); }), "");
}

}  // namespace
}  // namespace berth::testing
