// Issue 4, acceptance 3: each gRPC code the README's "gateway" section maps to an HTTP status,
// produced by the real backends, reaches the HTTP client as that status with the body
// {"code":<grpc code>,"message":".."}.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
using ::testing::HasSubstr;
using ::testing::Not;

// gRPC codes, as the body's "code" carries them.
constexpr int kDeadlineExceeded = 4;
constexpr int kInvalidArgument = 3;
constexpr int kNotFound = 5;
constexpr int kAlreadyExists = 6;
constexpr int kPermissionDenied = 7;
constexpr int kResourceExhausted = 8;
constexpr int kFailedPrecondition = 9;
constexpr int kUnavailable = 14;
constexpr int kUnauthenticated = 16;

// The test box's profile with an image that is not on this host (Berth never pulls).
constexpr char kGhostProfile[] = R"pb(
  name: "ghost"
  image: "berth/no-such-image:never"
  ports { port: 32261 protocol: PROTOCOL_TCP }
  env { key: "BERTH_MAPPINGS_DIR" value: "/whist/resourceMappings" }
  tty: true
)pb";

// The test box waiting for a readiness marker it never writes, for 2 s.
constexpr char kNeverReadyProfile[] = R"pb(
  name: "never-ready"
  image: "berth/test-box:latest"
  ports { port: 32261 protocol: PROTOCOL_TCP }
  env { key: "BERTH_MAPPINGS_DIR" value: "/whist/resourceMappings" }
  env { key: "BERTH_READY_MARKER" value: "done_sleeping_until_X_clients" }
  readiness_marker: "a_marker_never_written"
  readiness_timeout_seconds: 2
  stop_grace_seconds: 1
  tty: true
)pb";

class GatewayErrorsTest : public GatewayTest {};

// NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED and PERMISSION_DENIED, all on one connection.
TEST_F(GatewayErrorsTest, NotFoundInvalidArgumentUnauthenticatedPermissionDenied) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string backend = BackendToken();
  const std::string unknown = BoxId("no-such-box");
  std::vector<HttpResult> results = Calls({
      Get("/v1/boxes/" + unknown, backend),
      Delete("/v1/boxes/" + unknown, backend),
      Post("/v1/boxes", R"({"app":"no-such-app"})", backend),
      Post("/v1/boxes", R"({"app":"test-box","boxId":"bad id!"})", backend),
      Get("/v1/boxes"),
      Post("/v1/boxes",
           absl::StrCat(R"({"app":"test-box","boxId":")", BoxId("x"), R"(","userId":"bob"})"),
           UserToken("alice")),
      Get("/v1/boxes", backend),
  });
  ASSERT_EQ(results.size(), 7u);
  {
    SCOPED_TRACE("NOT_FOUND: get an unknown box");
    ExpectError(results[0], 404, kNotFound, unknown);
  }
  {
    SCOPED_TRACE("NOT_FOUND: delete an unknown box");
    ExpectError(results[1], 404, kNotFound, unknown);
  }
  {
    SCOPED_TRACE("INVALID_ARGUMENT: unknown app");
    ExpectError(results[2], 400, kInvalidArgument, "no-such-app");
  }
  {
    SCOPED_TRACE("INVALID_ARGUMENT: malformed box id");
    ExpectError(results[3], 400, kInvalidArgument, "box_id");
  }
  {
    SCOPED_TRACE("UNAUTHENTICATED: no token");
    ExpectError(results[4], 401, kUnauthenticated);
    EXPECT_TRUE(absl::StartsWith(results[4].Header("www-authenticate"), "Bearer"))
        << results[4].Describe();
  }
  {
    SCOPED_TRACE("PERMISSION_DENIED: an end user creating a box for someone else");
    ExpectError(results[5], 403, kPermissionDenied);
  }
  EXPECT_EQ(results[6].status, 200) << results[6].Describe();
  // Errors keep the connection open, but for a refused token's: the 401 is answered from the
  // header alone and closes the connection, whose request body was never read.
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_EQ(results[i].num_connects, i == 5 ? 1 : 0) << i << ": " << results[i].Describe();
  }
  EXPECT_EQ(Leftovers(host(), BoxId("x")), "");
}

