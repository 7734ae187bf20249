// BoxLifecycle's session transitions (assign, client config) and record commits, one test
// each, with the time given, including the races of AssignBox and SetConfig.
#include "docker-svc/boxes/box_lifecycle.h"

#include <memory>
#include <string>

#include "common/proto_time.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/testing/box_lifecycle_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using ::berth::docker::testing::BoxLifecycleTest;
using ::berth::docker::testing::kCreated;
using ::berth::docker::testing::TeardownOf;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Kind = BoxEffect::Kind;

// ---- Sessions --------------------------------------------------------------------------------

TEST_F(BoxLifecycleTest, AClaimedBoxIsAllocatedToItsUser) {
  BoxLifecycle life = Live();
  ASSERT_OK(life.BeginClaim());
  EXPECT_EQ(life.stage(), BoxStage::kClaiming);
  EXPECT_FALSE(life.Unclaimed());
  const absl::Time now = kCreated + absl::Seconds(9);
  ASSERT_OK_AND_ASSIGN(internal::BoxRecord next, life.FinishClaim(Request(), now));
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  EXPECT_EQ(next.box().state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(next.box().user_id(), "u1");
  EXPECT_EQ(next.box().session_id(), "s1");
  EXPECT_EQ(next.assign().session_id(), "s1");
  EXPECT_EQ(FromTimestamp(next.state_since()), now);
  // Nothing changes before the record is stored and committed.
  EXPECT_EQ(life.box().state(), box::v1::BOX_STATE_WAITING);
  life.Commit(next, now);
  EXPECT_EQ(life.box().user_id(), "u1");
}

TEST_F(BoxLifecycleTest, ASecondAssignCannotTakeABoxBeingClaimed) {
  BoxLifecycle life = Live();
  ASSERT_OK(life.BeginClaim());
  EXPECT_THAT(life.BeginClaim(),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("not WAITING for a user")));
}

TEST_F(BoxLifecycleTest, AnEndingBoxCannotBeClaimedAndSaysSo) {
  BoxLifecycle life = Live();
  life.RequestEnd("draining");
  EXPECT_THAT(life.BeginClaim(),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("WAITING and ending")));
}

// The race of AssignBox: the box ends (a Docker event) while its session_id file is written.
TEST_F(BoxLifecycleTest, ABoxThatEndsWhileClaimedAbortsTheClaim) {
  BoxLifecycle life = Live();
  ASSERT_OK(life.BeginClaim());
  EXPECT_THAT(life.OnContainerEnded({"die", "c1", 0}),
              ElementsAre(TeardownOf("died", std::nullopt)));
  EXPECT_THAT(life.FinishClaim(Request(), kCreated),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("ended while being assigned")));
  EXPECT_EQ(life.stage(), BoxStage::kEnding);
}

TEST_F(BoxLifecycleTest, AClaimWhoseFileFailedReturnsTheBoxOrEndsItWhenTheBoxBrokeIt) {
  BoxLifecycle ours = Live();
  ASSERT_OK(ours.BeginClaim());
  EXPECT_THAT(ours.AbandonClaim(/*box_broke_it=*/false), IsEmpty());
  EXPECT_TRUE(ours.Unclaimed());

  BoxLifecycle broken = Live();
  ASSERT_OK(broken.BeginClaim());
  EXPECT_THAT(broken.AbandonClaim(/*box_broke_it=*/true),
              ElementsAre(TeardownOf("its mapping directory cannot be written",
                                     absl::Seconds(7))));
  EXPECT_EQ(broken.stage(), BoxStage::kEnding);
}

TEST_F(BoxLifecycleTest, AColdBoxRecordsTheAssignThatMadeItOnce) {
  BoxLifecycle life = Live("u1");
  std::optional<internal::BoxRecord> next = life.RecordAssign(Request());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->assign().user_id(), "u1");
  life.Commit(*next, kCreated);
  EXPECT_FALSE(life.RecordAssign(Request()).has_value());
}

TEST_F(BoxLifecycleTest, AConfigWaitsForAUserAndForAnotherWriter) {
  BoxLifecycle waiting = Live();
  EXPECT_FALSE(waiting.ConfigSettled());
  BoxLifecycle life = Assigned();
  EXPECT_TRUE(life.ConfigSettled());
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, life.PlanConfig("d1", kCreated));
  EXPECT_EQ(life.stage(), BoxStage::kConfiguring);
  EXPECT_FALSE(life.ConfigSettled());
  BoxEffects ended;
  life.BeginTeardown("stopped", true, &ended);
  EXPECT_TRUE(life.ConfigSettled());  // an ended box answers at once
}

TEST_F(BoxLifecycleTest, TheFirstConfigIsRecordedThenWrittenThenConnecting) {
  BoxLifecycle life = Assigned();
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, life.PlanConfig("d1", kCreated));
  EXPECT_TRUE(plan.write);
  ASSERT_TRUE(plan.commit_first.has_value());
  EXPECT_EQ(plan.commit_first->config_sha256(), "d1");
  life.Commit(*plan.commit_first, kCreated);
  const absl::Time written = kCreated + absl::Seconds(1);
  BoxEffects effects = life.FinishConfig(absl::OkStatus(), written);
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(effects[0].kind, Kind::kCommitRecord);
  EXPECT_EQ(effects[0].record.box().state(), box::v1::BOX_STATE_CONNECTING);
  EXPECT_EQ(FromTimestamp(effects[0].record.state_since()), written);
}

TEST_F(BoxLifecycleTest, AConfigToABoxAlreadyReadyMakesItRunning) {
  BoxLifecycle life = Assigned();
  life.OnReady(kCreated);
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, life.PlanConfig("d1", kCreated));
  life.Commit(*plan.commit_first, kCreated);
  BoxEffects effects = life.FinishConfig(absl::OkStatus(), kCreated);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(effects[0].record.box().state(), box::v1::BOX_STATE_RUNNING);
}

