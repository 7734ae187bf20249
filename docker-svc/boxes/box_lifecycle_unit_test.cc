// BoxLifecycle's create, end and timer transitions, one test each, with the time given (no
// clock, no threads, no sleeps), including the races BoxManager's comments describe.
#include "docker-svc/boxes/box_lifecycle.h"

#include <string>

#include "common/proto_time.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/testing/box_lifecycle_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using ::berth::docker::testing::BoxLifecycleTest;
using ::berth::docker::testing::kCreated;
using ::berth::docker::testing::Persist;
using ::berth::docker::testing::Publish;
using ::berth::docker::testing::TeardownOf;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ---- Create ----------------------------------------------------------------------------------

TEST_F(BoxLifecycleTest, ANewBoxIsCreatingAndNeitherListedNorLive) {
  BoxLifecycle life(NewRecord(), &profile_);
  EXPECT_EQ(life.stage(), BoxStage::kCreating);
  EXPECT_FALSE(life.Listed());
  EXPECT_FALSE(life.Live());
  EXPECT_FALSE(life.Unclaimed());
  EXPECT_FALSE(life.AwaitsReadiness());
}

TEST_F(BoxLifecycleTest, CreatedBecomesLiveWithTheMadeRecordAndIsPublished) {
  BoxLifecycle life(NewRecord(), &profile_);
  EXPECT_THAT(life.OnCreated(Made(NewRecord()), /*draining=*/false), ElementsAre(Publish()));
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  EXPECT_EQ(life.box().container_id(), "c1");
  EXPECT_TRUE(life.Unclaimed());
  EXPECT_TRUE(life.AwaitsReadiness());
}

TEST_F(BoxLifecycleTest, AWaitingBoxCreatedWhileDrainingIsStoppedWithItsGrace) {
  BoxLifecycle life(NewRecord(), &profile_);
  EXPECT_THAT(life.OnCreated(Made(NewRecord()), /*draining=*/true),
              ElementsAre(Publish(), TeardownOf("draining", absl::Seconds(7))));
  EXPECT_EQ(life.stage(), BoxStage::kEnding);
  EXPECT_FALSE(life.Unclaimed());
}

TEST_F(BoxLifecycleTest, ABoxWithAUserCreatedWhileDrainingRunsOn) {
  BoxLifecycle life(NewRecord("u1"), &profile_);
  EXPECT_THAT(life.OnCreated(Made(NewRecord("u1")), /*draining=*/true), ElementsAre(Publish()));
  EXPECT_EQ(life.stage(), BoxStage::kLive);
}

TEST_F(BoxLifecycleTest, AnEndBeforeTheContainerExistsIsTheUndosOwnAndIgnored) {
  BoxLifecycle life(NewRecord(), &profile_);
  EXPECT_THAT(life.OnContainerEnded({"destroy", "c0", std::nullopt}), IsEmpty());
  EXPECT_EQ(life.stage(), BoxStage::kCreating);
  EXPECT_THAT(life.OnCreated(Made(NewRecord()), false), ElementsAre(Publish()));
}

TEST_F(BoxLifecycleTest, AContainerThatDiesWhileItsCreateRunsEndsOnceMade) {
  BoxLifecycle life(NewRecord(), &profile_);
  life.SetContainerId("c1");
  EXPECT_THAT(life.OnContainerEnded({"die", "c1", 3}), IsEmpty());
  EXPECT_EQ(life.stage(), BoxStage::kCreatingEnded);
  EXPECT_FALSE(life.Listed());
  // The first end's reason is kept.
  EXPECT_THAT(life.OnContainerEnded({"destroy", "c1", std::nullopt}), IsEmpty());
  EXPECT_THAT(life.OnCreated(Made(NewRecord()), /*draining=*/true),
              ElementsAre(Publish(), TeardownOf("died", std::nullopt)));
  EXPECT_EQ(life.stage(), BoxStage::kEnding);
  EXPECT_EQ(life.exit_code_seen(), 3);
}