// FAILED_PRECONDITION (an image that is not there), ALREADY_EXISTS (the same box id for another
// user) and RESOURCE_EXHAUSTED (a host of one box, full).
TEST_F(GatewayErrorsTest, FailedPreconditionAlreadyExistsResourceExhausted) {
  BoxHostOptions options;
  options.max_boxes = 1;
  options.profiles["ghost"] = kGhostProfile;
  ASSERT_NO_FATAL_FAILURE(StartAll(options));
  const std::string backend = BackendToken();
  const std::string id = BoxId("one");
  const std::string ghost = BoxId("ghost");
  Track(ghost);

  HttpResult missing_image = Call(Post(
      "/v1/boxes", absl::StrCat(R"({"app":"ghost","boxId":")", ghost, R"("})"), backend));
  {
    SCOPED_TRACE("FAILED_PRECONDITION: the profile's image is missing");
    ExpectError(missing_image, 400, kFailedPrecondition, "berth/no-such-image:never");
  }
  EXPECT_EQ(Leftovers(host(), ghost), "");

  absl::StatusOr<v1::CreateResponse> created = CreateBox(
      absl::StrCat(R"({"app":"test-box","boxId":")", id, R"(","userId":"u1"})"), backend);
  ASSERT_TRUE(created.ok()) << created.status();

  HttpResult conflict = Call(Post(
      "/v1/boxes", absl::StrCat(R"({"app":"test-box","boxId":")", id, R"(","userId":"u2"})"),
      backend));
  {
    SCOPED_TRACE("ALREADY_EXISTS: the same box id for another user");
    ExpectError(conflict, 409, kAlreadyExists, id);
  }

  const std::string second = BoxId("two");
  Track(second);
  HttpResult full = Call(Post(
      "/v1/boxes", absl::StrCat(R"({"app":"test-box","boxId":")", second, R"("})"), backend));
  {
    SCOPED_TRACE("RESOURCE_EXHAUSTED: the host holds its --max_boxes=1");
    ExpectError(full, 429, kResourceExhausted, "capacity");
  }
  EXPECT_EQ(Leftovers(host(), second), "");

  HttpResult stopped = Call(Delete("/v1/boxes/" + id, backend));
  EXPECT_EQ(stopped.status, 200) << stopped.Describe();
}

// UNAVAILABLE: docker-svc is down (the gateway answers at once, without waiting for it).
TEST_F(GatewayErrorsTest, UnavailableWhileABackendIsDown) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string backend = BackendToken();
  host().KillDockerSvc();
  std::vector<HttpResult> results =
      Calls({Get("/v1/boxes", backend), Get("/v1/boxes/x", backend),
             Post("/v1/boxes", R"({"app":"test-box"})", backend), Get("/readyz"),
             Get("/healthz")});
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    // What gRPC says of the missing socket is for the logs, not for callers.
    ExpectError(results[i], 503, kUnavailable, "docker-svc is unavailable; try again");
    EXPECT_THAT(results[i].body, Not(HasSubstr(".sock"))) << results[i].body;
  }
  {
    SCOPED_TRACE("/readyz with docker-svc down");
    ExpectError(results[3], 503, kUnavailable);
  }
  EXPECT_EQ(results[4].status, 200) << results[4].Describe();

  // With docker-svc back but allocator-svc down, /readyz is still 503: the gateway, which has no
  // connection to allocator-svc (no --allocator), learns it from docker-svc's Host report.
  ASSERT_TRUE(host().StartDockerSvc().ok());
  ASSERT_TRUE(WaitUntil([&] { return Call(Get("/v1/boxes", backend)).status == 200; },
                        absl::Seconds(5)));
  host().KillAllocator();
  // /readyz answers from a check of up to a second ago (the one of docker-svc down, maybe).
  HttpResult ready;
  EXPECT_TRUE(WaitUntil(
      [&] {
        ready = Call(Get("/readyz"));
        return absl::StrContains(ready.body, "allocator-svc did not answer");
      },
      absl::Seconds(10)));
  ExpectError(ready, 503, kUnavailable, "allocator-svc did not answer");
  // (A create would wait for the allocator: docker-svc retries it until its own deadline.)
  // Listing needs docker-svc only.
  EXPECT_EQ(Call(Get("/v1/boxes", backend)).status, 200);
  // The host report still comes, at once, with docker-svc's part and why the rest is missing.
  const absl::Time asked = absl::Now();
  HttpResult host_report = Call(Get("/v1/host", backend));
  EXPECT_LT(absl::Now() - asked, absl::Seconds(5));
  EXPECT_EQ(host_report.status, 200) << host_report.Describe();
  EXPECT_THAT(host_report.body,
              HasSubstr("\"allocatorError\":\"allocator-svc did not answer (UNAVAILABLE)\""))
      << host_report.body;
  EXPECT_THAT(host_report.body, Not(HasSubstr("\"capacity\""))) << host_report.body;
  // And once the allocator is back, so is its part of the report (no long reconnect backoff).
  ASSERT_TRUE(host().StartAllocator().ok());
  EXPECT_TRUE(WaitUntil(
      [&] { return absl::StrContains(Call(Get("/v1/host", backend)).body, "\"capacity\""); },
      absl::Seconds(5)));
  EXPECT_TRUE(WaitUntil([&] { return Call(Get("/readyz")).status == 200; }, absl::Seconds(5)));
}

