// Issue 14, acceptance 1: a real Prometheus 2.42 (Debian's prometheus) run with the shipped
// deploy/prometheus/berth.yml (only its three target ports changed) and berth-rules.yml
// scrapes the real allocator-svc, docker-svc and gateway, each serving --metrics_listen, while
// boxes go through their life on a host of 3 TTYs; the test reads what Prometheus stored
// through its HTTP API (/api/v1/query, /api/v1/rules):
//   - up == 1 for the jobs berth-allocator, berth-docker and berth-gateway;
//   - after 3 creates through the gateway and a 4th refused for want of a TTY: berth_boxes
//     running 3; the tty pool's capacity 3 and free 0; Reserve counted OK 3 times and
//     RESOURCE_EXHAUSTED once; the gateway's POST /v1/boxes counted 201 3 times and 429 once;
//     BerthAllocatorPoolNearlyEmpty pending for the tty pool;
//   - after 1 stop: running 2, tty free 1, one stop counted (reason requested), the alert gone;
//   - every rule of berth-rules.yml has been evaluated against the real series without error;
//   - `promtool check metrics` finds no problem in each daemon's /metrics;
//   - the gateway SIGKILLed: its job's up is 0 (the others' 1) and BerthDaemonDown is pending
//     for it.
// Fails, never skips, without prometheus and promtool (package prometheus), dockerd or the test
// box image.
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"
#include "tests/prometheus_server.h"

namespace berth::testing {
namespace {

constexpr int kResourceExhausted = 8;
// Two scrapes and a rule evaluation (15 s each in berth.yml), with room for a slow machine.
constexpr absl::Duration kSeenWithin = absl::Seconds(90);

using Expected = std::map<std::string, double>;

// How many rules (alerts and recordings) the shipped berth-rules.yml has.
int ShippedRuleCount() {
  const std::string rules =
      common::ReadFile(absl::StrCat(SourceDir(), "/deploy/prometheus/berth-rules.yml"))
          .value_or("");
  int count = 0;
  for (absl::string_view line : absl::StrSplit(rules, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(line, "- alert:") || absl::StartsWith(line, "- record:")) ++count;
  }
  return count;
}

// The field `key` of `object`; an empty value when it has none.
const google::protobuf::Value& FieldOf(const google::protobuf::Struct& object,
                                       const std::string& key) {
  static const google::protobuf::Value* const kNone = new google::protobuf::Value();
  auto it = object.fields().find(key);
  return it == object.fields().end() ? *kNone : it->second;
}

// The rules of /api/v1/rules whose health is not "ok", as "name: health: lastError"; also how
// many rules there are.
std::vector<std::string> UnhealthyRules(const std::string& json, int* rule_count) {
  google::protobuf::Struct answer;
  if (!google::protobuf::util::JsonStringToMessage(json, &answer).ok()) return {"not JSON"};
  std::vector<std::string> unhealthy;
  const google::protobuf::Value& groups = FieldOf(FieldOf(answer, "data").struct_value(), "groups");
  for (const auto& group : groups.list_value().values()) {
    for (const auto& rule : FieldOf(group.struct_value(), "rules").list_value().values()) {
      const google::protobuf::Struct& fields = rule.struct_value();
      ++*rule_count;
      if (FieldOf(fields, "health").string_value() != "ok") {
        unhealthy.push_back(absl::StrCat(FieldOf(fields, "name").string_value(), ": ",
                                         FieldOf(fields, "health").string_value(), ": ",
                                         FieldOf(fields, "lastError").string_value()));
      }
    }
  }
  return unhealthy;
}

class PrometheusE2eTest : public GatewayTest {
 protected:
  void TearDown() override {
    if (prometheus_ != nullptr && HasFailure()) {
      std::cerr << "---- prometheus log:\n" << prometheus_->Log() << std::flush;
    }
    prometheus_.reset();
    GatewayTest::TearDown();
  }

