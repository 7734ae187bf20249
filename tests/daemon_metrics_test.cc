// Issue 14: every daemon's Prometheus metrics over real HTTP. allocator-svc, docker-svc and the
// gateway each serve GET /metrics on --metrics_listen (a free loopback port); after boxes went
// through their life through the gateway and the allocator ran out, curl scrapes each and the
// values are what happened, and `promtool check metrics` finds no problem in any daemon's
// output.
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;

class MetricsTest : public GatewayTest {
 protected:
  // Starts the three daemons, each serving its metrics on a free loopback port; the allocator
  // takes 3 boxes at most (call under ASSERT_NO_FATAL_FAILURE).
  void StartWithMetrics() {
    std::set<uint16_t> ports;
    while (ports.size() < 3) {
      const uint16_t port = FreeTcpPort();
      ASSERT_NE(port, 0) << "no free TCP port";
      ports.insert(port);
    }
    auto it = ports.begin();
    allocator_port_ = *it++;
    docker_port_ = *it++;
    gateway_port_ = *it;
    BoxHostOptions options;
    options.max_boxes = 3;
    options.allocator_flags = {absl::StrCat("--metrics_listen=127.0.0.1:", allocator_port_)};
    options.docker_svc_flags = {absl::StrCat("--metrics_listen=127.0.0.1:", docker_port_)};
    StartAll(options, {absl::StrCat("--metrics_listen=127.0.0.1:", gateway_port_)});
  }

  // GET /metrics on 127.0.0.1:`port` with curl over plain HTTP; the body (a failure when curl
  // fails).
  std::string Scrape(uint16_t port) {
    CommandResult result =
        RunShell(absl::StrCat("curl -sS --fail --max-time 10 http://127.0.0.1:", port, "/metrics"));
    EXPECT_EQ(result.exit_code, 0) << "scrape of port " << port << ": " << result.output;
    return result.output;
  }

  // Three boxes made through the gateway (one RUNNING, one ALLOCATED, one WAITING), a fourth
  // refused (the allocator is out of boxes: RESOURCE_EXHAUSTED, 429), the WAITING one stopped.
  void DriveBoxes() {
    const std::string backend = BackendToken();
    ASSERT_TRUE(CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", BoxId("run"),
                                       R"(","userId":"u1","waitForReady":true})"),
                          backend)
                    .ok());
    ASSERT_TRUE(CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", BoxId("alloc"),
                                       R"(","userId":"u2"})"),
                          backend)
                    .ok());
    ASSERT_TRUE(
        CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", BoxId("wait"), R"("})"), backend)
            .ok());
    HttpResult full = Call(Post(
        "/v1/boxes", absl::StrCat(R"({"app":"test-box","boxId":")", BoxId("full"), R"("})"),
        backend));
    ASSERT_EQ(full.status, 429) << full.Describe();
    HttpResult stopped = Call(Delete(absl::StrCat("/v1/boxes/", BoxId("wait")), backend));
    ASSERT_EQ(stopped.status, 200) << stopped.Describe();
  }

  uint16_t allocator_port_ = 0;
  uint16_t docker_port_ = 0;
  uint16_t gateway_port_ = 0;
};

// The value of `series` in `text`, or -1 when it is absent (so that a failure shows it).
double Value(const std::string& text, const std::string& series) {
  return MetricValue(text, series).value_or(-1);
}

