// BoxManager's metrics against an in-memory engine and allocator: boxes by state, creates,
// readiness, stops by reason, assigns, the event stream, resync repairs and the drain. The same
// against the real daemons: tests/daemon_metrics_test.cc.
#include <fstream>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/testing/box_manager_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;

class BoxManagerMetricsTest : public testing::BoxManagerFixture {
 protected:
  void SetUp() override {
    BoxManagerFixture::SetUp();
    manager_->Start();
  }
  void TearDown() override { manager_->Shutdown(); }

  // The metrics as a scrape sees them.
  std::string Scrape() {
    box_metrics_.SetCensus(manager_->Census());
    return metrics_.Serialize();
  }
  // Whether a scrape shows the sample line `line` ("name{labels} value").
  bool Shows(const std::string& line) {
    return absl::StrCat("\n", Scrape()).find(absl::StrCat("\n", line, "\n")) != std::string::npos;
  }
  // Waits up to 10 s until a scrape shows `line`.
  ::testing::AssertionResult ShowsSoon(const std::string& line) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!Shows(line)) {
      if (absl::Now() > deadline) {
        return ::testing::AssertionFailure() << "no \"" << line << "\" in:\n" << Scrape();
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return ::testing::AssertionSuccess();
  }

  box::v1::AssignRequest Assign(const std::string& app, const std::string& user,
                                const std::string& session) {
    box::v1::AssignRequest request;
    request.set_app(app);
    request.set_user_id(user);
    request.set_session_id(session);
    return request;
  }
};

TEST_F(BoxManagerMetricsTest, CountsBoxesByStateCreatesAndStopsByReason) {
  EXPECT_TRUE(Shows(R"(berth_boxes{app="test-box",state="waiting"} 0)"));
  ASSERT_THAT(manager_->CreateBox(Request("b1", "u1")), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("w1", "")), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("w2", "")), IsOk());
  // A caller's reason counts as requested, whatever it says.
  ASSERT_THAT(manager_->StopBox("w2", "ttl"), IsOk());
  EXPECT_TRUE(Shows(R"(berth_boxes{app="test-box",state="allocated"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_boxes{app="test-box",state="waiting"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_boxes{app="test-box",state="dying"} 0)"));
  EXPECT_TRUE(Shows(R"(berth_boxes{app="quick-box",state="waiting"} 0)"));
  EXPECT_TRUE(Shows(R"(berth_warm_pool_waiting{app="test-box"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_box_create_seconds_count{app="test-box"} 3)"));
  EXPECT_TRUE(Shows(R"(berth_box_stop_seconds_count{app="test-box"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_box_stops_total{reason="requested"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_box_stops_total{reason="ttl"} 0)"));
  EXPECT_TRUE(Shows("berth_host_draining 0"));

  manager_->Drain();  // stops the WAITING box
  EXPECT_TRUE(Shows("berth_host_draining 1"));
  EXPECT_TRUE(ShowsSoon(R"(berth_box_stops_total{reason="drain"} 1)"));
  EXPECT_TRUE(ShowsSoon(R"(berth_boxes{app="test-box",state="waiting"} 0)"));
  EXPECT_TRUE(Shows(R"(berth_warm_pool_waiting{app="test-box"} 0)"));
  manager_->Undrain();
  EXPECT_TRUE(Shows("berth_host_draining 0"));
}

TEST_F(BoxManagerMetricsTest, TimesReadinessAndCountsBoxesThatWereNotReadyInTime) {
  ASSERT_THAT(manager_->CreateBox(Request("b1", "u1")), IsOk());
  std::ofstream(MappingFile("b1", "ready")) << "";
  EXPECT_TRUE(ShowsSoon(R"(berth_box_ready_seconds_count{app="test-box"} 1)"));

  box::v1::CreateRequest unready = Request("q1", "u1");
  unready.set_app("quick-box");  // ready within 1 s, or stopped
  unready.set_wait_for_ready(true);
  EXPECT_THAT(manager_->CreateBox(unready),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("readiness")));
  EXPECT_TRUE(Shows(R"(berth_box_ready_failures_total{app="quick-box"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_box_ready_failures_total{app="test-box"} 0)"));
  EXPECT_TRUE(Shows(R"(berth_box_stops_total{reason="unready"} 1)"));
}

TEST_F(BoxManagerMetricsTest, CountsAssignsFromThePoolAndCold) {
  ASSERT_THAT(manager_->CreateBox(Request("w1", "")), IsOk());
  ASSERT_THAT(manager_->AssignBox(Assign("test-box", "u1", "s1")), IsOk());
  ASSERT_THAT(manager_->AssignBox(Assign("test-box", "u1", "s1")), IsOk());   // the same again
  ASSERT_THAT(manager_->AssignBox(Assign("quick-box", "u2", "s2")), IsOk());  // none waits
  EXPECT_TRUE(Shows(R"(berth_box_assigns_total{app="test-box",from_pool="true"} 1)"));
  EXPECT_TRUE(Shows(R"(berth_box_assigns_total{app="test-box",from_pool="false"} 0)"));
  EXPECT_TRUE(Shows(R"(berth_box_assigns_total{app="quick-box",from_pool="false"} 1)"));
}

TEST_F(BoxManagerMetricsTest, ShowsTheEventStreamAndCountsResyncRepairs) {
  EXPECT_TRUE(ShowsSoon("berth_docker_event_stream_up 1"));
  EXPECT_TRUE(Shows("berth_docker_resync_repairs_total 0"));
  // A lease of no box: the resync's reconcile releases it.
  ASSERT_THAT(leases_.Reserve(ReserveRequestFor(*catalog_.Find("test-box"), "ghost")), IsOk());
  manager_->Resync();
  EXPECT_TRUE(Shows("berth_docker_resync_repairs_total 1"));
  manager_->Resync();  // nothing left to repair
  EXPECT_TRUE(Shows("berth_docker_resync_repairs_total 1"));
}

}  // namespace
}  // namespace berth::docker
