// The real allocator-svc and docker-svc on fake_dockerd instead of Docker: docker-svc's warm pool
// fills with WAITING boxes whose mapping directories are the fake's volumes (docker-svc writes
// them, so they pass its tmpfs check), an Assign over gRPC takes one, Stop removes its container
// and directory, a container that dies ends its box (the event stream), and a docker-svc
// restarted against the same engine adopts the boxes that run.
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/fake_dockerd/fake_dockerd_process.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/box_host.h"
#include "testing_support/grpc_call.h"

namespace berth::fake_dockerd {
namespace {

namespace v1 = ::berth::box::v1;
using ::berth::testing::BoxHost;
using ::berth::testing::BoxHostOptions;
using ::berth::testing::BoxWatcher;
using ::berth::testing::IsOk;
using ::berth::testing::kTestBoxApp;
using ::berth::testing::kTestBoxMappingsDir;
using ::berth::testing::ListDir;
using ::berth::testing::ReadFileOrEmpty;
using ::berth::testing::ReceivedEvent;
using ::berth::testing::StatusIs;
using ::berth::testing::WaitUntil;
using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr int kPool = 3;

bool Exists(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::exists(path, ignored);
}

class FakeDockerdHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/dev/shm/berth-fake-dockerd-host-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    volumes_dir_ = pattern;
    FakeDockerdProcess::Options fake;
    fake.binary = FAKE_DOCKERD_BINARY;
    fake.socket_path = fake_dir_.File("docker.sock");
    fake.volumes_dir = volumes_dir_;
    fake.log_path = fake_dir_.File("fake_dockerd.log");
    ASSERT_OK_AND_ASSIGN(fake_, FakeDockerdProcess::Start(fake));

    BoxHostOptions options;
    options.docker_svc_flags = {absl::StrCat("--docker_socket=", fake_->socket_path()),
                                absl::StrCat("--warm_pool=", kTestBoxApp, "=", kPool)};
    host_ = std::make_unique<BoxHost>(options);
    ASSERT_OK(host_->ok());
    ASSERT_OK(host_->Start());
  }

  void TearDown() override {
    if (HasFailure() && host_ != nullptr) {
      std::cerr << host_->LogTails() << "fake_dockerd:\n"
                << ReadFileOrEmpty(fake_dir_.File("fake_dockerd.log"));
    }
    host_.reset();  // SIGKILLs both daemons; the boxes stay with the engine
    if (fake_ != nullptr) {
      EXPECT_THAT(fake_->Stop(), IsOk());
      EXPECT_TRUE(std::filesystem::is_empty(volumes_dir_)) << "fake_dockerd left volumes";
    }
    std::error_code ignored;
    std::filesystem::remove_all(volumes_dir_, ignored);
  }

  std::vector<v1::Box> Boxes(v1::BoxState state = v1::BOX_STATE_UNSPECIFIED) {
    v1::ListRequest request;
    request.set_state(state);
    absl::StatusOr<std::vector<v1::Box>> boxes = host_->boxes().List(request);
    return boxes.ok() ? *boxes : std::vector<v1::Box>();
  }
  bool PoolIsFull() { return Boxes(v1::BOX_STATE_WAITING).size() == kPool; }

  // The box's mapping directory as the engine reports it ("" when it has no container).
  std::string BoxDir(const std::string& box_id) {
    absl::StatusOr<docker::ContainerInfo> info =
        fake_->client().InspectContainer(absl::StrCat("berth-", box_id));
    if (!info.ok()) return "";
    for (const docker::MountPoint& mount : info->mounts) {
      if (mount.destination == kTestBoxMappingsDir && mount.type == "volume") return mount.source;
    }
    return "";
  }

  absl::StatusOr<v1::AssignResponse> Assign(const std::string& user) {
    v1::AssignRequest request;
    request.set_app(kTestBoxApp);
    request.set_user_id(user);
    request.set_session_id(absl::StrCat("session-of-", user));
    return testing::CallWithDeadline(&v1::Boxes::Stub::Assign, &host_->boxes().stub(), request,
                                     absl::Seconds(30));
  }

  // box id -> "container id, state" of every box docker-svc lists.
  std::map<std::string, std::string> Snapshot() {
    std::map<std::string, std::string> boxes;
    for (const v1::Box& box : Boxes()) {
      boxes[box.box_id()] = absl::StrCat(box.container_id(), ", ", v1::BoxState_Name(box.state()));
    }
    return boxes;
  }

  testing::TempDir fake_dir_;
  std::string volumes_dir_;
  std::unique_ptr<FakeDockerdProcess> fake_;
  std::unique_ptr<BoxHost> host_;
};

