#ifndef BERTH_DOCKER_SVC_SERVICE_CONFIG_H_
#define BERTH_DOCKER_SVC_SERVICE_CONFIG_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace berth::docker {

// docker-svc's flags as given, before validation (main.cc reads them, nothing else does).
struct FlagValues {
  std::string listen = "unix:/run/berth/boxes.sock";
  std::string allocator = "unix:/run/berth/allocator.sock";
  std::string docker_socket = "/var/run/docker.sock";
  std::string apps_dir = "/etc/berth/apps";
  std::string boxes_dir = "/var/lib/berth/boxes";
  absl::Duration resync_interval = absl::Seconds(30);
  absl::Duration allocator_timeout = absl::Seconds(10);
  absl::Duration docker_timeout = absl::Seconds(60);
  absl::Duration shutdown_grace = absl::Seconds(10);
  // "app=N,app2=M": WAITING boxes to keep per app, overriding the profiles' warm_pool_size.
  std::string warm_pool;
  absl::Duration assignment_wait = absl::Seconds(60);
  int max_boxes_per_user = 3;
  absl::Duration user_box_ttl = absl::Hours(1);
  absl::Duration user_box_max_ttl = absl::Hours(12);
  absl::Duration disk_check_interval = absl::Seconds(10);
  int max_watches = 256;
  std::string socket_group;
  // "IPV4:PORT" to serve Prometheus metrics on; empty: not served.
  std::string metrics_listen;
};

struct Config {
  std::string listen;
  std::string allocator;
  std::string docker_socket;
  std::string apps_dir;
  std::string boxes_dir;
  absl::Duration resync_interval;
  absl::Duration allocator_timeout;
  absl::Duration docker_timeout;
  absl::Duration shutdown_grace;
  // App -> WAITING boxes to keep, from --warm_pool (overriding the profiles for these apps).
  std::map<std::string, int> warm_pool;
  // How long SetConfig waits for its box to be assigned.
  absl::Duration assignment_wait;
  // What end users may create (the backend is exempt).
  int max_boxes_per_user;
  absl::Duration user_box_ttl;
  absl::Duration user_box_max_ttl;
  absl::Duration disk_check_interval;
  // Watch streams served at once; more are RESOURCE_EXHAUSTED.
  int max_watches;
  // The group that may connect to the socket; empty: the process's own.
  std::string socket_group;
  // Where GET /metrics is served over HTTP (common::ValidateMetricsListen); empty: nowhere.
  std::string metrics_listen;
};

// Validates flag values into a Config; INVALID_ARGUMENT names the flag.
absl::StatusOr<Config> BuildConfig(const FlagValues& flags);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_SERVICE_CONFIG_H_
