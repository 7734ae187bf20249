#ifndef BERTH_BENCH_FAKE_DOCKERD_FAKE_DOCKERD_PROCESS_H_
#define BERTH_BENCH_FAKE_DOCKERD_FAKE_DOCKERD_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "docker-svc/engine/docker_client.h"
#include "testing_support/daemon_process.h"

namespace berth::fake_dockerd {

// A fake_dockerd run as a child process, for tests and benchmarks.
class FakeDockerdProcess {
 public:
  struct Options {
    std::string binary;       // the fake_dockerd executable
    std::string socket_path;  // where it serves (at most 107 bytes)
    // Its --volumes_dir: empty (or missing) and on a tmpfs; the caller removes it afterwards.
    std::string volumes_dir;
    absl::Duration start_delay = absl::ZeroDuration();
    std::string log_path;  // its stderr (appended); empty: inherited
    std::vector<std::string> extra_args;
  };

  // Starts it and waits until it answers `GET /_ping` (FAILED_PRECONDITION when it exits
  // first, DEADLINE_EXCEEDED after `timeout`).
  static absl::StatusOr<std::unique_ptr<FakeDockerdProcess>> Start(
      const Options& options, absl::Duration timeout = absl::Seconds(10));
  // Stop() when it still runs.
  ~FakeDockerdProcess();
  FakeDockerdProcess(const FakeDockerdProcess&) = delete;
  FakeDockerdProcess& operator=(const FakeDockerdProcess&) = delete;

  // SIGTERM, and its exit code once it is gone (it removes its volumes' directories first).
  absl::StatusOr<int> Stop(absl::Duration timeout = absl::Seconds(10));

  // A client of the engine (docker-svc's own, CurlDockerClient) on its socket.
  docker::DockerClient& client() { return *client_; }
  testing::DaemonProcess& process() { return *process_; }
  const std::string& socket_path() const { return options_.socket_path; }
  const std::string& volumes_dir() const { return options_.volumes_dir; }

 private:
  FakeDockerdProcess(Options options, std::unique_ptr<testing::DaemonProcess> process,
                     std::unique_ptr<docker::DockerClient> client)
      : options_(std::move(options)), process_(std::move(process)), client_(std::move(client)) {}

  const Options options_;
  std::unique_ptr<testing::DaemonProcess> process_;
  std::unique_ptr<docker::DockerClient> client_;
};

}  // namespace berth::fake_dockerd

#endif  // BERTH_BENCH_FAKE_DOCKERD_FAKE_DOCKERD_PROCESS_H_
