#ifndef BERTH_DOCKER_SVC_ENGINE_CURL_DOCKER_CLIENT_H_
#define BERTH_DOCKER_SVC_ENGINE_CURL_DOCKER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "docker-svc/engine/docker_client.h"

namespace berth::docker {

struct CurlDockerClientConfig {
  // The engine's unix socket (at most 107 bytes).
  std::string socket_path = "/var/run/docker.sock";
  // Every request but /_ping and /version goes to /v<api_version>/...; Version() refuses an
  // engine older than this.
  std::string api_version = "1.41";
  // Bounds connecting to the socket, for every call including StreamEvents().
  absl::Duration connect_timeout = absl::Seconds(5);
  // Bounds each whole call but StreamEvents() (StopContainer() adds its grace period).
  absl::Duration request_timeout = absl::Seconds(60);
};

// A DockerClient speaking HTTP/1.1 to the engine over its unix socket with libcurl: one easy
// handle per call, so calls from many threads run in parallel. Initializes libcurl globally
// on first use (main may do it earlier; the calls are reference-counted).
// INVALID_ARGUMENT for an unusable config (socket path too long, malformed api_version,
// non-positive timeouts).
absl::StatusOr<std::unique_ptr<DockerClient>> MakeCurlDockerClient(
    const CurlDockerClientConfig& config);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_ENGINE_CURL_DOCKER_CLIENT_H_