TEST_F(FakeDockerdHostTest, PoolAssignStopDeathAndAdoptionAfterARestart) {
  // The warm pool fills: running containers of the engine, each with its own volume, into
  // which docker-svc wrote the box's start-up files.
  ASSERT_TRUE(WaitUntil([&] { return PoolIsFull(); }, absl::Seconds(30)))
      << Boxes().size() << " boxes";
  for (const v1::Box& box : Boxes(v1::BOX_STATE_WAITING)) {
    ASSERT_OK_AND_ASSIGN(docker::ContainerInfo info,
                         fake_->client().InspectContainer(absl::StrCat("berth-", box.box_id())));
    EXPECT_TRUE(info.running) << box.box_id();
    EXPECT_EQ(info.id, box.container_id());
    const std::string dir = BoxDir(box.box_id());
    EXPECT_THAT(dir, StartsWith(volumes_dir_ + "/"));
    EXPECT_THAT(ListDir(dir), Contains(".paramsReady")) << dir;
    EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(dir, "/tty")), absl::StrCat(box.tty()));
  }

  // Assign takes a WAITING box and hands it its session through its directory.
  ASSERT_OK_AND_ASSIGN(v1::AssignResponse assigned, Assign("user-1"));
  EXPECT_TRUE(assigned.from_pool());
  EXPECT_EQ(assigned.box().state(), v1::BOX_STATE_ALLOCATED);
  EXPECT_EQ(assigned.box().user_id(), "user-1");
  const std::string assigned_id = assigned.box().box_id();
  const std::string assigned_dir = BoxDir(assigned_id);
  EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(assigned_dir, "/session_id")), "session-of-user-1");
  ASSERT_TRUE(WaitUntil([&] { return PoolIsFull(); }, absl::Seconds(30)));

  // Stop: the container and its directory go, and nothing of the box is left with the engine.
  ASSERT_OK(host_->boxes().Stop(assigned_id).status());
  EXPECT_THAT(host_->boxes().Get(assigned_id), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(fake_->client().InspectContainer(absl::StrCat("berth-", assigned_id)),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_FALSE(Exists(assigned_dir)) << assigned_dir;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> dangling, fake_->client().ListDanglingVolumes({}));
  EXPECT_THAT(dangling, IsEmpty());

  // A container that dies (killed through the engine) ends its box: docker-svc hears it on
  // the event stream.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host_->boxes_address()));
  const v1::Box victim = Boxes(v1::BOX_STATE_WAITING).at(0);
  const std::string victim_dir = BoxDir(victim.box_id());
  ASSERT_OK(fake_->client().KillContainer(victim.container_id(), "SIGKILL"));
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone,
                       watcher->WaitForGone(victim.box_id(), absl::Seconds(20)));
  EXPECT_EQ(gone.event.box().reason(), "died");
  EXPECT_EQ(gone.event.exit_code(), 137);
  EXPECT_TRUE(WaitUntil([&] { return !Exists(victim_dir); }, absl::Seconds(5))) << victim_dir;

  // A restarted docker-svc adopts every box that runs, WAITING and ALLOCATED: the same
  // containers, nothing made or removed.
  ASSERT_TRUE(WaitUntil([&] { return PoolIsFull(); }, absl::Seconds(30)));
  ASSERT_OK_AND_ASSIGN(v1::AssignResponse second, Assign("user-2"));
  ASSERT_TRUE(WaitUntil([&] { return PoolIsFull(); }, absl::Seconds(30)));
  const std::map<std::string, std::string> before = Snapshot();
  ASSERT_EQ(before.size(), kPool + 1u);
  ASSERT_OK_AND_ASSIGN(auto containers_before,
                       fake_->client().ListContainers({"berth.box_id"}, /*all=*/true));
  ASSERT_OK_AND_ASSIGN(int exit_code, host_->docker_svc()->Terminate());
  ASSERT_EQ(exit_code, 0);
  ASSERT_OK(host_->StartDockerSvc());
  EXPECT_EQ(Snapshot(), before);
  absl::SleepFor(absl::Seconds(1));  // the pool is full: no create follows
  EXPECT_EQ(Snapshot(), before);
  ASSERT_OK_AND_ASSIGN(auto containers_after,
                       fake_->client().ListContainers({"berth.box_id"}, /*all=*/true));
  EXPECT_EQ(containers_after.size(), containers_before.size());
  for (size_t i = 0; i < containers_after.size() && i < containers_before.size(); ++i) {
    EXPECT_EQ(containers_after[i].id, containers_before[i].id);
  }
  const std::string log = ReadFileOrEmpty(host_->docker_svc_log());
  for (const auto& [box_id, container] : before) {
    EXPECT_THAT(log, ::testing::HasSubstr(absl::StrCat("[box ", box_id, "] recover: adopted")));
  }

  // The adopted boxes work on: an Assign writes into an adopted box's directory.
  ASSERT_OK_AND_ASSIGN(v1::AssignResponse third, Assign("user-3"));
  EXPECT_TRUE(third.from_pool());
  EXPECT_TRUE(before.count(third.box().box_id()) > 0);
  EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(BoxDir(third.box().box_id()), "/session_id")),
            "session-of-user-3");
}

}  // namespace
}  // namespace berth::fake_dockerd
