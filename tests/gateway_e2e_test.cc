// Issue 4, acceptance 1: a box's whole life through the gateway with curl — create (201 with its
// ports), get, list, watch (NDJSON), delete (then 404) — against the real daemons and dockerd,
// and the box answers on its host port in between.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/testing/read_file.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
namespace alloc = ::berth::allocator::v1;
using ::testing::HasSubstr;
using ::testing::Not;

class GatewayE2eTest : public GatewayTest {};

std::vector<std::string> Ids(const v1::ListResponse& list) {
  std::vector<std::string> ids;
  for (const v1::Box& box : list.boxes()) ids.push_back(box.box_id());
  return ids;
}

TEST_F(GatewayE2eTest, CreateGetListWatchDeleteWithCurl) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string alice = UserToken("alice");
  const std::string backend = BackendToken();

  // Health needs no token.
  HttpResult health = Call(Get("/healthz"));
  EXPECT_EQ(health.status, 200) << health.Describe();
  HttpResult ready = Call(Get("/readyz"));
  EXPECT_EQ(ready.status, 200) << ready.Describe();

  // Create, as end user alice (docker-svc makes the id: end users choose none); requests take
  // proto names (wait_for_ready) as well as JSON names (waitForReady, below).
  const absl::Time create_start = absl::Now();
  HttpResult created =
      Call(Post("/v1/boxes", R"({"app":"test-box","wait_for_ready":true})", alice));
  ASSERT_EQ(created.status, 201) << created.Describe();
  std::cerr << "create took " << absl::FormatDuration(absl::Now() - create_start) << "\n";
  EXPECT_TRUE(absl::StartsWith(created.Header("content-type"), "application/json"))
      << created.Describe();
  // Responses use the lowerCamelCase JSON names.
  EXPECT_THAT(created.body, HasSubstr("\"boxId\""));
  EXPECT_THAT(created.body, HasSubstr("\"hostPort\""));
  EXPECT_THAT(created.body, Not(HasSubstr("\"box_id\"")));
  absl::StatusOr<v1::CreateResponse> response = ParseJson<v1::CreateResponse>(created.body);
  ASSERT_TRUE(response.ok()) << response.status();
  const v1::Box& box = response->box();
  const std::string id = box.box_id();
  Track(id);
  EXPECT_TRUE(response->created());
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(box.app(), "test-box");
  EXPECT_EQ(box.user_id(), "alice");  // the token's sub
  EXPECT_EQ(box.state(), v1::BOX_STATE_RUNNING);
  EXPECT_FALSE(box.container_id().empty());
  ASSERT_EQ(box.ports_size(), 4) << box.ShortDebugString();
  std::vector<uint16_t> tcp_ports;
  for (const alloc::PortBinding& port : box.ports()) {
    EXPECT_GE(port.host_port(), host().port_begin()) << port.ShortDebugString();
    EXPECT_LT(port.host_port(), host().port_end()) << port.ShortDebugString();
    if (port.protocol() == alloc::PROTOCOL_TCP) {
      tcp_ports.push_back(static_cast<uint16_t>(port.host_port()));
    }
  }
  ASSERT_EQ(tcp_ports.size(), 3u);
  // The box answers its id on its host ports.
  for (uint16_t port : tcp_ports) {
    EXPECT_TRUE(WaitForGreeting(port, id + "\n", absl::Seconds(10)))
        << "host port " << port << " says \"" << ReadGreeting(port) << "\"";
  }

  // Get, as the owner and as the backend.
  for (const std::string& token : {alice, backend}) {
    HttpResult got = Call(Get("/v1/boxes/" + id, token));
    ASSERT_EQ(got.status, 200) << got.Describe();
    absl::StatusOr<v1::GetResponse> get = ParseJson<v1::GetResponse>(got.body);
    ASSERT_TRUE(get.ok()) << get.status();
    EXPECT_EQ(get->box().box_id(), id);
    EXPECT_EQ(get->box().container_id(), box.container_id());
    EXPECT_EQ(get->box().ports_size(), 4);
  }

  // List, plain and with filters in both spellings; all on one connection.
  std::vector<HttpResult> lists =
      Calls({Get("/v1/boxes", alice), Get("/v1/boxes?app=test-box&userId=alice", backend),
             Get("/v1/boxes?user_id=alice&state=BOX_STATE_RUNNING", backend),
             Get("/v1/boxes?state=4", backend), Get("/v1/boxes?app=other-app", backend)});
  ASSERT_EQ(lists.size(), 5u);
  for (size_t i = 0; i < lists.size(); ++i) {
    ASSERT_EQ(lists[i].status, 200) << i << ": " << lists[i].Describe();
    absl::StatusOr<v1::ListResponse> list = ParseJson<v1::ListResponse>(lists[i].body);
    ASSERT_TRUE(list.ok()) << list.status();
    if (i < 4) {
      EXPECT_THAT(Ids(*list), ::testing::ElementsAre(id)) << i << ": " << lists[i].Describe();
    } else {
      EXPECT_THAT(Ids(*list), ::testing::IsEmpty()) << lists[i].Describe();
    }
    if (i > 0) {
      EXPECT_EQ(lists[i].num_connects, 0) << "connection not reused: " << i;
    }
  }

  // Watch: the box as a SNAPSHOT, then SNAPSHOT_DONE.
  absl::StatusOr<std::unique_ptr<CurlStream>> stream = CurlStream::Start(
      gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(backend)}, absl::Seconds(90));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_SNAPSHOT_DONE"}, absl::Seconds(15)).has_value())
      << "headers:\n" << (*stream)->Headers() << "body:\n" << (*stream)->Output();
  const std::string stream_headers = (*stream)->Headers();
  EXPECT_THAT(stream_headers, HasSubstr(" 200"));
  EXPECT_THAT(absl::AsciiStrToLower(stream_headers),
              HasSubstr("content-type: application/x-ndjson"));

  // Delete, as the owner.
  HttpResult deleted = Call(Delete("/v1/boxes/" + id, alice));
  ASSERT_EQ(deleted.status, 200) << deleted.Describe();
  absl::StatusOr<v1::StopResponse> stop = ParseJson<v1::StopResponse>(deleted.body);
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_EQ(stop->box().box_id(), id);

  // The stream shows its end: CHANGED (DYING), then GONE.
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_GONE", id}, absl::Seconds(30)).has_value())
      << (*stream)->Output();
  EventLines events = ParseEventLines((*stream)->Lines());
  EXPECT_THAT(events.malformed, ::testing::IsEmpty());
  EXPECT_THAT(events.errors, ::testing::IsEmpty());
  std::vector<std::string> kinds;
  for (const v1::BoxEvent& event : events.events) {
    if (event.kind() != v1::BoxEvent::KIND_SNAPSHOT_DONE && event.box().box_id() != id) continue;
    kinds.push_back(DescribeEvent(event));
  }
  ASSERT_GE(kinds.size(), 4u) << (*stream)->Output();
  EXPECT_TRUE(absl::StartsWith(kinds[0], "SNAPSHOT " + id + " state=RUNNING")) << kinds[0];
  EXPECT_EQ(kinds[1], "SNAPSHOT_DONE");
  bool dying = false;
  for (size_t i = 2; i + 1 < kinds.size(); ++i) {
    EXPECT_TRUE(absl::StartsWith(kinds[i], "CHANGED " + id)) << kinds[i];
    dying = dying || absl::StrContains(kinds[i], "state=DYING");
  }
  EXPECT_TRUE(dying) << (*stream)->Output();
  EXPECT_TRUE(absl::StartsWith(kinds.back(), "GONE " + id)) << kinds.back();
  // Still open: a hung-up client was not the end of it.
  EXPECT_TRUE((*stream)->running());

  // Gone: 404 for the owner and the backend; the port no longer answers; nothing left over.
  std::vector<HttpResult> after =
      Calls({Get("/v1/boxes/" + id, alice), Get("/v1/boxes/" + id, backend)});
  for (const HttpResult& result : after) ExpectError(result, 404, 5, id);
  for (uint16_t port : tcp_ports) EXPECT_EQ(ReadGreeting(port), "") << port;
  EXPECT_EQ(Leftovers(host(), id), "");

  // A client hanging up ends the Watch call: the gateway finishes the request (the only one in
  // flight then is the /metrics request itself).
  (*stream)->HangUp();
  std::string metrics;
  EXPECT_TRUE(WaitUntil(
      [&] {
        metrics = Call(Get("/metrics")).body;
        return MetricValue(metrics, "berth_gateway_requests_in_flight") == 1.0 &&
               MetricValue(metrics,
                           "berth_gateway_requests_total{route=\"GET /v1/events\",code=\"200\"}") ==
                   1.0;
      },
      absl::Seconds(5)))
      << metrics;

  // The metrics counted what happened.
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_requests_total{route=\"POST /v1/boxes\",code=\"201\"}"),
            1.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics,
                        "berth_gateway_requests_total{route=\"GET /v1/boxes/{box_id}\",code=\"200\"}"),
            2.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics,
                        "berth_gateway_requests_total{route=\"GET /v1/boxes/{box_id}\",code=\"404\"}"),
            2.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_requests_total{route=\"GET /v1/boxes\",code=\"200\"}"),
            5.0)
      << metrics;
  EXPECT_EQ(MetricValue(
                metrics,
                "berth_gateway_requests_total{route=\"DELETE /v1/boxes/{box_id}\",code=\"200\"}"),
            1.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_request_duration_seconds_count{route=\"POST "
                                 "/v1/boxes\"}"),
            1.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_request_duration_seconds_bucket{route=\"POST "
                                 "/v1/boxes\",le=\"+Inf\"}"),
            1.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_backend_errors_total{backend=\"docker-svc\","
                                 "code=\"NOT_FOUND\"}"),
            2.0)
      << metrics;
  EXPECT_THAT(metrics, HasSubstr("# TYPE berth_gateway_request_duration_seconds histogram"));
}