TEST_F(BoxLifecycleTest, ATeardownThatWaitsForTheCreateIsToldToWait) {
  BoxLifecycle life(NewRecord(), &profile_);
  BoxEffects effects;
  EXPECT_EQ(life.BeginTeardown("stopped", /*wait_for_create=*/true, &effects),
            TeardownStart::kAwaitCreate);
  EXPECT_EQ(life.stage(), BoxStage::kCreating);
  EXPECT_THAT(effects, IsEmpty());
}

TEST_F(BoxLifecycleTest, ATeardownThatDoesNotWaitIsDeferredToTheCreatesEnd) {
  BoxLifecycle life(NewRecord(), &profile_);
  BoxEffects effects;
  EXPECT_EQ(life.BeginTeardown("ttl", /*wait_for_create=*/false, &effects),
            TeardownStart::kDeferred);
  EXPECT_EQ(life.stage(), BoxStage::kCreatingEnded);
  EXPECT_THAT(life.OnCreated(Made(NewRecord()), false),
              ElementsAre(Publish(), TeardownOf("ttl", std::nullopt)));
}

// ---- Ends ------------------------------------------------------------------------------------

TEST_F(BoxLifecycleTest, DockerEventsEndALiveBox) {
  BoxLifecycle died = Live();
  EXPECT_THAT(died.OnContainerEnded({"die", "c1", 137}),
              ElementsAre(TeardownOf("died", std::nullopt)));
  EXPECT_EQ(died.stage(), BoxStage::kEnding);
  EXPECT_EQ(died.exit_code_seen(), 137);

  BoxLifecycle removed = Live();
  EXPECT_THAT(removed.OnContainerEnded({"destroy", "c1", std::nullopt}),
              ElementsAre(TeardownOf("removed", std::nullopt)));

  // An OOM kill ends the box at once; its die that follows still says oom.
  BoxLifecycle oom = Live();
  EXPECT_THAT(oom.OnContainerEnded({"oom", "c1", std::nullopt}),
              ElementsAre(TeardownOf("oom", absl::ZeroDuration())));
  EXPECT_TRUE(oom.oom_seen());
  EXPECT_THAT(oom.OnContainerEnded({"die", "c1", 137}),
              ElementsAre(TeardownOf("oom", std::nullopt)));
}

TEST_F(BoxLifecycleTest, EventsOfAnotherContainerOrOtherActionsChangeNothing) {
  BoxLifecycle life = Live();
  EXPECT_THAT(life.OnContainerEnded({"die", "c0", 1}), IsEmpty());
  EXPECT_THAT(life.OnContainerEnded({"start", "c1", std::nullopt}), IsEmpty());
  EXPECT_EQ(life.stage(), BoxStage::kLive);
  EXPECT_FALSE(life.exit_code_seen().has_value());
}

TEST_F(BoxLifecycleTest, EventsDuringTheTeardownOnlyAddFactsForTheFinalEvent) {
  BoxLifecycle life = Live();
  BoxEffects effects;
  ASSERT_EQ(life.BeginTeardown("stopped", true, &effects), TeardownStart::kStarted);
  EXPECT_THAT(life.OnContainerEnded({"oom", "c1", std::nullopt}), IsEmpty());
  EXPECT_THAT(life.OnContainerEnded({"die", "c1", 137}), IsEmpty());
  EXPECT_TRUE(life.oom_seen());
  EXPECT_EQ(life.exit_code_seen(), 137);
  EXPECT_EQ(life.stage(), BoxStage::kStopping);
}

