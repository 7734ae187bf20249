// Issue 4, acceptance 6: docker-svc SIGKILLed while the gateway serves — requests get 503 at
// once (well within their deadline), an open event stream ends with an error line, and once
// docker-svc is back the same gateway process serves again within a few seconds.
#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;

constexpr int kUnavailable = 14;

class GatewayBackendRestartTest : public GatewayTest {};

TEST_F(GatewayBackendRestartTest, DockerSvcKilledIs503AtOnceAndServedAgainAfterRestart) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string backend = BackendToken();
  const std::string id = BoxId("survivor");
  absl::StatusOr<v1::CreateResponse> created =
      CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", id, R"(","userId":"u1"})"), backend);
  ASSERT_TRUE(created.ok()) << created.status();
  const pid_t gateway_pid = gateway().process().pid();

  absl::StatusOr<std::unique_ptr<CurlStream>> stream = CurlStream::Start(
      gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(backend)}, absl::Seconds(60));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_SNAPSHOT_DONE"}, absl::Seconds(15)).has_value())
      << (*stream)->Output();
  ASSERT_EQ(Call(Get("/v1/boxes/" + id, backend)).status, 200);

  host().KillDockerSvc();  // SIGKILL

  // The open stream ends with an error line instead of hanging.
  std::optional<std::string> error_line = (*stream)->WaitForLine({"\"error\""}, absl::Seconds(5));
  ASSERT_TRUE(error_line.has_value()) << (*stream)->Output();
  EventLines lines = ParseEventLines({*error_line});
  ASSERT_EQ(lines.errors.size(), 1u) << *error_line;
  EXPECT_EQ(lines.errors[0].code, kUnavailable) << *error_line;
  absl::StatusOr<int> stream_exit = (*stream)->Wait(absl::Seconds(5));
  EXPECT_TRUE(stream_exit.ok() && *stream_exit == 0)
      << "curl -N did not end cleanly after the error line: "
      << (stream_exit.ok() ? absl::StrCat("exit ", *stream_exit) : stream_exit.status().ToString());

  // Every kind of request: 503 with a JSON body, each well under 2 s (measured by curl).
  std::vector<HttpCall> calls;
  for (int round = 0; round < 3; ++round) {
    calls.push_back(Get("/v1/boxes/" + id, backend));
    calls.push_back(Get("/v1/boxes", backend));
    calls.push_back(Post("/v1/boxes", R"({"app":"test-box"})", backend));
    calls.push_back(Delete("/v1/boxes/" + id, backend));
  }
  calls.push_back(Get("/readyz"));
  std::vector<HttpResult> down = Calls(calls);
  ASSERT_EQ(down.size(), calls.size());
  double slowest = 0;
  for (size_t i = 0; i < down.size(); ++i) {
    SCOPED_TRACE(absl::StrCat(calls[i].method, " ", calls[i].path));
    ExpectError(down[i], 503, kUnavailable);
    EXPECT_LT(down[i].seconds, 2.0) << down[i].Describe();
    slowest = std::max(slowest, down[i].seconds);
  }
  std::cerr << "with docker-svc down, the slowest of " << down.size() << " answers took "
            << slowest << " s\n";
  // The gateway itself is fine.
  EXPECT_EQ(Call(Get("/healthz")).status, 200);

  // docker-svc back: the same gateway serves again, within 5 s of docker-svc serving (its
  // reconnect backoff is at most 1 s; gRPC's default would take minutes).
  ASSERT_TRUE(host().StartDockerSvc().ok());
  const absl::Time serving = absl::Now();
  HttpResult again;
  const bool recovered = WaitUntil(
      [&] {
        again = Call(Get("/v1/boxes/" + id, backend));
        return again.status == 200;
      },
      absl::Seconds(5));
  const absl::Duration took = absl::Now() - serving;
  EXPECT_TRUE(recovered) << "still failing 5 s after docker-svc serves:\n" << again.Describe();
  std::cerr << "the gateway answered 200 again " << absl::FormatDuration(took)
            << " after docker-svc served\n";
  EXPECT_EQ(gateway().process().pid(), gateway_pid);
  EXPECT_TRUE(ProcessIsAlive(gateway_pid));

  // The box lived on (docker-svc adopted it) and everything works again.
  absl::StatusOr<v1::GetResponse> box = ParseJson<v1::GetResponse>(again.body);
  ASSERT_TRUE(box.ok()) << box.status();
  EXPECT_EQ(box->box().container_id(), created->box().container_id());
  EXPECT_TRUE(WaitUntil([&] { return Call(Get("/readyz")).status == 200; }, absl::Seconds(3)));
  absl::StatusOr<std::unique_ptr<CurlStream>> stream2 = CurlStream::Start(
      gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(backend)}, absl::Seconds(30));
  ASSERT_TRUE(stream2.ok()) << stream2.status();
  EXPECT_TRUE((*stream2)->WaitForLine({"KIND_SNAPSHOT", id}, absl::Seconds(10)).has_value())
      << (*stream2)->Output();
  (*stream2)->HangUp();

  HttpResult metrics = Call(Get("/metrics"));
  std::optional<double> errors = MetricValue(
      metrics.body,
      "berth_gateway_backend_errors_total{backend=\"docker-svc\",code=\"UNAVAILABLE\"}");
  EXPECT_TRUE(errors.has_value() && *errors >= 12) << metrics.body;

  HttpResult stopped = Call(Delete("/v1/boxes/" + id, backend));
  EXPECT_EQ(stopped.status, 200) << stopped.Describe();
}

