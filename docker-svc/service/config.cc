#include "docker-svc/service/config.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "common/unix_socket.h"

namespace berth::docker {
namespace {

// More WAITING boxes than a host could hold are a typo.
constexpr int kMaxWarmPool = 1000;

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

// "app=N,app2=M" as a map; empty text, an empty map.
absl::StatusOr<std::map<std::string, int>> ParseWarmPool(const std::string& text) {
  std::map<std::string, int> pools;
  if (text.empty()) return pools;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::pair<absl::string_view, absl::string_view> app_size = absl::StrSplit(item, '=');
    int size = 0;
    if (app_size.first.empty() || !absl::SimpleAtoi(app_size.second, &size) || size < 0 ||
        size > kMaxWarmPool) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--warm_pool: \"", item, "\" is not app=N with N from 0 to ", kMaxWarmPool));
    }
    if (!pools.emplace(std::string(app_size.first), size).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--warm_pool: app ", app_size.first, " given twice"));
    }
  }
  return pools;
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
  RETURN_IF_ERROR(CheckPositive(flags.assignment_wait, "--assignment_wait"));
  RETURN_IF_ERROR(CheckPositive(flags.user_box_ttl, "--user_box_ttl"));
  RETURN_IF_ERROR(CheckPositive(flags.disk_check_interval, "--disk_check_interval"));
  if (flags.user_box_max_ttl < flags.user_box_ttl) {
    return absl::InvalidArgumentError("--user_box_max_ttl must be at least --user_box_ttl");
  }
  if (flags.max_boxes_per_user < 0) {
    return absl::InvalidArgumentError("--max_boxes_per_user must not be negative");
  }
  if (flags.max_watches < 1) return absl::InvalidArgumentError("--max_watches must be positive");
  using WarmPools = std::map<std::string, int>;
  ASSIGN_OR_RETURN(WarmPools warm_pool, ParseWarmPool(flags.warm_pool));
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
  config.warm_pool = std::move(warm_pool);
  config.assignment_wait = flags.assignment_wait;
  config.max_boxes_per_user = flags.max_boxes_per_user;
  config.user_box_ttl = flags.user_box_ttl;
  config.user_box_max_ttl = flags.user_box_max_ttl;
  config.disk_check_interval = flags.disk_check_interval;
  config.max_watches = flags.max_watches;
  config.socket_group = flags.socket_group;
  RETURN_IF_ERROR(common::ValidateMetricsListen(flags.metrics_listen));
  config.metrics_listen = flags.metrics_listen;
  return config;
}

}  // namespace berth::docker