TEST_F(BoxLifecycleTest, ARuleEndsABoxOnceWithItsProfilesGraceOrTheOneGiven) {
  BoxLifecycle life = Live();
  EXPECT_THAT(life.RequestEnd("shutdown requested by the box"),
              ElementsAre(TeardownOf("shutdown requested by the box", absl::Seconds(7))));
  EXPECT_THAT(life.RequestEnd("draining"), IsEmpty());
  EXPECT_THAT(life.OnTick(kCreated + absl::Hours(100), absl::ZeroDuration()), IsEmpty());

  BoxLifecycle disk = Live();
  EXPECT_THAT(disk.RequestEnd("disk", absl::ZeroDuration()),
              ElementsAre(TeardownOf("disk", absl::ZeroDuration())));
}

TEST_F(BoxLifecycleTest, ATeardownMakesTheBoxDyingOnceAndASecondWaitsForIt) {
  BoxLifecycle life = Live();
  BoxEffects effects;
  EXPECT_EQ(life.BeginTeardown("stopped", true, &effects), TeardownStart::kStarted);
  EXPECT_THAT(effects, ElementsAre(Publish()));
  EXPECT_EQ(life.box().state(), box::v1::BOX_STATE_DYING);
  EXPECT_EQ(life.box().reason(), "stopped");
  EXPECT_TRUE(life.Listed());
  EXPECT_FALSE(life.Live());
  effects.clear();
  EXPECT_EQ(life.BeginTeardown("ttl", false, &effects), TeardownStart::kAwaitOtherStop);
  EXPECT_THAT(effects, IsEmpty());
  EXPECT_EQ(life.box().reason(), "stopped");
  EXPECT_THAT(life.RequestEnd("draining"), IsEmpty());
}

TEST_F(BoxLifecycleTest, AScheduledEndStillLetsItsTeardownBegin) {
  BoxLifecycle life = Live();
  life.RequestEnd("draining");
  BoxEffects effects;
  EXPECT_EQ(life.BeginTeardown("draining", false, &effects), TeardownStart::kStarted);
}

// ---- Timers ----------------------------------------------------------------------------------

TEST_F(BoxLifecycleTest, TheTtlEndsTheBoxAtItsTimeAndOnlyOnce) {
  internal::BoxRecord record = NewRecord();
  record.mutable_box()->mutable_ttl()->set_seconds(600);
  BoxLifecycle life(record, &profile_);
  life.OnCreated(Made(record), false);
  EXPECT_THAT(life.OnTick(kCreated + absl::Seconds(599), absl::ZeroDuration()), IsEmpty());
  EXPECT_THAT(life.OnTick(kCreated + absl::Seconds(600), absl::ZeroDuration()),
              ElementsAre(TeardownOf("ttl", absl::Seconds(7))));
  EXPECT_THAT(life.OnTick(kCreated + absl::Seconds(601), absl::ZeroDuration()), IsEmpty());
}

TEST_F(BoxLifecycleTest, NoTtlNeverEnds) {
  BoxLifecycle life = Live();
  EXPECT_THAT(life.OnTick(kCreated + absl::Hours(10000), absl::ZeroDuration()), IsEmpty());
}

TEST_F(BoxLifecycleTest, TheSweeperEndsAnAssignedBoxWithoutAConfigAfterItsTimeout) {
  BoxLifecycle life = Assigned();
  EXPECT_THAT(life.OnTick(kCreated + absl::Seconds(59), absl::ZeroDuration()), IsEmpty());
  EXPECT_THAT(life.OnTick(kCreated + absl::Seconds(60), absl::ZeroDuration()),
              ElementsAre(TeardownOf("no client config within 60s", absl::Seconds(7))));
}

TEST_F(BoxLifecycleTest, TheSweeperLeavesAWaitingBoxAndABackendsBoxWithoutAssign) {
  BoxLifecycle waiting = Live();
  EXPECT_THAT(waiting.OnTick(kCreated + absl::Hours(1), absl::ZeroDuration()), IsEmpty());
  // Made ALLOCATED by the backend's create (not an assign, not by the user): no config due.
  BoxLifecycle backend = Live("u1");
  EXPECT_THAT(backend.OnTick(kCreated + absl::Hours(1), absl::ZeroDuration()), IsEmpty());
}