// The webserver (a backend token) creates a WAITING box for no one with a generated id, and
// stops it.
TEST_F(GatewayE2eTest, BackendCreatesWaitingBoxWithGeneratedId) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string backend = BackendToken();
  HttpResult created = Call(Post("/v1/boxes", R"({"app":"test-box"})", backend));
  ASSERT_EQ(created.status, 201) << created.Describe();
  absl::StatusOr<v1::CreateResponse> response = ParseJson<v1::CreateResponse>(created.body);
  ASSERT_TRUE(response.ok()) << response.status();
  const std::string id = response->box().box_id();
  Track(id);
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(response->box().user_id(), "");
  EXPECT_EQ(response->box().state(), v1::BOX_STATE_WAITING);

  // Create is idempotent on the id: the same request again is 201 with created unset (false).
  HttpResult again = Call(
      Post("/v1/boxes", absl::StrCat(R"({"app":"test-box","boxId":")", id, R"("})"), backend));
  ASSERT_EQ(again.status, 201) << again.Describe();
  absl::StatusOr<v1::CreateResponse> second = ParseJson<v1::CreateResponse>(again.body);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->created());
  EXPECT_EQ(second->box().container_id(), response->box().container_id());

  HttpResult deleted = Call(Delete("/v1/boxes/" + id, backend));
  EXPECT_EQ(deleted.status, 200) << deleted.Describe();
  EXPECT_TRUE(WaitUntil([&] { return Call(Get("/v1/boxes/" + id, backend)).status == 404; },
                        absl::Seconds(20)));
  EXPECT_EQ(Leftovers(host(), id), "");
}

