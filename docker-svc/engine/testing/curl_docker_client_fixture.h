#ifndef BERTH_DOCKER_SVC_ENGINE_TESTING_CURL_DOCKER_CLIENT_FIXTURE_H_
#define BERTH_DOCKER_SVC_ENGINE_TESTING_CURL_DOCKER_CLIENT_FIXTURE_H_

// A CurlDockerClient talking to a FakeDockerHttpServer in a temporary directory, for the unit
// tests of the client (curl_docker_client_test.cc, curl_docker_events_test.cc).
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "docker-svc/engine/curl_docker_client.h"
#include "docker-svc/engine/testing/fake_docker_http_server.h"
#include "gtest/gtest.h"

namespace berth::docker::testing {

class CurlDockerClientFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_OK_AND_ASSIGN(server_, FakeDockerHttpServer::Start(dir_.File("docker.sock")));
    config_.socket_path = server_->socket_path();
    config_.connect_timeout = absl::Seconds(2);
    config_.request_timeout = absl::Seconds(10);
    ASSERT_OK_AND_ASSIGN(client_, MakeCurlDockerClient(config_));
  }

  // The only request the fake received.
  RecordedRequest OnlyRequest() {
    std::vector<RecordedRequest> requests = server_->requests();
    EXPECT_EQ(requests.size(), 1u);
    return requests.empty() ? RecordedRequest{} : requests[0];
  }

  berth::testing::TempDir dir_;
  std::unique_ptr<FakeDockerHttpServer> server_;
  CurlDockerClientConfig config_;
  std::unique_ptr<DockerClient> client_;
};

}  // namespace berth::docker::testing

#endif  // BERTH_DOCKER_SVC_ENGINE_TESTING_CURL_DOCKER_CLIENT_FIXTURE_H_
