// What end users and boxes may take of a host: per-user quotas, TTLs and ids, a box's disk
// limit, a mapping directory of each box's own. Against an in-memory engine and allocator; the
// same against the real daemons and Docker is in tests/box_hostile_test.cc.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/testing/box_manager_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

using BoxLimitsTest = testing::BoxManagerFixture;

// A create as an end user sends it: its own user, no box id.
box::v1::CreateRequest UserRequest(const std::string& user, const std::string& app = "test-box") {
  box::v1::CreateRequest request;
  request.set_app(app);
  request.set_user_id(user);
  return request;
}

// Waits up to 10 s for the box's KIND_GONE event; its reason, or "" when none came.
std::string AwaitGone(const std::shared_ptr<WatchHub::Watcher>& watcher,
                      const std::string& box_id) {
  box::v1::BoxEvent event;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (!watcher->Next(&event, absl::Milliseconds(100))) continue;
    if (event.kind() == box::v1::BoxEvent::KIND_GONE && event.box().box_id() == box_id) {
      return event.box().reason();
    }
  }
  return "";
}

TEST_F(BoxLimitsTest, AUserGetsAtMostItsQuotaWhileOthersAndTheBackendGoOn) {
  ASSERT_THAT(manager_->CreateBox(UserRequest("mallory"), Requester::kEndUser), IsOk());
  ASSERT_THAT(manager_->CreateBox(UserRequest("mallory"), Requester::kEndUser), IsOk());
  EXPECT_THAT(manager_->CreateBox(UserRequest("mallory"), Requester::kEndUser),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("at most 2 per user")));
  // Another user, and the backend even for mallory, are not held back.
  ASSERT_THAT(manager_->CreateBox(UserRequest("alice"), Requester::kEndUser), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("backend-made", "mallory")), IsOk());
  EXPECT_THAT(manager_->ListBoxes({}), SizeIs(4));
  // A box that ends frees its place in the quota.
  box::v1::ListRequest mine;
  mine.set_user_id("mallory");
  const std::vector<box::v1::Box> boxes = manager_->ListBoxes(mine);
  ASSERT_THAT(manager_->StopBox(boxes[0].box_id(), ""), IsOk());
  ASSERT_THAT(manager_->StopBox(boxes[1].box_id(), ""), IsOk());
  EXPECT_THAT(manager_->CreateBox(UserRequest("mallory"), Requester::kEndUser), IsOk());
}

TEST_F(BoxLimitsTest, ConcurrentCreatesOfOneUserCannotPassTheQuotaTogether) {
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (manager_->CreateBox(UserRequest("mallory"), Requester::kEndUser).ok()) ++created;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 2);
  EXPECT_EQ(docker_.container_count(), 2u);
}

TEST_F(BoxLimitsTest, AUserCannotChooseABoxIdSoNoIdCanBeSquatted) {
  box::v1::CreateRequest squat = UserRequest("mallory");
  squat.set_box_id("s-0123456789abcdef0123456789abcdef01234567");  // a cold assign's id, say
  EXPECT_THAT(manager_->CreateBox(squat, Requester::kEndUser),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("box_id")));
  EXPECT_EQ(docker_.container_count(), 0u);
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse made,
                       manager_->CreateBox(UserRequest("mallory"), Requester::kEndUser));
  EXPECT_EQ(made.box().box_id().size(), 36u);  // a UUID of docker-svc's
}

TEST_F(BoxLimitsTest, AUsersBoxGetsTheDefaultTtlAndNoMoreThanTheCeiling) {
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse made,
                       manager_->CreateBox(UserRequest("u1"), Requester::kEndUser));
  EXPECT_EQ(made.box().ttl().seconds(), 30 * 60);
  box::v1::CreateRequest longer = UserRequest("u1");
  longer.mutable_ttl()->set_seconds(3 * 3600);
  EXPECT_THAT(manager_->CreateBox(longer, Requester::kEndUser),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 2h")));
  longer.mutable_ttl()->set_seconds(3600);
  ASSERT_OK_AND_ASSIGN(made, manager_->CreateBox(longer, Requester::kEndUser));
  EXPECT_EQ(made.box().ttl().seconds(), 3600);
  // The backend sets what it likes, none included.
  ASSERT_OK_AND_ASSIGN(made, manager_->CreateBox(Request("b1")));
  EXPECT_EQ(made.box().ttl().seconds(), 0);
}