TEST_F(BoxLifecycleTest, TheSameConfigAgainWritesNothingAndAnotherIsRefused) {
  BoxLifecycle life = Assigned();
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, life.PlanConfig("d1", kCreated));
  life.Commit(*plan.commit_first, kCreated);
  life.Commit(life.FinishConfig(absl::OkStatus(), kCreated)[0].record, kCreated);
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan again, life.PlanConfig("d1", kCreated));
  EXPECT_FALSE(again.write);
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  EXPECT_THAT(life.PlanConfig("d2", kCreated),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("another client config")));
}

// A restart cut the first write short: the record has the digest, the box is still ALLOCATED.
TEST_F(BoxLifecycleTest, AConfigCutShortByARestartIsWrittenAgainWithoutANewRecord) {
  BoxLifecycle life = Assigned();
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, life.PlanConfig("d1", kCreated));
  life.Commit(*plan.commit_first, kCreated);
  BoxLifecycle restarted = BoxLifecycle::Adopted(life.record(), &profile_);
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan again, restarted.PlanConfig("d1", kCreated));
  EXPECT_TRUE(again.write);
  EXPECT_FALSE(again.commit_first.has_value());
}

TEST_F(BoxLifecycleTest, AConfigWhoseRecordCouldNotBeStoredLeavesTheBoxAsItWas) {
  BoxLifecycle life = Assigned();
  ASSERT_OK(life.PlanConfig("d1", kCreated).status());
  life.AbandonConfig();
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  EXPECT_TRUE(life.record().config_sha256().empty());
}

TEST_F(BoxLifecycleTest, AConfigTheBoxCannotTakeEndsTheBox) {
  BoxLifecycle life = Assigned();
  ASSERT_OK(life.PlanConfig("d1", kCreated).status());
  EXPECT_THAT(life.FinishConfig(absl::FailedPreconditionError("full"), kCreated),
              ElementsAre(TeardownOf("its mapping directory cannot be written",
                                     absl::Seconds(7))));
  BoxLifecycle other = Assigned();
  ASSERT_OK(other.PlanConfig("d1", kCreated).status());
  EXPECT_THAT(other.FinishConfig(absl::InternalError("io"), kCreated), IsEmpty());
  EXPECT_EQ(other.stage(), BoxStage::kLive);
}

// The race of SetConfig: the box's teardown begins while config.json is written.
TEST_F(BoxLifecycleTest, AConfigWrittenAfterTheTeardownBeganChangesNothing) {
  BoxLifecycle life = Assigned();
  ASSERT_OK(life.PlanConfig("d1", kCreated).status());
  BoxEffects effects;
  ASSERT_EQ(life.BeginTeardown("died", false, &effects), TeardownStart::kStarted);
  EXPECT_THAT(life.FinishConfig(absl::OkStatus(), kCreated), IsEmpty());
  EXPECT_EQ(life.box().state(), box::v1::BOX_STATE_DYING);
}

// A stop scheduled (not begun) while config.json is written: the box still shows the config.
TEST_F(BoxLifecycleTest, AConfigWrittenWhileAnEndIsScheduledStillConnects) {
  BoxLifecycle life = Assigned();
  ASSERT_OK(life.PlanConfig("d1", kCreated).status());
  EXPECT_THAT(life.RequestEnd("shutdown requested by the box"), Not(IsEmpty()));
  BoxEffects effects = life.FinishConfig(absl::OkStatus(), kCreated);
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(effects[0].record.box().state(), box::v1::BOX_STATE_CONNECTING);
  EXPECT_EQ(life.stage(), BoxStage::kEnding);
}

// ---- Records ---------------------------------------------------------------------------------

TEST_F(BoxLifecycleTest, CommitMovesStateSinceOnlyWhenTheStateChanges) {
  BoxLifecycle life = Assigned();
  internal::BoxRecord same = life.record();
  same.set_config_sha256("d1");
  life.Commit(same, kCreated + absl::Hours(1));
  EXPECT_EQ(FromTimestamp(life.record().state_since()), kCreated);
  internal::BoxRecord changed = life.record();
  changed.mutable_box()->set_state(box::v1::BOX_STATE_CONNECTING);
  life.Commit(changed, kCreated + absl::Hours(2));
  EXPECT_EQ(FromTimestamp(life.record().state_since()), kCreated + absl::Hours(2));
}

TEST_F(BoxLifecycleTest, AnAdoptedBoxIsLive) {
  BoxLifecycle life = BoxLifecycle::Adopted(Made(NewRecord()), &profile_);
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  EXPECT_TRUE(life.Unclaimed());
}

TEST_F(BoxLifecycleTest, StagesHaveNames) {
  EXPECT_STREQ(BoxStageName(BoxStage::kCreatingEnded), "creating (ended)");
  EXPECT_STREQ(BoxStageName(BoxStage::kStopping), "stopping");
}

// Death tests see the dying process's stderr; spdlog's default logger writes to stdout.
void LogToStderr() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "box_lifecycle_test", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
}

TEST_F(BoxLifecycleTest, ABoxWithoutAProfileIsImpossible) {
  EXPECT_DEATH(
      {
        LogToStderr();
        BoxLifecycle(NewRecord(), nullptr);
      },
      "invariant violated: a box has a profile");
}

TEST_F(BoxLifecycleTest, OnlyACreateSetsTheContainer) {
  BoxLifecycle life = Live();
  EXPECT_DEATH(
      {
        LogToStderr();
        life.SetContainerId("c2");
      },
      "only a create sets a box's container");
}

}  // namespace
}  // namespace berth::docker