// --allocator is optional and only adds a check to /readyz: given an allocator-svc that does not
// answer, /readyz is 503 naming it although docker-svc and its own allocator are fine; given the
// real one, 200.
TEST_F(GatewayErrorsTest, AllocatorFlagAddsAReadinessCheck) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  EXPECT_EQ(Call(Get("/readyz")).status, 200) << "without --allocator";
  ASSERT_NO_FATAL_FAILURE(
      StartGateway({absl::StrCat("--allocator=unix:", work_dir(), "/no-allocator.sock")}));
  ExpectError(Call(Get("/readyz")), 503, kUnavailable, "--allocator");
  ASSERT_NO_FATAL_FAILURE(
      StartGateway({absl::StrCat("--allocator=", host().allocator_address())}));
  EXPECT_TRUE(WaitUntil([&] { return Call(Get("/readyz")).status == 200; }, absl::Seconds(10)));
}

// /readyz needs no token, and each check costs docker-svc a Host call (which makes two calls of
// allocator-svc on one of docker-svc's threads). A flood of 200 concurrent /readyz shares the
// check in flight, and each check's result for a second: it costs a check a second at most.
TEST_F(GatewayErrorsTest, AReadyzFloodCostsDockerSvcAboutOneCheckASecond) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  auto checks = [&] {
    return MetricValue(Call(Get("/metrics")).body, "berth_gateway_readiness_checks_total")
        .value_or(-1);
  };
  HttpResult ready = Call(Get("/readyz"));
  ASSERT_EQ(ready.status, 200) << ready.Describe();
  const double checks_before = checks();
  ASSERT_GE(checks_before, 1);

  // 5 curl processes of 40 transfers, 8 at a time each: 40 connections at once, under the 64
  // of one client IP.
  constexpr int kProcesses = 5;
  constexpr int kPerProcess = 40;
  std::string command = absl::StrCat("for i in $(seq 1 ", kProcesses,
                                     "); do curl -sk --parallel --parallel-max 8 "
                                     "-w '%{http_code}\\n'");
  for (int i = 0; i < kPerProcess; ++i) {
    absl::StrAppend(&command, " -o /dev/null ", gateway().base_url(), "/readyz");
  }
  // stderr dropped: curl draws its parallel progress meter there even with -s.
  absl::StrAppend(&command, " 2>/dev/null & done; wait");
  const absl::Time start = absl::Now();
  const CommandResult flood = RunShell(command);
  const absl::Duration took = absl::Now() - start;
  const std::vector<std::string> codes = absl::StrSplit(flood.output, '\n', absl::SkipEmpty());
  EXPECT_EQ(std::count(codes.begin(), codes.end(), "200"), kProcesses * kPerProcess)
      << flood.output;

  const double made = checks() - checks_before;
  std::cerr << kProcesses * kPerProcess << " /readyz in " << absl::FormatDuration(took) << " made "
            << made << " checks\n";
  // One check a second at most, plus the one in flight when the flood began.
  EXPECT_LE(made, std::ceil(absl::ToDoubleSeconds(took)) + 1);
}

// DEADLINE_EXCEEDED, two ways: docker-svc's own (a box that never becomes ready while the create
// waits for it) and the gateway's (--request_timeout shorter than any call).
TEST_F(GatewayErrorsTest, DeadlineExceededIs504) {
  BoxHostOptions options;
  options.profiles["never-ready"] = kNeverReadyProfile;
  ASSERT_NO_FATAL_FAILURE(StartAll(options));
  const std::string backend = BackendToken();
  const std::string id = BoxId("slow");
  Track(id);
  HttpResult never_ready = Call(Post(
      "/v1/boxes",
      absl::StrCat(R"({"app":"never-ready","boxId":")", id, R"(","waitForReady":true})"),
      backend));
  {
    SCOPED_TRACE("DEADLINE_EXCEEDED from docker-svc: the box is not ready in time");
    ExpectError(never_ready, 504, kDeadlineExceeded);
    // docker-svc's own message reaches the caller.
    EXPECT_THAT(never_ready.body, Not(HasSubstr("did not answer in time"))) << never_ready.body;
  }
  // docker-svc stops such a box.
  EXPECT_TRUE(WaitUntil([&] { return Leftovers(host(), id).empty(); }, absl::Seconds(30)))
      << Leftovers(host(), id);

  // Routes without a timeout of their own (Get, List) use --request_timeout.
  ASSERT_NO_FATAL_FAILURE(
      StartGateway({"--request_timeout=1us", absl::StrCat("--state_dir=", work_dir(), "/s2")}));
  std::vector<HttpResult> results =
      Calls({Get("/v1/boxes/" + id, backend), Get("/v1/boxes", backend), Get("/healthz")});
  ASSERT_EQ(results.size(), 3u);
  {
    SCOPED_TRACE("DEADLINE_EXCEEDED: --request_timeout=1us on GET /v1/boxes/{box_id}");
    ExpectError(results[0], 504, kDeadlineExceeded, "docker-svc did not answer in time");
  }
  {
    SCOPED_TRACE("DEADLINE_EXCEEDED: --request_timeout=1us on GET /v1/boxes");
    ExpectError(results[1], 504, kDeadlineExceeded);
  }
  EXPECT_EQ(results[2].status, 200) << results[2].Describe();
}

}  // namespace
}  // namespace berth::testing
