// CreateSteps and TeardownSteps: one test per step and per failure, with the time given (no
// I/O, no clock, no sleeps).
#include "docker-svc/boxes/box_steps.h"

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
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

class CreateStepsTest : public ::testing::Test {
 protected:
  CreateStepsTest() {
    profile_.set_image("berth/test-box:latest");
    profile_.set_mappings_dir("/whist/resourceMappings");
    profile_.set_readiness_marker(".ready");
  }

  internal::BoxRecord Record(const std::string& user = "") const {
    internal::BoxRecord record;
    record.mutable_box()->set_box_id("b1");
    record.mutable_box()->set_user_id(user);
    return record;
  }

  static CreateStepResult Ok() { return Failed(absl::OkStatus()); }
  static CreateStepResult Failed(absl::Status status) {
    CreateStepResult result;
    result.status = std::move(status);
    return result;
  }
  static CreateStepResult Reserved() {
    CreateStepResult result = Ok();
    result.lease.set_tty(12);
    result.lease.set_gpu_index(-1);
    allocator::v1::PortBinding* port = result.lease.add_ports();
    port->set_container_port(32261);
    port->set_host_port(20001);
    return result;
  }
  static CreateStepResult Created() {
    CreateStepResult result = Ok();
    result.container_id = "c1";
    return result;
  }
  static CreateStepResult Found() {
    CreateStepResult result = Ok();
    result.mapping_dir = "/var/lib/docker/volumes/v1/_data";
    result.mapping_volume = "v1";
    return result;
  }

  // Runs the steps with every result OK up to (not including) `stop`.
  void RunUntil(CreateSteps& steps, CreateStep stop) {
    while (steps.step() != stop) {
      CreateStepResult result = Ok();
      if (steps.step() == CreateStep::kReserve) result = Reserved();
      if (steps.step() == CreateStep::kCreateContainer) result = Created();
      if (steps.step() == CreateStep::kFindMappingDir) result = Found();
      ASSERT_OK(steps.Advance(result, kNow).status());
    }
  }

  box::v1::AppProfile profile_;
};

TEST_F(CreateStepsTest, TheStepsRunInOrderAndFoldTheirAnswersIntoTheRecord) {
  CreateSteps steps(Record(), &profile_);
  EXPECT_EQ(steps.step(), CreateStep::kRecordIntent);
  const CreateStep order[] = {CreateStep::kReserve,        CreateStep::kCreateContainer,
                              CreateStep::kBind,           CreateStep::kStart,
                              CreateStep::kFindMappingDir, CreateStep::kWriteMappingFiles,
                              CreateStep::kRecordMade};
  for (CreateStep expected : order) {
    CreateStepResult result = Ok();
    if (steps.step() == CreateStep::kReserve) result = Reserved();
    if (steps.step() == CreateStep::kCreateContainer) result = Created();
    if (steps.step() == CreateStep::kFindMappingDir) result = Found();
    ASSERT_OK_AND_ASSIGN(std::optional<CreateStep> next, steps.Advance(result, kNow));
    EXPECT_EQ(next, expected);
  }
  ASSERT_OK_AND_ASSIGN(std::optional<CreateStep> done, steps.Advance(Ok(), kNow));
  EXPECT_FALSE(done.has_value());
  const box::v1::Box& box = steps.record().box();
  EXPECT_EQ(box.tty(), 12);
  EXPECT_EQ(box.ports(0).host_port(), 20001u);
  EXPECT_EQ(box.container_id(), "c1");
  EXPECT_EQ(steps.record().mapping_volume(), "v1");
  EXPECT_EQ(box.state(), box::v1::BOX_STATE_WAITING);
  EXPECT_EQ(FromTimestamp(box.started_at()), kNow);
  EXPECT_FALSE(box.has_ready_at());
}

TEST_F(CreateStepsTest, ABoxWithAUserIsAllocatedAndOneWithoutAMarkerIsReadyAtOnce) {
  profile_.clear_readiness_marker();
  internal::BoxRecord record = Record("u1");
  record.mutable_request()->set_wait_for_ready(true);
  CreateSteps steps(record, &profile_);
  RunUntil(steps, CreateStep::kRecordMade);
  EXPECT_EQ(steps.record().box().state(), box::v1::BOX_STATE_RUNNING);
  EXPECT_EQ(FromTimestamp(steps.record().box().ready_at()), kNow);

  profile_.set_readiness_marker(".ready");
  CreateSteps marked(Record("u1"), &profile_);
  RunUntil(marked, CreateStep::kRecordMade);
  EXPECT_EQ(marked.record().box().state(), box::v1::BOX_STATE_ALLOCATED);
}