// Many clients at once (curl --parallel, 25 connections, 200 requests): every one answered
// correctly, and the gauge of requests in flight returns to the /metrics request alone.
TEST_F(GatewayE2eTest, ManyParallelRequests) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string out_dir = absl::StrCat(work_dir(), "/parallel");
  CommandResult result = RunShell(absl::StrCat(
      "mkdir -p ", out_dir, " && curl -sS --no-progress-meter -k -Z --parallel-max 25 ",
      "-H 'Authorization: Bearer ", BackendToken(), "' -w '%{http_code}\\n' -o '", out_dir,
      "/#1.json' '", gateway().base_url(), "/v1/boxes?app=app[1-200]' > ", work_dir(),
      "/codes.txt"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string codes = ReadFileOrEmpty(absl::StrCat(work_dir(), "/codes.txt"));
  int ok = 0;
  for (absl::string_view line : absl::StrSplit(codes, '\n', absl::SkipEmpty())) {
    if (line == "200") {
      ++ok;
    } else {
      ADD_FAILURE() << "status " << line;
    }
  }
  EXPECT_EQ(ok, 200) << codes << result.output;
  EXPECT_EQ(ListDir(out_dir).size(), 200u);
  for (const std::string& name : ListDir(out_dir)) {
    const std::string body = ReadFileOrEmpty(absl::StrCat(out_dir, "/", name));
    EXPECT_TRUE(ParseJson<v1::ListResponse>(body).ok()) << name << ": " << body;
  }
  const std::string metrics = Call(Get("/metrics")).body;
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_requests_in_flight"), 1.0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "berth_gateway_requests_total{route=\"GET /v1/boxes\",code=\"200\"}"),
            200.0)
      << metrics;
}

// An event stream is not cut by the gateway's timeouts (--request_timeout, here 1 s, is for
// unary calls; the HTTP server's own request timeout is 10 s): idle for 11 s, it still carries
// the next change.
TEST_F(GatewayE2eTest, EventStreamOutlivesTimeouts) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}, {"--request_timeout=1s"}));
  const std::string backend = BackendToken();
  absl::StatusOr<std::unique_ptr<CurlStream>> stream = CurlStream::Start(
      gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(backend)}, absl::Seconds(90));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_SNAPSHOT_DONE"}, absl::Seconds(15)).has_value())
      << (*stream)->Output();
  absl::SleepFor(absl::Seconds(11));
  ASSERT_TRUE((*stream)->running()) << "the stream ended while idle:\n" << (*stream)->Output();
  const std::string id = BoxId("late");
  absl::StatusOr<v1::CreateResponse> created =
      CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", id, R"("})"), backend);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE((*stream)->WaitForLine({"KIND_CHANGED", id}, absl::Seconds(10)).has_value())
      << (*stream)->Output();
  EXPECT_EQ(Call(Delete("/v1/boxes/" + id, backend)).status, 200);
  EXPECT_TRUE((*stream)->WaitForLine({"KIND_GONE", id}, absl::Seconds(30)).has_value())
      << (*stream)->Output();
}

}  // namespace
}  // namespace berth::testing
