#include "docker-svc/boxes/box_metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StrEq;

TEST(StopReasonLabelTest, EveryRuleHasItsLabelAndACallerIsRequested) {
  EXPECT_THAT(StopReasonLabel(kTtlReason, false), StrEq("ttl"));
  EXPECT_THAT(StopReasonLabel(kDiedReason, false), StrEq("died"));
  EXPECT_THAT(StopReasonLabel(kOomReason, false), StrEq("oom"));
  EXPECT_THAT(StopReasonLabel(kRemovedReason, false), StrEq("removed"));
  EXPECT_THAT(StopReasonLabel(kDiskReason, false), StrEq("disk"));
  EXPECT_THAT(StopReasonLabel(kDrainingReason, false), StrEq("drain"));
  EXPECT_THAT(StopReasonLabel(kNotReadyReason, false), StrEq("unready"));
  EXPECT_THAT(StopReasonLabel(kNotReadyAfterConfigReason, false), StrEq("unready"));
  EXPECT_THAT(StopReasonLabel(absl::StrCat(kNoConfigReasonPrefix, "90s"), false),
              StrEq("config_timeout"));
  EXPECT_THAT(StopReasonLabel(kBoxShutdownReason, false), StrEq("box_shutdown"));
  EXPECT_THAT(StopReasonLabel(kDetachedReason, false), StrEq("detached"));
  EXPECT_THAT(StopReasonLabel(kBrokenMappingDirReason, false), StrEq("broken_mapping_dir"));
  EXPECT_THAT(StopReasonLabel("something new", false), StrEq("other"));
  // A caller's text is never a label, whatever it says.
  EXPECT_THAT(StopReasonLabel(kStoppedReason, true), StrEq("requested"));
  EXPECT_THAT(StopReasonLabel("ttl", true), StrEq("requested"));
  EXPECT_THAT(StopReasonLabel("user 42 left", true), StrEq("requested"));
}

TEST(BoxMetricsTest, EverySeriesOfAnAppShowsFromZero) {
  common::Metrics metrics;
  BoxMetrics boxes(metrics.registry());
  boxes.AddApps({"a"});
  const std::string text = metrics.Serialize();
  for (const char* line :
       {R"(berth_boxes{app="a",state="waiting"} 0)", R"(berth_boxes{app="a",state="running"} 0)",
        R"(berth_box_create_seconds_count{app="a"} 0)",
        R"(berth_box_ready_seconds_count{app="a"} 0)", R"(berth_box_stop_seconds_count{app="a"} 0)",
        R"(berth_box_ready_failures_total{app="a"} 0)",
        R"(berth_box_assigns_total{app="a",from_pool="true"} 0)",
        R"(berth_box_stops_total{reason="requested"} 0)",
        R"(berth_docker_api_errors_total{operation="create"} 0)",
        R"(berth_warm_pool_target{app="a"} 0)", R"(berth_warm_pool_waiting{app="a"} 0)",
        "berth_docker_event_stream_up 0", "berth_docker_event_stream_reconnects_total 0",
        "berth_docker_resync_repairs_total 0", "berth_host_draining 0"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("\n", line, "\n"))) << line;
  }
  EXPECT_THAT(text, HasSubstr("# HELP berth_boxes "));
  EXPECT_THAT(text, Not(HasSubstr("state=\"unspecified\"")));
}

TEST(BoxMetricsTest, TheCensusSetsTheTableGaugesAndZeroesWhatIsGone) {
  common::Metrics metrics;
  BoxMetrics boxes(metrics.registry());
  BoxCensus census;
  census.boxes[{"a", box::v1::BOX_STATE_RUNNING}] = 2;
  census.boxes[{"b", box::v1::BOX_STATE_WAITING}] = 1;  // an app seen first here
  census.waiting["b"] = 1;
  census.draining = true;
  boxes.SetCensus(census);
  std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("berth_boxes{app=\"a\",state=\"running\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_boxes{app=\"b\",state=\"waiting\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_warm_pool_waiting{app=\"b\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_host_draining 1\n"));
  boxes.SetCensus(BoxCensus());
  text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("berth_boxes{app=\"a\",state=\"running\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("berth_boxes{app=\"b\",state=\"waiting\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("berth_warm_pool_waiting{app=\"b\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("berth_host_draining 0\n"));
}

TEST(BoxMetricsTest, CountsEventsAndObservesTimes) {
  common::Metrics metrics;
  BoxMetrics boxes(metrics.registry());
  boxes.Created("a", absl::Milliseconds(700));
  boxes.Ready("a", absl::Seconds(3));
  boxes.StopBegan("a", "unready");
  boxes.StopBegan("a", "requested");
  boxes.Stopped("a", absl::Seconds(1));
  boxes.Assigned("a", /*from_pool=*/false);
  boxes.DockerApiFailed("start");
  boxes.EventStreamUp(true);
  boxes.EventStreamReconnected();
  boxes.Repaired(2);
  boxes.SetWarmPoolTarget("a", 3);
  const std::string text = metrics.Serialize();
  for (const char* line :
       {R"(berth_box_create_seconds_bucket{app="a",le="0.5"} 0)",
        R"(berth_box_create_seconds_bucket{app="a",le="1"} 1)",
        R"(berth_box_ready_seconds_sum{app="a"} 3)", R"(berth_box_stop_seconds_count{app="a"} 1)",
        R"(berth_box_ready_failures_total{app="a"} 1)",
        R"(berth_box_stops_total{reason="unready"} 1)",
        R"(berth_box_stops_total{reason="requested"} 1)",
        R"(berth_box_assigns_total{app="a",from_pool="false"} 1)",
        R"(berth_docker_api_errors_total{operation="start"} 1)", "berth_docker_event_stream_up 1",
        "berth_docker_event_stream_reconnects_total 1", "berth_docker_resync_repairs_total 2",
        R"(berth_warm_pool_target{app="a"} 3)"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("\n", line, "\n"))) << line;
  }
}

}  // namespace
}  // namespace berth::docker