TEST_F(CreateStepsTest, AFailedRecordUndoesNothing) {
  CreateSteps steps(Record(), &profile_);
  EXPECT_THAT(steps.Advance(Failed(absl::InternalError("disk")), kNow),
              StatusIs(absl::StatusCode::kInternal, "create box b1: record the box: disk"));
  CreateUndo undo = steps.undo();
  EXPECT_FALSE(undo.delete_record || undo.release_lease || undo.remove_container);
}

TEST_F(CreateStepsTest, AFailedReserveIsReleasedAnywayAndTheRecordDeleted) {
  CreateSteps steps(Record(), &profile_);
  RunUntil(steps, CreateStep::kReserve);
  EXPECT_THAT(steps.Advance(Failed(absl::ResourceExhaustedError("no ports")), kNow),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "create box b1: reserve host resources: no ports"));
  CreateUndo undo = steps.undo();
  EXPECT_TRUE(undo.release_lease) << "its answer may have been lost";
  EXPECT_TRUE(undo.delete_record);
  EXPECT_FALSE(undo.remove_container);
}

TEST_F(CreateStepsTest, AMissingImageIsAFailedPreconditionAndALostCreateIsLookedForByName) {
  CreateSteps steps(Record(), &profile_);
  RunUntil(steps, CreateStep::kCreateContainer);
  EXPECT_THAT(steps.Advance(Failed(absl::NotFoundError("no such image")), kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("docker create: image berth/test-box:latest is not on this host "
                                 "(Berth never pulls): no such image")));
  CreateUndo undo = steps.undo();
  EXPECT_TRUE(undo.remove_container);
  EXPECT_TRUE(undo.find_by_name);
  EXPECT_TRUE(undo.container_id.empty());
}

TEST_F(CreateStepsTest, AFailureAfterTheContainerRemovesItById) {
  for (CreateStep failing : {CreateStep::kBind, CreateStep::kStart, CreateStep::kFindMappingDir,
                             CreateStep::kWriteMappingFiles, CreateStep::kRecordMade}) {
    CreateSteps steps(Record(), &profile_);
    RunUntil(steps, failing);
    EXPECT_THAT(steps.Advance(Failed(absl::UnavailableError("down")), kNow),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr(absl::StrCat(": ", CreateStepName(failing), ": down"))));
    CreateUndo undo = steps.undo();
    EXPECT_TRUE(undo.remove_container);
    EXPECT_EQ(undo.container_id, "c1");
    EXPECT_FALSE(undo.find_by_name);
    EXPECT_TRUE(undo.release_lease);
    EXPECT_TRUE(undo.delete_record);
  }
}

TEST_F(CreateStepsTest, AContainerWithoutAMappingVolumeFailsTheCreate) {
  CreateSteps steps(Record(), &profile_);
  RunUntil(steps, CreateStep::kFindMappingDir);
  EXPECT_THAT(steps.Advance(Ok(), kNow),
              StatusIs(absl::StatusCode::kInternal,
                       "create box b1: find the mapping directory: the container has no volume "
                       "at /whist/resourceMappings"));
}

// ---- Teardown --------------------------------------------------------------------------------

class TeardownStepsTest : public ::testing::Test {
 protected:
  static box::v1::Box Dying() {
    box::v1::Box box;
    box.set_box_id("b1");
    box.set_state(box::v1::BOX_STATE_DYING);
    *box.mutable_started_at() = ToTimestamp(kNow - absl::Minutes(10));
    return box;
  }
  static TeardownStepResult Ok() { return Failed(absl::OkStatus()); }
  static TeardownStepResult Failed(absl::Status status) {
    TeardownStepResult result;
    result.status = std::move(status);
    return result;
  }
  // Advances with `result`, expecting `next` and no retry.
  static void ExpectNext(TeardownSteps& steps, const TeardownStepResult& result,
                         std::optional<TeardownStep> next) {
    bool retry = true;
    EXPECT_EQ(steps.Advance(result, kNow, &retry), next);
    EXPECT_FALSE(retry);
  }
};

