// BoxManager against an in-memory Docker engine and an in-memory allocator: the order of a
// create's steps, the undo of every step, a box's end and the startup recovery. The same
// behaviour against the real engine and daemons is in tests/box_*_test.cc.
#include "docker-svc/boxes/box_manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "docker-svc/boxes/app_profiles.h"
#include "docker-svc/boxes/testing/box_manager_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::Contains;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace av1 = allocator::v1;

using BoxManagerTest = testing::BoxManagerFixture;

TEST_F(BoxManagerTest, CreateLeasesWritesFilesThenCreatesBindsAndStarts) {
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse created, manager_->CreateBox(Request("b1")));
  EXPECT_TRUE(created.created());
  const box::v1::Box& box = created.box();
  EXPECT_EQ(box.state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(box.tty(), 10);
  ASSERT_EQ(box.ports_size(), 2);
  EXPECT_EQ(box.ports(0).host_port(), 20000u);
  EXPECT_FALSE(box.container_id().empty());
  EXPECT_THAT(leases_.calls(), ElementsAre("reserve b1", "bind b1"));
  // The mapping directory is the container's own volume: found once it runs, then written.
  EXPECT_THAT(docker_.calls(), ElementsAre("create berth-b1", absl::StrCat("start ", box.container_id()),
                                           absl::StrCat("inspect ", box.container_id())));
  EXPECT_EQ(leases_.leases().at("b1").container_id(), box.container_id());
  EXPECT_TRUE(Exists(MappingFile("b1", ".paramsReady")));
  EXPECT_TRUE(Exists(boxes_.File(".records/b1")));
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, docker_.InspectContainer("berth-b1"));
  EXPECT_EQ(info.labels.at("berth.user_id"), "u1");

  ASSERT_OK_AND_ASSIGN(box::v1::Box got, manager_->GetBox("b1"));
  EXPECT_EQ(got.container_id(), box.container_id());
  EXPECT_THAT(manager_->ListBoxes({}), ::testing::SizeIs(1));

  // The same request again is the same box; another request for the id is refused.
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse again, manager_->CreateBox(Request("b1")));
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.box().container_id(), box.container_id());
  EXPECT_THAT(manager_->CreateBox(Request("b1", "someone-else")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("b1")));
}

TEST_F(BoxManagerTest, EveryFailingStepUndoesTheEarlierOnesAndIsNamed) {
  struct Case {
    std::function<void()> inject;
    absl::StatusCode code;
    std::string step;
  };
  const std::vector<Case> cases = {
      {[&] { leases_.FailNext("reserve", absl::ResourceExhaustedError("no tty left")); },
       absl::StatusCode::kResourceExhausted, "reserve host resources: no tty left"},
      {[&] { docker_.FailNext("create", absl::NotFoundError("no such image")); },
       absl::StatusCode::kFailedPrecondition, "docker create: image berth/test-box:latest"},
      {[&] { leases_.FailNext("bind", absl::UnavailableError("allocator down")); },
       absl::StatusCode::kUnavailable, "bind the lease: allocator down"},
      {[&] { docker_.FailNext("start", absl::InvalidArgumentError("bad device")); },
       absl::StatusCode::kInvalidArgument, "docker start: bad device"},
  };
  for (const Case& c : cases) {
    c.inject();
    EXPECT_THAT(manager_->CreateBox(Request("b1")),
                StatusIs(c.code, HasSubstr(absl::StrCat("create box b1: ", c.step))));
    ExpectNothingLeft("b1");
    EXPECT_THAT(leases_.calls(), Contains("release b1")) << c.step;
    EXPECT_THAT(manager_->GetBox("b1"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("b1")));
  }
  // And the id is free again.
  EXPECT_THAT(manager_->CreateBox(Request("b1")), IsOk());
}

