// One test per transition of BoxLifecycle, with the time given (no clock, no threads, no
// sleeps), including the races BoxManager's comments describe.
#include "docker-svc/boxes/box_lifecycle.h"

#include <string>

#include "common/proto_time.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using ::berth::common::ToTimestamp;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Kind = BoxEffect::Kind;

const absl::Time kCreated = absl::FromUnixSeconds(1'800'000'000);

BoxEffect Publish() { return BoxEffect{Kind::kPublishChanged, "", std::nullopt, {}}; }
BoxEffect Persist() { return BoxEffect{Kind::kPersist, "", std::nullopt, {}}; }
BoxEffect TeardownOf(std::string reason, std::optional<absl::Duration> grace) {
  return BoxEffect{Kind::kScheduleTeardown, std::move(reason), grace, {}};
}

class BoxLifecycleTest : public ::testing::Test {
 protected:
  BoxLifecycleTest() {
    profile_.set_stop_grace_seconds(7);
    profile_.set_config_timeout_seconds(60);
    profile_.set_readiness_timeout_seconds(30);
  }

  internal::BoxRecord NewRecord(const std::string& user = "") const {
    internal::BoxRecord record;
    record.mutable_box()->set_box_id("b1");
    record.mutable_box()->set_app("desktop");
    record.mutable_box()->set_user_id(user);
    *record.mutable_box()->mutable_created_at() = ToTimestamp(kCreated);
    return record;
  }

  // The record the create steps end with: container c1, WAITING (or ALLOCATED with a user).
  internal::BoxRecord Made(internal::BoxRecord record) const {
    record.mutable_box()->set_container_id("c1");
    record.mutable_box()->set_state(record.box().user_id().empty()
                                        ? box::v1::BOX_STATE_WAITING
                                        : box::v1::BOX_STATE_ALLOCATED);
    *record.mutable_state_since() = ToTimestamp(kCreated);
    return record;
  }

  BoxLifecycle Live(const std::string& user = "") const {
    BoxLifecycle life(NewRecord(user), &profile_);
    life.SetContainerId("c1");
    life.OnCreated(Made(NewRecord(user)), /*draining=*/false);
    return life;
  }

  // A live box assigned to u1 (session s1) at kCreated.
  BoxLifecycle Assigned() const {
    BoxLifecycle life = Live();
    EXPECT_OK(life.BeginClaim());
    absl::StatusOr<internal::BoxRecord> next = life.FinishClaim(Request(), kCreated);
    EXPECT_OK(next.status());
    life.Commit(*next, kCreated);
    return life;
  }

  static box::v1::AssignRequest Request() {
    box::v1::AssignRequest request;
    request.set_app("desktop");
    request.set_user_id("u1");
    request.set_session_id("s1");
    return request;
  }

  box::v1::AppProfile profile_;
};

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

TEST_F(BoxLifecycleTest, ABoxWithoutAProfileIsImpossible) {
  EXPECT_DEATH(BoxLifecycle(NewRecord(), nullptr), "invariant violated: a box has a profile");
}

TEST_F(BoxLifecycleTest, OnlyACreateSetsTheContainer) {
  BoxLifecycle life = Live();
  EXPECT_DEATH(life.SetContainerId("c2"), "only a create sets a box's container");
}

}  // namespace
}  // namespace berth::docker