// SIGTERM with an event stream open and requests coming: the gateway says STOPPING=1, ends the
// stream and exits 0 promptly, and the backends are unharmed.
TEST_F(GatewayBackendRestartTest, GatewayStopsCleanlyWithAStreamOpen) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string backend = BackendToken();
  absl::StatusOr<std::unique_ptr<CurlStream>> stream = CurlStream::Start(
      gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(backend)}, absl::Seconds(60));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_SNAPSHOT_DONE"}, absl::Seconds(15)).has_value())
      << (*stream)->Output();
  ASSERT_EQ(Call(Get("/v1/boxes", backend)).status, 200);

  const absl::Time start = absl::Now();
  absl::StatusOr<int> exit_code = gateway().Terminate();
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(took, absl::Seconds(5));
  std::cerr << "the gateway stopped in " << absl::FormatDuration(took) << "\n";
  EXPECT_TRUE(gateway().notify().WaitFor("STOPPING=1", absl::Now() + absl::Seconds(1)).has_value())
      << absl::StrJoin(gateway().notify().Lines(), " | ");
  // The stream's client is let go (curl does not hang until its --max-time), and the stream is
  // ended properly: its last chunk arrives before the connection closes (curl exits 0, not 18).
  absl::StatusOr<int> curl_exit = (*stream)->Wait(absl::Seconds(5));
  ASSERT_TRUE(curl_exit.ok()) << curl_exit.status() << "\n" << (*stream)->Output();
  EXPECT_EQ(*curl_exit, 0) << (*stream)->Output();
  // docker-svc carries on.
  EXPECT_TRUE(host().boxes().List().ok());
  EXPECT_TRUE(ProcessIsAlive(host().docker_svc()->pid()));

  // A new gateway on the same port serves at once.
  const uint16_t port = gateway().port();
  std::vector<std::string> flags =
      StandardGatewayFlags(host(), absl::StrCat(work_dir(), "/gateway-state"));
  absl::StatusOr<std::unique_ptr<GatewayProcess>> again =
      GatewayProcess::Start(flags, absl::StrCat(work_dir(), "/gateway-again.log"), port);
  ASSERT_TRUE(again.ok()) << again.status();
  gateways_.push_back(*std::move(again));
  EXPECT_EQ(Call(Get("/v1/boxes", backend)).status, 200);
}

// SIGTERM while a create is in flight: the caller still gets its answer (the gateway lets calls
// in flight finish, as every Berth daemon does on SIGTERM), and no box is left unaccounted for.
TEST_F(GatewayBackendRestartTest, CreateInFlightAtSigtermIsAnswered) {
  // A grace long enough for a create on a busy engine (other tests may be creating boxes).
  ASSERT_NO_FATAL_FAILURE(StartAll({}, {"--shutdown_grace=90s"}));
  const std::string backend = BackendToken();
  const std::string id = BoxId("inflight");
  Track(id);
  HttpResult created;
  std::thread caller([&] {
    created = Call(Post(
        "/v1/boxes",
        absl::StrCat(R"({"app":"test-box","boxId":")", id, R"(","waitForReady":true})"), backend));
  });
  // The create takes over a second (container start and readiness); stop the gateway while it
  // is in flight there (the gauge counts it and this /metrics request).
  ASSERT_TRUE(RequestsInFlightReach(2));
  absl::StatusOr<int> exit_code = gateway().Terminate();
  caller.join();
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_EQ(created.status, 201) << "the create in flight at SIGTERM got no answer:\n"
                                 << created.Describe();
  // Whatever the caller was told, docker-svc finished the box; a retry through a new gateway
  // finds it (Create is idempotent on the id).
  ASSERT_NO_FATAL_FAILURE(StartGateway({absl::StrCat("--state_dir=", work_dir(), "/s2")}));
  absl::StatusOr<v1::CreateResponse> retried = CreateBox(
      absl::StrCat(R"({"app":"test-box","boxId":")", id, R"(","waitForReady":true})"), backend);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_FALSE(retried->created());
  EXPECT_EQ(Call(Delete("/v1/boxes/" + id, backend)).status, 200);
}

}  // namespace
}  // namespace berth::testing
