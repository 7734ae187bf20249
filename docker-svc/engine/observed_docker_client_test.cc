#include "docker-svc/engine/observed_docker_client.h"

#include <string>
#include <vector>

#include "docker-svc/engine/testing/fake_docker_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ObservedDockerClientTest, ReportsFailedCallsByOperationButNotNotFound) {
  testing::FakeDockerClient engine;
  std::vector<std::string> failed;
  ObservedDockerClient docker(&engine, [&](const char* operation) { failed.push_back(operation); });
  EXPECT_TRUE(docker.Ping().ok());
  // NOT_FOUND is an answer: the container is gone.
  EXPECT_TRUE(absl::IsNotFound(docker.InspectContainer("nothing").status()));
  EXPECT_TRUE(absl::IsNotFound(docker.RemoveContainer("nothing", true, true)));
  EXPECT_THAT(failed, IsEmpty());

  engine.FailNext("start", absl::UnavailableError("engine down"));
  EXPECT_TRUE(absl::IsUnavailable(docker.StartContainer("x")));
  engine.FailNext("list", absl::DeadlineExceededError("slow"));
  EXPECT_FALSE(docker.ListContainers({}, true).ok());
  engine.FailNext("volumes", absl::InternalError("garbled"));
  EXPECT_FALSE(docker.ListDanglingVolumes({}).ok());
  ContainerSpec spec;
  spec.name = "berth-b1";
  spec.image = "missing:latest";  // the fake knows no image: NOT_FOUND
  EXPECT_TRUE(absl::IsNotFound(docker.CreateContainer(spec).status()));
  EXPECT_THAT(failed, ElementsAre("start", "list", "list_volumes"));
}

}  // namespace
}  // namespace berth::docker
