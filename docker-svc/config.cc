#include "docker-svc/config.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/unix_socket.h"

namespace berth::docker {
namespace {

absl::Status CheckPositive(absl::Duration value, absl::string_view flag) {
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be positive, not ", absl::FormatDuration(value)));
  }
  return absl::OkStatus();
}

absl::Status CheckAbsolute(const std::string& path, absl::string_view flag) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be an absolute path, not \"", path, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> BuildConfig(const FlagValues& flags) {
  if (absl::Status listen = common::UnixSocketPath(flags.listen).status(); !listen.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: ", listen.message()));
  }
  if (absl::Status allocator = common::UnixSocketPath(flags.allocator).status(); !allocator.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--allocator: ", allocator.message()));
  }
  RETURN_IF_ERROR(CheckAbsolute(flags.docker_socket, "--docker_socket"));
  RETURN_IF_ERROR(CheckAbsolute(flags.apps_dir, "--apps_dir"));
  // Docker resolves bind mounts on the host: the mapping directories need absolute paths.
  RETURN_IF_ERROR(CheckAbsolute(flags.boxes_dir, "--boxes_dir"));
  RETURN_IF_ERROR(CheckPositive(flags.resync_interval, "--resync_interval"));
  RETURN_IF_ERROR(CheckPositive(flags.allocator_timeout, "--allocator_timeout"));
  RETURN_IF_ERROR(CheckPositive(flags.docker_timeout, "--docker_timeout"));
  RETURN_IF_ERROR(CheckPositive(flags.shutdown_grace, "--shutdown_grace"));
  Config config;
  config.listen = flags.listen;
  config.allocator = flags.allocator;
  config.docker_socket = flags.docker_socket;
  config.apps_dir = flags.apps_dir;
  config.boxes_dir = flags.boxes_dir;
  config.resync_interval = flags.resync_interval;
  config.allocator_timeout = flags.allocator_timeout;
  config.docker_timeout = flags.docker_timeout;
  config.shutdown_grace = flags.shutdown_grace;
  return config;
}

}  // namespace berth::docker
