// The Docker Engine client against a real dockerd and the test box image (both set up by
// scripts/test.sh). These tests fail, never skip, when the engine or the image is missing.
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "docker-svc/engine/curl_docker_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/allocator_client.h"
#include "tests/boxes_test_client.h"

namespace berth::docker {
namespace {

using ::berth::testing::FindFreePortRange;
using ::berth::testing::IsOk;
using ::berth::testing::ReadGreeting;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;

constexpr char kTestImage[] = "berth/test-box:latest";

bool WaitForFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (access(path.c_str(), F_OK) == 0) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

class DockerEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(client_, MakeCurlDockerClient(CurlDockerClientConfig{}));
    ASSERT_THAT(client_->Ping(), IsOk()) << "these tests need dockerd (scripts/start-dockerd.sh)";
    ASSERT_THAT(CheckTestImage(), IsOk());
  }
  void TearDown() override {
    if (!name_.empty()) {
      client_->RemoveContainer(name_, /*force=*/true, /*remove_volumes=*/true).IgnoreError();
    }
  }

  // OK when the test image exists: a container can be created from it (and is removed).
  absl::Status CheckTestImage() {
    ContainerSpec spec;
    spec.name = absl::StrCat("berth-test-probe-", getpid());
    spec.image = kTestImage;
    absl::StatusOr<std::string> id = client_->CreateContainer(spec);
    if (!id.ok()) {
      return absl::Status(id.status().code(),
                          absl::StrCat(id.status().message(), " (run scripts/build-box-image.sh)"));
    }
    return client_->RemoveContainer(*id, /*force=*/true, /*remove_volumes=*/true);
  }

  std::unique_ptr<DockerClient> client_;
  std::string name_;
  TempDir dir_;
};

TEST_F(DockerEngineTest, EngineSpeaksThePinnedApi) {
  ASSERT_OK_AND_ASSIGN(std::string version, client_->Version());
  EXPECT_FALSE(version.empty());
}

TEST_F(DockerEngineTest, BoxLifecycleThroughTheEngine) {
  std::optional<uint16_t> host_port = FindFreePortRange(1, 41000, 42000);
  ASSERT_TRUE(host_port.has_value());
  const std::string box_id = absl::StrCat("engine-test-", getpid());
  name_ = absl::StrCat("berth-", box_id);
  std::ofstream(dir_.File("hostPort_for_my_7000_tcp")) << *host_port;

  ContainerSpec spec;
  spec.name = name_;
  spec.image = kTestImage;
  spec.env = {absl::StrCat("BERTH_BOX_ID=", box_id), "BERTH_MAPPINGS_DIR=/whist/resourceMappings",
              "BERTH_READY_MARKER=ready"};
  spec.labels = {{"berth.box_id", box_id}, {"berth.app", "test-box"}};
  spec.ports = {{7000, "tcp", *host_port, ""}};
  spec.binds = {absl::StrCat(dir_.path(), ":/whist/resourceMappings")};
  spec.memory_bytes = 64 << 20;
  ASSERT_OK_AND_ASSIGN(std::string id, client_->CreateContainer(spec));
  EXPECT_THAT(client_->CreateContainer(spec),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(name_)));

  // Watch this box's events from before it starts.
  Cancellation cancel;
  std::vector<Event> events;
  absl::Notification died;
  std::thread watcher([&] {
    absl::Status streamed = client_->StreamEvents(
        {{"type", {"container"}}, {"label", {absl::StrCat("berth.box_id=", box_id)}}}, std::nullopt,
        [&](const Event& event) {
          events.push_back(event);
          if (event.action == "die") died.Notify();
          return true;
        },
        cancel);
    EXPECT_THAT(streamed, IsOk());
  });

  ASSERT_THAT(client_->StartContainer(id), IsOk());
  EXPECT_THAT(client_->StartContainer(id), IsOk());  // Already running is fine.
  std::ofstream(dir_.File(".paramsReady")) << "";
  ASSERT_TRUE(WaitForFile(dir_.File("ready"), absl::Seconds(10)));
  EXPECT_EQ(ReadGreeting(*host_port), box_id + "\n");

  ASSERT_OK_AND_ASSIGN(ContainerInfo info, client_->InspectContainer(name_));
  EXPECT_EQ(info.id, id);
  EXPECT_EQ(info.name, name_);
  EXPECT_TRUE(info.running);
  EXPECT_EQ(info.labels["berth.box_id"], box_id);
  EXPECT_THAT(info.ports, Contains(Field(&PortBinding::host_port, *host_port)));
  ASSERT_OK_AND_ASSIGN(std::vector<ContainerSummary> listed,
                       client_->ListContainers({absl::StrCat("berth.box_id=", box_id)}, true));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);

  ASSERT_THAT(client_->KillContainer(id, "SIGKILL"), IsOk());
  ASSERT_TRUE(died.WaitForNotificationWithTimeout(absl::Seconds(10)));
  cancel.Cancel();
  watcher.join();
  ASSERT_THAT(events, Contains(Field(&Event::action, "start")));
  for (const Event& event : events) {
    if (event.action == "die") {
      EXPECT_EQ(event.attributes.at("exitCode"), "137");
    }
  }
  ASSERT_OK_AND_ASSIGN(info, client_->InspectContainer(id));
  EXPECT_FALSE(info.running);
  EXPECT_EQ(info.exit_code, 137);

  ASSERT_THAT(client_->RemoveContainer(id, /*force=*/false, /*remove_volumes=*/true), IsOk());
  EXPECT_THAT(client_->InspectContainer(id), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(client_->RemoveContainer(id, true, true),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  name_.clear();
}

TEST_F(DockerEngineTest, UnknownImageIsNotFound) {
  ContainerSpec spec;
  spec.name = absl::StrCat("berth-engine-missing-", getpid());
  spec.image = "berth/no-such-image:never";
  EXPECT_THAT(client_->CreateContainer(spec),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-such-image")));
}

TEST_F(DockerEngineTest, StopSendsSigtermAndTheBoxExitsCleanly) {
  name_ = absl::StrCat("berth-engine-stop-", getpid());
  ContainerSpec spec;
  spec.name = name_;
  spec.image = kTestImage;
  spec.env = {"BERTH_MAPPINGS_DIR=/m"};
  spec.binds = {absl::StrCat(dir_.path(), ":/m")};
  ASSERT_OK_AND_ASSIGN(std::string id, client_->CreateContainer(spec));
  ASSERT_THAT(client_->StartContainer(id), IsOk());
  const absl::Time start = absl::Now();
  ASSERT_THAT(client_->StopContainer(id, absl::Seconds(10)), IsOk());
  // The box handles SIGTERM: it exits 0 well before the grace would have it killed.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, client_->InspectContainer(id));
  EXPECT_EQ(info.exit_code, 0);
}

}  // namespace
}  // namespace berth::docker
