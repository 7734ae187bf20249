#include "bench/fake_dockerd/fake_dockerd_process.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "docker-svc/engine/curl_docker_client.h"

namespace berth::fake_dockerd {

absl::StatusOr<std::unique_ptr<FakeDockerdProcess>> FakeDockerdProcess::Start(
    const Options& options, absl::Duration timeout) {
  docker::CurlDockerClientConfig config;
  config.socket_path = options.socket_path;
  config.request_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<docker::DockerClient>> client =
      docker::MakeCurlDockerClient(config);
  if (!client.ok()) return client.status();

  testing::DaemonProcess::Options daemon;
  daemon.binary = options.binary;
  daemon.args = {absl::StrCat("--socket=", options.socket_path),
                 absl::StrCat("--volumes_dir=", options.volumes_dir),
                 absl::StrCat("--start_delay=", absl::FormatDuration(options.start_delay))};
  daemon.args.insert(daemon.args.end(), options.extra_args.begin(), options.extra_args.end());
  daemon.log_path = options.log_path;
  absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> process =
      testing::DaemonProcess::Start(daemon);
  if (!process.ok()) return process.status();

  const absl::Time deadline = absl::Now() + timeout;
  absl::Status ping = (*client)->Ping();
  while (!ping.ok()) {
    if (absl::StatusOr<int> exited = (*process)->Wait(absl::ZeroDuration()); exited.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("fake_dockerd exited with code ", *exited, " before it served"));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("fake_dockerd does not answer on ",
                                                      options.socket_path, ": ", ping.ToString()));
    }
    absl::SleepFor(absl::Milliseconds(10));
    ping = (*client)->Ping();
  }
  return std::unique_ptr<FakeDockerdProcess>(
      new FakeDockerdProcess(options, *std::move(process), *std::move(client)));
}

FakeDockerdProcess::~FakeDockerdProcess() {
  if (process_->running()) (void)Stop();
}

absl::StatusOr<int> FakeDockerdProcess::Stop(absl::Duration timeout) {
  return process_->Terminate(timeout);
}

}  // namespace berth::fake_dockerd