TEST_F(BoxLimitsTest, TheSweeperStopsAUsersBoxThatGetsNoConfig) {
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse made,
                       manager_->CreateBox(UserRequest("u1", "quick-box"), Requester::kEndUser));
  // quick-box gives a client 1 s for its config.
  EXPECT_EQ(AwaitGone(watcher, made.box().box_id()), "no client config within 1s");
  manager_->Unwatch(watcher);
  manager_->Shutdown();
}

TEST_F(BoxLimitsTest, AStopReasonThatCouldForgeLogLinesIsRefused) {
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  EXPECT_THAT(manager_->StopBox("b1", "done\n2026-01-01 [info] [box b2] forged"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("printable")));
  EXPECT_THAT(manager_->StopBox("b1", std::string(201, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 200")));
  ASSERT_OK(manager_->GetBox("b1").status());  // nothing changed
  EXPECT_THAT(manager_->StopBox("b1", "user logged out"), IsOk());
}

TEST_F(BoxLimitsTest, ABoxOverItsDiskLimitIsStoppedWithReasonDisk) {
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  box::v1::CreateRequest quick = Request("full");
  quick.set_app("quick-box");  // at most 5 MiB
  ASSERT_THAT(manager_->CreateBox(quick), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("small")), IsOk());  // test-box: no limit
  ASSERT_THAT(docker_.SetWritableLayerSize("berth-full", 5 << 20), IsOk());
  ASSERT_THAT(docker_.SetWritableLayerSize("berth-small", 50 << 20), IsOk());
  // At its limit, not over it: measured three times, and still there.
  ASSERT_TRUE(testing::AwaitCalls(docker_, "sizes", 3, absl::Seconds(10)));
  ASSERT_OK(manager_->GetBox("full").status());
  ASSERT_THAT(docker_.SetWritableLayerSize("berth-full", (5 << 20) + 1), IsOk());
  EXPECT_EQ(AwaitGone(watcher, "full"), "disk");
  EXPECT_OK(manager_->GetBox("small").status());
  manager_->Unwatch(watcher);
  manager_->Shutdown();
}

TEST_F(BoxLimitsTest, EachIncarnationOfABoxIdGetsAFreshMappingDirectory) {
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  const std::string first = MappingDirOf("b1");
  ASSERT_FALSE(first.empty());
  std::ofstream(first + "/left-by-the-box") << "secret of the first user";
  ASSERT_THAT(manager_->StopBox("b1", ""), IsOk());
  EXPECT_FALSE(Exists(first)) << "the mapping directory outlived its box";
  EXPECT_THAT(docker_.volumes(), IsEmpty());

  ASSERT_THAT(manager_->CreateBox(Request("b1", "u2")), IsOk());
  const std::string second = MappingDirOf("b1");
  EXPECT_NE(second, first);
  EXPECT_FALSE(Exists(second + "/left-by-the-box"));
  EXPECT_TRUE(Exists(second + "/.paramsReady"));
}

TEST_F(BoxLimitsTest, AStopRemovesTheMappingVolumeThatDockerKeptWithTheContainer) {
  docker_.KeepVolumesOfRemovedContainers();
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  ASSERT_THAT(manager_->StopBox("b1", ""), IsOk());
  EXPECT_THAT(docker_.volumes(), IsEmpty());
}

TEST_F(BoxLimitsTest, AMappingVolumeLeftByAContainerRemovedBehindBerthsBackIsRemoved) {
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  // Someone runs `docker rm -f berth-b1` (without -v): the volume stays behind.
  ASSERT_THAT(docker_.RemoveContainer("berth-b1", /*force=*/true, /*remove_volumes=*/false),
              IsOk());
  EXPECT_EQ(AwaitGone(watcher, "b1"), "removed");
  manager_->Resync();
  EXPECT_THAT(docker_.volumes(), IsEmpty());
  manager_->Unwatch(watcher);
  manager_->Shutdown();
}

TEST_F(BoxLimitsTest, ACreateWhoseMappingDirectoryCannotBeFoundOrWrittenIsUndone) {
  docker_.FailNext("inspect", absl::UnavailableError("engine busy"));
  EXPECT_THAT(manager_->CreateBox(Request("b1")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("find the mapping directory")));
  ExpectNothingLeft("b1");
  // The box broke its directory before its files were written (a directory at a name).
  docker_.PlantInNextVolume(".paramsReady/");
  EXPECT_THAT(manager_->CreateBox(Request("b2")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(".paramsReady")));
  ExpectNothingLeft("b2");
}

TEST_F(BoxLimitsTest, AConfigTheBoxMadeUnwritableEndsTheBox) {
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  ASSERT_THAT(manager_->CreateBox(Request("b1")), IsOk());
  ASSERT_TRUE(std::filesystem::create_directory(MappingFile("b1", "config.json")));
  std::ofstream(MappingFile("b1", "config.json") + "/inside") << "";
  box::v1::SetConfigRequest config;
  config.set_box_id("b1");
  config.set_json_data("{}");
  EXPECT_THAT(manager_->SetConfig(config, std::nullopt, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("config.json")));
  // Its recorded digest would keep the sweeper away: it ends at once instead.
  EXPECT_EQ(AwaitGone(watcher, "b1"), "its mapping directory cannot be written");
  manager_->Unwatch(watcher);
  manager_->Shutdown();
}

TEST_F(BoxLimitsTest, AUsersBoxWhoseRecordIsLostKeepsItsTtlAndTheSweeper) {
  ASSERT_OK_AND_ASSIGN(box::v1::CreateResponse made,
                       manager_->CreateBox(UserRequest("u1", "quick-box"), Requester::kEndUser));
  const std::string box_id = made.box().box_id();
  manager_.reset();
  ASSERT_EQ(unlink(boxes_.File(".records/" + box_id).c_str()), 0);
  BoxManagerOptions options;
  options.boxes_dir = boxes_.path();
  options.tick_interval = absl::Milliseconds(20);
  ASSERT_OK_AND_ASSIGN(manager_,
                       BoxManager::Create(options, &catalog_, &docker_, &leases_, &clock_));
  ASSERT_THAT(manager_->Recover(), IsOk());
  ASSERT_OK_AND_ASSIGN(box::v1::Box box, manager_->GetBox(box_id));
  EXPECT_EQ(box.ttl().seconds(), 30 * 60);
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  EXPECT_EQ(AwaitGone(watcher, box_id), "no client config within 1s");
  manager_->Unwatch(watcher);
  manager_->Shutdown();
}

TEST_F(BoxLimitsTest, AnAssignSkipsAWaitingBoxWhoseDirectoryCannotBeWritten) {
  manager_->Start();
  std::shared_ptr<WatchHub::Watcher> watcher = manager_->Watch();
  ASSERT_THAT(manager_->CreateBox(Request("w1", "")), IsOk());
  ASSERT_THAT(manager_->CreateBox(Request("w2", "")), IsOk());
  // w1's directory is unusable (a box that filled it is the real case).
  std::filesystem::remove_all(MappingDirOf("w1"));
  box::v1::AssignRequest assign;
  assign.set_app("test-box");
  assign.set_user_id("u1");
  assign.set_session_id("s1");
  ASSERT_OK_AND_ASSIGN(box::v1::AssignResponse assigned, manager_->AssignBox(assign));
  EXPECT_EQ(assigned.box().box_id(), "w2");
  EXPECT_EQ(AwaitGone(watcher, "w1"), "its mapping directory cannot be written");
  // Naming the box: the error, not another box.
  ASSERT_THAT(manager_->CreateBox(Request("w3", "")), IsOk());
  std::filesystem::remove_all(MappingDirOf("w3"));
  assign.set_box_id("w3");
  assign.set_session_id("s2");
  EXPECT_THAT(manager_->AssignBox(assign), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                   HasSubstr("write session_id")));
  manager_->Unwatch(watcher);
  manager_->Shutdown();
}

}  // namespace
}  // namespace berth::docker