  // Starts the three daemons with --metrics_listen on free ports (3 TTYs, room for 10 boxes),
  // then Prometheus on the shipped config pointed at them.
  void StartStackAndPrometheus() {
    targets_ = {absl::StrCat("127.0.0.1:", FreeTcpPort()),
                absl::StrCat("127.0.0.1:", FreeTcpPort()),
                absl::StrCat("127.0.0.1:", FreeTcpPort())};
    BoxHostOptions options;
    options.tty_range = "10-13";  // END exclusive: 3 TTYs
    options.max_boxes = 10;       // so that the TTYs, not the boxes, run out
    options.allocator_flags = {absl::StrCat("--metrics_listen=", targets_.allocator)};
    options.docker_svc_flags = {absl::StrCat("--metrics_listen=", targets_.docker)};
    ASSERT_NO_FATAL_FAILURE(
        StartAll(options, {absl::StrCat("--metrics_listen=", targets_.gateway)}));
    absl::StatusOr<std::string> config = BerthScrapeConfigFor(targets_);
    ASSERT_TRUE(config.ok()) << config.status();
    const std::string dir = absl::StrCat(work_dir(), "/prometheus");
    ASSERT_TRUE(common::CreateParentDirectories(dir + "/berth.yml", "prometheus directory").ok());
    absl::StatusOr<std::unique_ptr<PrometheusServer>> server =
        PrometheusServer::Start(dir, *config);
    ASSERT_TRUE(server.ok()) << server.status();
    prometheus_ = *std::move(server);
  }

  // Polls `promql` every second until its samples, keyed by their label `key` ("" for a single
  // sample), are exactly `expected`.
  ::testing::AssertionResult Eventually(const std::string& promql, const std::string& key,
                                        const Expected& expected) {
    std::string last;
    const absl::Time deadline = absl::Now() + kSeenWithin;
    while (true) {
      absl::StatusOr<std::vector<PromSample>> samples = prometheus_->Query(promql);
      if (samples.ok()) {
        Expected got;
        for (const PromSample& sample : *samples) {
          auto label = sample.labels.find(key);
          got[label == sample.labels.end() ? "" : label->second] = sample.value;
        }
        if (got == expected) return ::testing::AssertionSuccess();
        last = DescribeSamples(*samples);
      } else {
        last = std::string(samples.status().message());
      }
      if (absl::Now() > deadline) break;
      absl::SleepFor(absl::Seconds(1));
    }
    std::vector<std::string> wanted;
    for (const auto& [label, value] : expected) wanted.push_back(absl::StrCat(label, "=", value));
    return ::testing::AssertionFailure()
           << promql << ": wanted {" << absl::StrJoin(wanted, ", ") << "} by \"" << key
           << "\" within " << kSeenWithin << ", last got:\n"
           << last;
  }

  // Every recording and alerting rule of the shipped file has been evaluated, without error,
  // against the real series.
  void ExpectEveryRuleHealthy() {
    absl::StatusOr<std::string> rules = prometheus_->Get("/api/v1/rules");
    ASSERT_TRUE(rules.ok()) << rules.status();
    int rule_count = 0;
    EXPECT_EQ(UnhealthyRules(*rules, &rule_count), std::vector<std::string>{}) << *rules;
    EXPECT_EQ(rule_count, ShippedRuleCount()) << *rules;
  }

  // promtool's lint of each daemon's exposition on its --metrics_listen.
  void ExpectPromtoolFindsNoProblemInMetrics() {
    for (const std::string& target : {targets_.allocator, targets_.docker, targets_.gateway}) {
      HttpResult metrics = Curl(absl::StrCat("http://", target), Get("/metrics"), {});
      ASSERT_EQ(metrics.status, 200) << target << ": " << metrics.Describe();
      const std::string file = absl::StrCat(work_dir(), "/metrics-", target.substr(10), ".txt");
      ASSERT_TRUE(common::WriteFileAtomically(file, metrics.body).ok());
      CommandResult lint = RunShell(absl::StrCat("promtool check metrics < ", file));
      EXPECT_EQ(lint.exit_code, 0) << target << ":\n" << lint.output;
    }
  }