TEST_F(BoxManagerTest, ABoxThatDiesIsCleanedUpWithItsExitCode) {
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse created, manager_->CreateBox(Request("b1")));
  ASSERT_THAT(docker_.Exit("berth-b1", 3, /*oom_killed=*/true), IsOk());

  box::v1::BoxEvent event;
  std::vector<box::v1::BoxEvent> events;
  while (watcher->Next(&event, absl::Seconds(10))) {
    events.push_back(event);
    if (event.kind() == box::v1::BoxEvent::KIND_GONE) break;
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().kind(), box::v1::BoxEvent::KIND_SNAPSHOT_DONE);
  const box::v1::BoxEvent& gone = events.back();
  ASSERT_EQ(gone.kind(), box::v1::BoxEvent::KIND_GONE);
  EXPECT_EQ(gone.exit_code(), 3);
  EXPECT_TRUE(gone.oom_killed());
  EXPECT_EQ(gone.box().reason(), "oom");
  ExpectNothingLeft("b1");
  manager_->Shutdown();
}

TEST_F(BoxManagerTest, ReadinessMarkerSetsReadyAtAndWaitForReadyMakesItRunning) {
  manager_->Start();
  box::v1::CreateRequest request = Request("b1");
  request.set_wait_for_ready(true);
  std::thread box_process([&] {
    while (!Exists(MappingFile("b1", ".paramsReady"))) absl::SleepFor(absl::Milliseconds(2));
    std::ofstream(MappingFile("b1", "ready")) << "";
  });
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse created, manager_->CreateBox(request));
  box_process.join();
  EXPECT_EQ(created.box().state(), box::v1::BOX_STATE_RUNNING);
  EXPECT_TRUE(created.box().has_ready_at());
  manager_->Shutdown();
}

TEST_F(BoxManagerTest, RecoveryAdoptsRunningBoxesAndUndoesEverythingElse) {
  // Three boxes made by an earlier docker-svc.
  ASSERT_THAT(manager_->CreateBox(Request("alive")), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("dead")), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("removed")), IsOk());
  ASSERT_THAT(docker_.Exit("berth-dead", 137), IsOk());
  // Removed by someone else without its volumes: its mapping directory is left.
  ASSERT_THAT(docker_.RemoveContainer("berth-removed", true, false), IsOk());
  // A mapping directory of the layout before volumes, of no box (with a link that the removal
  // must not follow), and a record of a create that never finished.
  ASSERT_EQ(mkdir(boxes_.File("orphan").c_str(), 0777), 0);
  TempDir outside;
  std::ofstream(outside.File("keep")) << "kept";
  ASSERT_EQ(symlink(outside.path().c_str(), boxes_.File("orphan/link").c_str()), 0);
  internal::BoxRecord unfinished;
  unfinished.mutable_box()->set_box_id("half");
  ASSERT_OK_AND_ASSIGN(BoxStore store, BoxStore::Open(boxes_.path()));
  ASSERT_THAT(store.Put(unfinished), IsOk());
  manager_.reset();

  BoxManagerOptions options;
  options.boxes_dir = boxes_.path();
  ASSERT_OK_AND_ASSIGN(manager_,
                       BoxManager::Create(options, &catalog_, &docker_, &leases_, &clock_));
  ASSERT_THAT(manager_->Recover(), IsOk());
  std::vector<box::v1::Box> boxes = manager_->ListBoxes({});
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0].box_id(), "alive");
  EXPECT_EQ(boxes[0].state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(docker_.container_count(), 1u);
  for (const char* gone : {"dead", "removed", "orphan", "half"}) {
    EXPECT_FALSE(Exists(boxes_.File(gone))) << gone;
    EXPECT_FALSE(Exists(boxes_.File(std::string(".records/") + gone))) << gone;
  }
  EXPECT_TRUE(Exists(outside.File("keep")));
  // Only the live box's mapping volume is left; the removed box's is gone too.
  EXPECT_THAT(docker_.volumes(), ::testing::SizeIs(1));
  EXPECT_TRUE(Exists(MappingFile("alive", ".paramsReady")));
  // The allocator was told which boxes live; it released the others' leases.
  const av1::ReconcileRequest reconcile = leases_.last_reconcile();
  ASSERT_EQ(reconcile.live_boxes_size(), 1);
  EXPECT_EQ(reconcile.live_boxes(0).box_id(), "alive");
  EXPECT_EQ(reconcile.live_boxes(0).tty(), boxes[0].tty());
  EXPECT_THAT(leases_.leases(), ::testing::SizeIs(1));
}