TEST_F(BoxLifecycleTest, TheSweeperEndsAUsersOwnBoxWithoutAConfig) {
  internal::BoxRecord record = NewRecord("u1");
  record.set_created_by_user(true);
  BoxLifecycle life(record, &profile_);
  life.OnCreated(Made(record), false);
  EXPECT_THAT(life.OnTick(kCreated + absl::Seconds(60), absl::ZeroDuration()),
              ElementsAre(TeardownOf("no client config within 60s", absl::Seconds(7))));
}

TEST_F(BoxLifecycleTest, TheSweeperEndsABoxConnectingPastItsReadinessTimeoutAndSlack) {
  BoxLifecycle life = Assigned();
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, life.PlanConfig("d1", kCreated));
  life.Commit(*plan.commit_first, kCreated);
  const absl::Time configured = kCreated + absl::Seconds(10);
  BoxEffects effects = life.FinishConfig(absl::OkStatus(), configured);
  ASSERT_EQ(effects.size(), 1u);
  life.Commit(effects[0].record, configured);
  const absl::Duration slack = absl::Seconds(5);
  EXPECT_THAT(life.OnTick(configured + absl::Seconds(34), slack), IsEmpty());
  EXPECT_THAT(life.OnTick(configured + absl::Seconds(35), slack),
              ElementsAre(TeardownOf("not ready after its config", absl::Seconds(7))));
}

TEST_F(BoxLifecycleTest, ReadinessKeepsAWaitingBoxWaitingAndStampsReadyAt) {
  BoxLifecycle life = Live();
  const absl::Time ready = kCreated + absl::Seconds(3);
  EXPECT_THAT(life.OnReady(ready), ElementsAre(Persist(), Publish()));
  EXPECT_EQ(life.box().state(), box::v1::BOX_STATE_WAITING);
  EXPECT_EQ(FromTimestamp(life.box().ready_at()), ready);
  EXPECT_EQ(FromTimestamp(life.record().state_since()), kCreated);  // the state did not change
  EXPECT_FALSE(life.AwaitsReadiness());
  EXPECT_THAT(life.OnReady(ready + absl::Seconds(1)), IsEmpty());
}

TEST_F(BoxLifecycleTest, ReadinessMakesAConnectingBoxOrOneCreatedToWaitRunning) {
  internal::BoxRecord record = NewRecord();
  record.mutable_request()->set_wait_for_ready(true);
  BoxLifecycle waited(record, &profile_);
  waited.OnCreated(Made(record), false);
  const absl::Time ready = kCreated + absl::Seconds(2);
  waited.OnReady(ready);
  EXPECT_EQ(waited.box().state(), box::v1::BOX_STATE_RUNNING);
  EXPECT_EQ(FromTimestamp(waited.record().state_since()), ready);

  BoxLifecycle connecting = Assigned();
  ASSERT_OK_AND_ASSIGN(BoxLifecycle::ConfigPlan plan, connecting.PlanConfig("d1", kCreated));
  connecting.Commit(*plan.commit_first, kCreated);
  connecting.Commit(connecting.FinishConfig(absl::OkStatus(), kCreated)[0].record, kCreated);
  ASSERT_EQ(connecting.box().state(), box::v1::BOX_STATE_CONNECTING);
  connecting.OnReady(ready);
  EXPECT_EQ(connecting.box().state(), box::v1::BOX_STATE_RUNNING);
}

TEST_F(BoxLifecycleTest, ADyingBoxIsNotMadeReady) {
  BoxLifecycle life = Live();
  BoxEffects effects;
  life.BeginTeardown("stopped", true, &effects);
  EXPECT_FALSE(life.AwaitsReadiness());
  EXPECT_THAT(life.OnReady(kCreated), IsEmpty());
}

}  // namespace
}  // namespace berth::docker
