#include "docker-svc/engine/testing/fake_docker_client.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker::testing {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ContainerSpec Spec(const std::string& name) {
  ContainerSpec spec;
  spec.name = name;
  spec.image = "berth/test-box:latest";
  spec.labels = {{"berth.box_id", name}};
  return spec;
}

TEST(FakeDockerClientTest, BehavesLikeTheEngineForTheBasicLifecycle) {
  FakeDockerClient docker;
  EXPECT_THAT(docker.CreateContainer(Spec("b1")), StatusIs(absl::StatusCode::kNotFound, HasSubstr("image")));
  docker.AddImage("berth/test-box:latest");
  ASSERT_OK_AND_ASSIGN(std::string id, docker.CreateContainer(Spec("b1")));
  EXPECT_THAT(docker.CreateContainer(Spec("b1")), StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  ASSERT_THAT(docker.StartContainer(id), IsOk());
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, docker.InspectContainer("b1"));
  EXPECT_TRUE(info.running);
  ASSERT_OK_AND_ASSIGN(std::vector<ContainerSummary> listed, docker.ListContainers({"berth.box_id=b1"}, false));
  EXPECT_EQ(listed.size(), 1u);
  EXPECT_THAT(docker.RemoveContainer(id, false, true), StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  ASSERT_THAT(docker.Exit(id, 3, /*oom_killed=*/true), IsOk());
  ASSERT_OK_AND_ASSIGN(info, docker.InspectContainer(id));
  EXPECT_EQ(info.exit_code, 3);
  EXPECT_TRUE(info.oom_killed);
  ASSERT_THAT(docker.RemoveContainer(id, false, true), IsOk());
  EXPECT_THAT(docker.InspectContainer(id), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_EQ(docker.container_count(), 0u);
}

TEST(FakeDockerClientTest, InjectedFailuresHitOnceAndCallsAreRecorded) {
  FakeDockerClient docker;
  docker.AddImage("berth/test-box:latest");
  docker.FailNext("start", absl::UnavailableError("engine went away"));
  ASSERT_OK_AND_ASSIGN(std::string id, docker.CreateContainer(Spec("b1")));
  EXPECT_THAT(docker.StartContainer(id), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("went away")));
  EXPECT_THAT(docker.StartContainer(id), IsOk());
  EXPECT_THAT(docker.calls(), ElementsAre("create b1", "start " + id, "start " + id));
}

TEST(FakeDockerClientTest, StreamsFilteredEventsUntilCancelled) {
  FakeDockerClient docker;
  docker.AddImage("berth/test-box:latest");
  ASSERT_OK_AND_ASSIGN(std::string before, docker.CreateContainer(Spec("b0")));
  const absl::Time since = absl::Now();
  ASSERT_OK_AND_ASSIGN(std::string other, docker.CreateContainer(Spec("b2")));
  ASSERT_OK_AND_ASSIGN(std::string id, docker.CreateContainer(Spec("b1")));
  Cancellation cancel;
  std::vector<std::string> seen;
  absl::Notification got_die;
  std::thread watcher([&] {
    EXPECT_THAT(docker.StreamEvents({{"label", {"berth.box_id=b1"}}}, since,
                                    [&](const Event& event) {
                                      seen.push_back(event.action);
                                      if (event.action == "die") {
                                        EXPECT_EQ(event.attributes.at("exitCode"), "137");
                                        got_die.Notify();
                                      }
                                      return true;
                                    },
                                    cancel),
                IsOk());
  });
  // b1's create happened before the stream began and comes by replay from `since`.
  ASSERT_THAT(docker.StartContainer(id), IsOk());
  ASSERT_THAT(docker.KillContainer(id, "SIGKILL"), IsOk());
  ASSERT_TRUE(got_die.WaitForNotificationWithTimeout(absl::Seconds(5)));
  cancel.Cancel();
  watcher.join();
  EXPECT_THAT(seen, ElementsAre("create", "start", "die"));
}

}  // namespace
}  // namespace berth::docker::testing