TEST_F(BoxManagerTest, RecoveryRetriesAnInspectThatFailsInsteadOfUndoingTheBox) {
  ASSERT_THAT(manager_->CreateBox(Request("alive")), IsOk());
  manager_.reset();
  docker_.FailNext("inspect", absl::UnavailableError("engine busy"));

  BoxManagerOptions options;
  options.boxes_dir = boxes_.path();
  ASSERT_OK_AND_ASSIGN(manager_,
                       BoxManager::Create(options, &catalog_, &docker_, &leases_, &clock_));
  ASSERT_THAT(manager_->Recover(), IsOk());
  ASSERT_OK_AND_ASSIGN(box::v1::Box box, manager_->GetBox("alive"));
  EXPECT_EQ(box.state(), box::v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(docker_.container_count(), 1u);
  EXPECT_TRUE(Exists(MappingFile("alive", ".paramsReady")));
  EXPECT_TRUE(Exists(boxes_.File(".records/alive")));
  EXPECT_EQ(leases_.leases().count("alive"), 1u) << "its lease was freed under it";
}

TEST_F(BoxManagerTest, ABoxWhoseAppLeftTheCatalogRunsOnWithTheProfileItWasMadeWith) {
  box::v1::CreateRequest quick = Request("quick");
  quick.set_app("quick-box");
  ASSERT_THAT(manager_->CreateBox(quick), IsOk());
  manager_.reset();
  // The operator removes quick-box's profile and restarts docker-svc.
  TempDir apps;
  std::ofstream(apps.File("test-box.textproto")) << testing::kProfile;
  ASSERT_OK_AND_ASSIGN(AppCatalog catalog, LoadAppProfiles(apps.path()));
  ASSERT_EQ(catalog.Find("quick-box"), nullptr);

  BoxManagerOptions options;
  options.boxes_dir = boxes_.path();
  options.readiness_poll_interval = absl::Milliseconds(5);
  ASSERT_OK_AND_ASSIGN(manager_,
                       BoxManager::Create(options, &catalog, &docker_, &leases_, &clock_));
  ASSERT_THAT(manager_->Recover(), IsOk());
  ASSERT_OK_AND_ASSIGN(box::v1::Box box, manager_->GetBox("quick"));
  EXPECT_EQ(box.app(), "quick-box");
  // New boxes of the app are refused; the running one still ends as any box does, with its
  // profile's 1 s stop grace (the default is 10 s).
  ASSERT_THAT(manager_->CreateBox(Request("another")), IsOk());
  quick.set_box_id("new-quick");
  EXPECT_THAT(manager_->CreateBox(quick),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quick-box")));
  ASSERT_THAT(manager_->StopBox("quick", ""), IsOk());
  EXPECT_EQ(docker_.last_stop_grace(), absl::Seconds(1));
  EXPECT_FALSE(Exists(MappingFile("quick", ".paramsReady")));
  EXPECT_FALSE(Exists(boxes_.File(".records/quick")));
  EXPECT_EQ(leases_.leases().count("quick"), 0u);
  ASSERT_THAT(manager_->StopBox("another", ""), IsOk());
  manager_.reset();  // before `catalog` goes
}

TEST_F(BoxManagerTest, AStopWaitingOnAnotherEndsWhenTheOtherGivesUpAtShutdown) {
  manager_->Start();
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  docker_.FailEvery("remove", absl::UnavailableError("engine busy"));
  auto first = std::async(std::launch::async, [&] { return manager_->StopBox("b1", ""); });
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    absl::StatusOr<box::v1::Box> box = manager_->GetBox("b1");
    if (box.ok() && box->state() == box::v1::BOX_STATE_DYING) break;
    absl::SleepFor(absl::Milliseconds(2));
  }
  auto second = std::async(std::launch::async, [&] { return manager_->StopBox("b1", ""); });
  ASSERT_TRUE(manager_->AwaitWaitingCalls(1, absl::Seconds(5)))
      << "the second stop waits on the first";
  manager_->Shutdown();
  for (auto* stop : {&first, &second}) {
    if (stop->wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "a stop still waits after the shutdown";
      std::_Exit(1);  // the waiting thread cannot be joined
    }
    EXPECT_THAT(stop->get(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("restart")));
  }
  // The restart finds the box's record and leftovers and finishes the stop.
  EXPECT_TRUE(Exists(boxes_.File(".records/b1")));
  docker_.FailEvery("remove", absl::OkStatus());
}

TEST_F(BoxManagerTest, AQueuedReleaseNeverFreesTheLeaseOfANewBoxOfTheSameId) {
  // A create fails at Bind, and the undo's release fails too: the release is queued (for the
  // tick, which starts below).
  leases_.FailNext("bind", absl::UnavailableError("allocator restarting"));
  leases_.FailNext("release", absl::UnavailableError("allocator restarting"));
  ASSERT_THAT(manager_->CreateBox(Request("b1")), Not(IsOk()));
  // The tick's retry of that release is slow to be answered...
  leases_.Hold("release");
  manager_->Start();
  ASSERT_TRUE(leases_.AwaitHeld("release", 1));
  // ...while the client retries the create: its Reserve waits for the release's answer.
  auto retry = std::async(std::launch::async, [&] { return manager_->CreateBox(Request("b1")); });
  EXPECT_EQ(retry.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  leases_.Unhold("release");
  ASSERT_THAT(retry.get(), IsOk());
  EXPECT_EQ(leases_.leases().count("b1"), 1u) << "the new box's lease was freed";
  EXPECT_THAT(manager_->StopBox("b1", ""), IsOk());
}

// With the allocator failing, the tick tries one queued release and leaves the rest for the
// next tick, instead of waiting out the allocator's timeout once per queued release.
TEST_F(BoxManagerTest, TheTickStopsRetryingReleasesAtTheFirstFailure) {
  for (const char* id : {"a", "b", "c"}) {
    leases_.FailNext("bind", absl::UnavailableError("allocator restarting"));
    leases_.FailNext("release", absl::UnavailableError("allocator restarting"));
    ASSERT_THAT(manager_->CreateBox(Request(id)), Not(IsOk()));
  }
  ASSERT_EQ(leases_.leases().size(), 3u);  // three releases queued
  const size_t calls_before = leases_.calls().size();
  leases_.FailNext("release", absl::UnavailableError("allocator still restarting"));
  manager_->Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!leases_.leases().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_THAT(leases_.leases(), IsEmpty());
  std::vector<std::string> releases;  // a resync's reconcile may come in between
  const std::vector<std::string> calls = leases_.calls();
  for (auto it = calls.begin() + calls_before; it != calls.end(); ++it) {
    if (absl::StartsWith(*it, "release")) releases.push_back(*it);
  }
  EXPECT_THAT(releases, ElementsAre("release a", "release a", "release b", "release c"));
}

TEST_F(BoxManagerTest, ACreateWhoseAnswerWasLostLeavesNoContainerAndCanBeRetried) {
  docker_.LoseNextCreateAnswer();
  EXPECT_THAT(manager_->CreateBox(Request("b1")),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("docker create")));
  ExpectNothingLeft("b1");
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse retried, manager_->CreateBox(Request("b1")));
  EXPECT_TRUE(retried.created());
}

TEST_F(BoxManagerTest, StopEndsTheBoxAndAnUnknownOneIsNotFound) {
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  ASSERT_OK_AND_ASSIGN(box::v1::Box before, manager_->StopBox("b1", ""));
  EXPECT_EQ(before.state(), box::v1::BOX_STATE_ALLOCATED);
  ExpectNothingLeft("b1");
  EXPECT_THAT(manager_->StopBox("b1", ""), StatusIs(absl::StatusCode::kNotFound, HasSubstr("b1")));
  EXPECT_THAT(manager_->StopBox("../x", ""), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(manager_->GetBox("b1"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("b1")));
  EXPECT_THAT(manager_->GetBox("../x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("box_id")));
}

}  // namespace
}  // namespace berth::docker