TEST_F(MetricsTest, EachDaemonShowsWhatHappenedOverHttp) {
  ASSERT_NO_FATAL_FAILURE(StartWithMetrics());
  ASSERT_NO_FATAL_FAILURE(DriveBoxes());
  // A request without a token, and a client that does not speak TLS on the HTTPS port.
  EXPECT_EQ(Call(Get("/v1/boxes")).status, 401);
  RunShell(absl::StrCat("curl -sS --max-time 5 http://127.0.0.1:", gateway().port(), "/healthz"));

  const std::string allocator = Scrape(allocator_port_);
  EXPECT_THAT(allocator, HasSubstr("# HELP berth_allocator_requests_total "));
  EXPECT_EQ(Value(allocator, R"(berth_allocator_requests_total{method="Reserve",code="OK"})"), 3)
      << allocator;
  EXPECT_EQ(Value(allocator, R"(berth_allocator_requests_total{method="Reserve",)"
                             R"(code="RESOURCE_EXHAUSTED"})"),
            1)
      << allocator;
  EXPECT_GE(Value(allocator, R"(berth_allocator_requests_total{method="Release",code="OK"})"), 1);
  EXPECT_GE(Value(allocator, R"(berth_allocator_requests_total{method="Reconcile",code="OK"})"),
            1);
  EXPECT_EQ(Value(allocator, R"(berth_allocator_leases{state="bound"})"), 2) << allocator;
  EXPECT_EQ(Value(allocator, R"(berth_allocator_leases{state="reserved"})"), 0);
  EXPECT_EQ(Value(allocator, R"(berth_allocator_pool_capacity{pool="boxes"})"), 3);
  EXPECT_EQ(Value(allocator, R"(berth_allocator_pool_free{pool="boxes"})"), 1);
  EXPECT_EQ(Value(allocator, R"(berth_allocator_pool_capacity{pool="tty"})"), 50);
  EXPECT_EQ(Value(allocator, R"(berth_allocator_pool_free{pool="tty"})"), 48);
  EXPECT_EQ(Value(allocator, R"(berth_allocator_pool_capacity{pool="tcp"})"),
            host().port_end() - host().port_begin());
  EXPECT_GE(Value(allocator, "berth_allocator_commit_batch_size_count"), 1);
  EXPECT_GE(Value(allocator, R"(berth_allocator_commit_fsync_seconds_bucket{le="+Inf"})"), 1);
  EXPECT_GE(Value(allocator, "berth_allocator_recovery_seconds"), 0);

  const std::string docker = Scrape(docker_port_);
  EXPECT_EQ(Value(docker, R"(berth_boxes{app="test-box",state="running"})"), 1) << docker;
  EXPECT_EQ(Value(docker, R"(berth_boxes{app="test-box",state="allocated"})"), 1) << docker;
  EXPECT_EQ(Value(docker, R"(berth_boxes{app="test-box",state="waiting"})"), 0) << docker;
  EXPECT_EQ(Value(docker, R"(berth_boxes{app="test-box",state="dying"})"), 0) << docker;
  EXPECT_EQ(Value(docker, R"(berth_box_create_seconds_count{app="test-box"})"), 3);
  EXPECT_GE(Value(docker, R"(berth_box_ready_seconds_count{app="test-box"})"), 1);
  EXPECT_EQ(Value(docker, R"(berth_box_stop_seconds_count{app="test-box"})"), 1);
  EXPECT_EQ(Value(docker, R"(berth_box_stops_total{reason="requested"})"), 1) << docker;
  EXPECT_EQ(Value(docker, R"(berth_box_ready_failures_total{app="test-box"})"), 0);
  EXPECT_EQ(Value(docker, R"(berth_warm_pool_waiting{app="test-box"})"), 0);
  EXPECT_EQ(Value(docker, R"(berth_warm_pool_target{app="test-box"})"), 0);
  EXPECT_EQ(Value(docker, "berth_docker_event_stream_up"), 1);
  EXPECT_EQ(Value(docker, "berth_docker_event_stream_reconnects_total"), 0);
  EXPECT_GE(Value(docker, R"(berth_docker_api_errors_total{operation="create"})"), 0);
  EXPECT_GE(Value(docker, "berth_docker_resync_repairs_total"), 0);
  EXPECT_EQ(Value(docker, "berth_host_draining"), 0);

  const std::string gateway_text = Scrape(gateway_port_);
  EXPECT_EQ(Value(gateway_text, R"(berth_gateway_requests_total{route="POST /v1/boxes",code="201"})"),
            3)
      << gateway_text;
  EXPECT_EQ(Value(gateway_text, R"(berth_gateway_requests_total{route="POST /v1/boxes",code="429"})"),
            1);
  EXPECT_EQ(Value(gateway_text, R"(berth_gateway_auth_failures_total{reason="missing"})"), 1)
      << gateway_text;
  EXPECT_GE(Value(gateway_text, "berth_gateway_tls_handshake_errors_total"), 1) << gateway_text;
  // The HTTPS port answers the same registry.
  HttpResult https = Call(Get("/metrics"));
  ASSERT_EQ(https.status, 200) << https.Describe();
  EXPECT_EQ(Value(https.body, R"(berth_gateway_auth_failures_total{reason="missing"})"), 1);
}

TEST_F(MetricsTest, PromtoolFindsNoProblemInAnyDaemonsMetrics) {
  const bool in_ci = std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true";
  if (RunShell("command -v promtool").exit_code != 0) {
    if (in_ci) FAIL() << "promtool is missing (Debian's prometheus package)";
    GTEST_SKIP() << "promtool is missing (Debian's prometheus package)";
  }
  ASSERT_NO_FATAL_FAILURE(StartWithMetrics());
  ASSERT_NO_FATAL_FAILURE(DriveBoxes());
  for (const auto& [daemon, port] : std::vector<std::pair<std::string, uint16_t>>{
           {"allocator-svc", allocator_port_},
           {"docker-svc", docker_port_},
           {"gateway", gateway_port_}}) {
    SCOPED_TRACE(daemon);
    const std::string file = absl::StrCat(work_dir(), "/", daemon, ".metrics");
    CommandResult scraped = RunShell(
        absl::StrCat("curl -sS --fail --max-time 10 -o ", file, " http://127.0.0.1:", port,
                     "/metrics"));
    ASSERT_EQ(scraped.exit_code, 0) << scraped.output;
    CommandResult checked = RunShell(absl::StrCat("promtool check metrics < ", file));
    EXPECT_EQ(checked.exit_code, 0) << checked.output;
    EXPECT_EQ(checked.output, "") << "promtool reports a problem";
  }
}

}  // namespace
}  // namespace berth::testing