  // The body of a box create through the gateway, as the backend.
  std::string CreateBody(const std::string& name) {
    return absl::StrCat(R"({"app":"test-box","boxId":")", BoxId(name), R"(","userId":"user-)", name,
                        R"(","waitForReady":true})");
  }

  ScrapeTargets targets_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(PrometheusE2eTest, ShippedConfigScrapesEveryDaemonAndSeesBoxesPoolsAndErrors) {
  ASSERT_NO_FATAL_FAILURE(StartStackAndPrometheus());
  EXPECT_TRUE(Eventually(R"(up{job=~"berth-.*"})", "job",
                         {{"berth-allocator", 1}, {"berth-docker", 1}, {"berth-gateway", 1}}));

  // Three boxes take the three TTYs; a fourth is refused by the allocator (429).
  const std::string backend = BackendToken();
  for (const char* name : {"a", "b", "c"}) {
    absl::StatusOr<box::v1::CreateResponse> created = CreateBox(CreateBody(name), backend);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  Track(BoxId("d"));
  HttpResult refused = Call(Post("/v1/boxes", CreateBody("d"), backend));
  ExpectError(refused, 429, kResourceExhausted, "tty");

  EXPECT_TRUE(Eventually(R"(sum by (state) (berth_boxes{job="berth-docker", app="test-box"}) > 0)",
                         "state", {{"running", 3}}));
  EXPECT_TRUE(Eventually(R"(berth_allocator_pool_capacity{job="berth-allocator", pool="tty"})", "",
                         {{"", 3}}));
  EXPECT_TRUE(
      Eventually(R"(berth_allocator_pool_free{job="berth-allocator", pool="tty"})", "", {{"", 0}}));
  EXPECT_TRUE(
      Eventually(R"(berth_allocator_requests_total{job="berth-allocator", method="Reserve"} > 0)",
                 "code", {{"OK", 3}, {"RESOURCE_EXHAUSTED", 1}}));
  EXPECT_TRUE(
      Eventually(R"(sum by (code) )"
                 R"((berth_gateway_requests_total{job="berth-gateway", route="POST /v1/boxes"}))",
                 "code", {{"201", 3}, {"429", 1}}));
  // The shipped rule sees the real series: pending (its "for" is 10 minutes).
  EXPECT_TRUE(
      Eventually(R"(ALERTS{alertname="BerthAllocatorPoolNearlyEmpty", alertstate="pending", )"
                 R"(job="berth-allocator"})",
                 "pool", {{"tty", 1}}));

  // One stop: its TTY is free again.
  HttpResult stopped = Call(Delete("/v1/boxes/" + BoxId("b"), backend));
  ASSERT_EQ(stopped.status, 200) << stopped.Describe();
  EXPECT_TRUE(Eventually(R"(sum by (state) (berth_boxes{job="berth-docker", app="test-box"}) > 0)",
                         "state", {{"running", 2}}));
  EXPECT_TRUE(
      Eventually(R"(berth_allocator_pool_free{job="berth-allocator", pool="tty"})", "", {{"", 1}}));
  EXPECT_TRUE(
      Eventually(R"(berth_box_stops_total{job="berth-docker"} > 0)", "reason", {{"requested", 1}}));
  EXPECT_TRUE(Eventually(R"(ALERTS{alertname="BerthAllocatorPoolNearlyEmpty"})", "pool", {}));

  ExpectEveryRuleHealthy();
  ExpectPromtoolFindsNoProblemInMetrics();

  // A daemon that dies: its job is down and BerthDaemonDown pending (its "for" is 1 minute),
  // the other jobs still up.
  gateway().Kill();
  EXPECT_TRUE(Eventually(R"(up{job=~"berth-.*"})", "job",
                         {{"berth-allocator", 1}, {"berth-docker", 1}, {"berth-gateway", 0}}));
  EXPECT_TRUE(Eventually(R"(ALERTS{alertname="BerthDaemonDown", alertstate="pending"})", "job",
                         {{"berth-gateway", 1}}));
}

}  // namespace
}  // namespace berth::testing