TEST_F(TeardownStepsTest, AStopWithAGraceStopsFirstThenRemovesReleasesAndIsGone) {
  TeardownSteps steps(Dying(), "stopped", absl::Seconds(5), std::nullopt, false);
  EXPECT_EQ(steps.step(), TeardownStep::kStopContainer);
  ExpectNext(steps, Failed(absl::UnavailableError("stop failed")), TeardownStep::kInspectEnd);
  TeardownStepResult inspected = Ok();
  inspected.exit_code = 143;
  inspected.started_at = kNow - absl::Minutes(9);
  inspected.finished_at = kNow - absl::Minutes(1);
  ExpectNext(steps, inspected, TeardownStep::kRemoveContainer);
  ExpectNext(steps, Ok(), TeardownStep::kRemoveMappingDir);
  ExpectNext(steps, Failed(absl::InternalError("busy")), TeardownStep::kDeleteRecord);
  ExpectNext(steps, Failed(absl::InternalError("io")), TeardownStep::kRelease);
  ExpectNext(steps, Ok(), std::nullopt);
  box::v1::BoxEvent end = steps.final_event();
  EXPECT_EQ(end.exit_code(), 143);
  EXPECT_EQ(end.run_time().seconds(), 8 * 60);
  EXPECT_EQ(end.box().reason(), "stopped");
  EXPECT_EQ(end.box().state(), box::v1::BOX_STATE_DYING);
}

TEST_F(TeardownStepsTest, AnEndWithoutGraceSkipsTheStop) {
  TeardownSteps steps(Dying(), "died", std::nullopt, 1, false);
  EXPECT_EQ(steps.step(), TeardownStep::kInspectEnd);
}

TEST_F(TeardownStepsTest, RemovalAndReleaseAreRetriedUntilTheyWork) {
  TeardownSteps steps(Dying(), "died", std::nullopt, std::nullopt, false);
  ExpectNext(steps, Ok(), TeardownStep::kRemoveContainer);
  bool retry = false;
  EXPECT_EQ(steps.Advance(Failed(absl::UnavailableError("engine busy")), kNow, &retry),
            TeardownStep::kRemoveContainer);
  EXPECT_TRUE(retry);
  ExpectNext(steps, Ok(), TeardownStep::kRemoveMappingDir);
  ExpectNext(steps, Ok(), TeardownStep::kDeleteRecord);
  ExpectNext(steps, Ok(), TeardownStep::kRelease);
  EXPECT_EQ(steps.Advance(Failed(absl::UnavailableError("allocator down")), kNow, &retry),
            TeardownStep::kRelease);
  EXPECT_TRUE(retry);
  EXPECT_EQ(steps.final_event().box().reason(), "died");
}

TEST_F(TeardownStepsTest, AContainerSomeoneElseRemovedTurnsDiedIntoRemoved) {
  TeardownSteps steps(Dying(), "died", std::nullopt, std::nullopt, false);
  ExpectNext(steps, Ok(), TeardownStep::kRemoveContainer);
  bool retry = false;
  // "removal already in progress": wait for it.
  steps.Advance(Failed(absl::FailedPreconditionError("in progress")), kNow, &retry);
  EXPECT_TRUE(retry);
  ExpectNext(steps, Failed(absl::NotFoundError("gone")), TeardownStep::kRemoveMappingDir);
  EXPECT_EQ(steps.final_event().box().reason(), "removed");
}

TEST_F(TeardownStepsTest, AnOomKillTurnsDiedOrRemovedIntoOomButNotAStop) {
  TeardownSteps died(Dying(), "died", std::nullopt, 137, /*oom_seen=*/true);
  ExpectNext(died, Failed(absl::NotFoundError("gone")), TeardownStep::kRemoveContainer);
  box::v1::BoxEvent end = died.final_event();
  EXPECT_TRUE(end.oom_killed());
  EXPECT_EQ(end.exit_code(), 137) << "from the events when Docker no longer knows it";
  EXPECT_EQ(end.box().reason(), "oom");

  TeardownSteps stopped(Dying(), "stopped", std::nullopt, std::nullopt, false);
  TeardownStepResult inspected = Ok();
  inspected.oom_killed = true;
  ExpectNext(stopped, inspected, TeardownStep::kRemoveContainer);
  EXPECT_EQ(stopped.final_event().box().reason(), "stopped");
  EXPECT_TRUE(stopped.final_event().oom_killed());
}

TEST_F(TeardownStepsTest, WithoutDockersAnswerTheRunTimeEndsNowAndTheExitCodeIsUnknown) {
  TeardownSteps steps(Dying(), "ttl", std::nullopt, std::nullopt, false);
  ExpectNext(steps, Failed(absl::UnavailableError("down")), TeardownStep::kRemoveContainer);
  EXPECT_EQ(steps.final_event().exit_code(), -1);
  EXPECT_EQ(steps.final_event().run_time().seconds(), 10 * 60);
}

}  // namespace
}  // namespace berth::docker
