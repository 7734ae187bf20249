// docker-svc: creates, watches and removes boxes through the Docker Engine API.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "docker-svc/service/config.h"
#include "docker-svc/service/run.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "unix:/run/berth/boxes.sock", "gRPC listen address (unix:PATH)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, allocator, "unix:/run/berth/allocator.sock", "allocator-svc's address");
ABSL_FLAG(std::string, docker_socket, "/var/run/docker.sock", "the Docker engine's unix socket");
ABSL_FLAG(std::string, apps_dir, "/etc/berth/apps", "app profiles, one <name>.textproto each");
ABSL_FLAG(std::string, boxes_dir, "/var/lib/berth/boxes",
          "docker-svc's records of the boxes (<dir>/.records/); it names the boxes of this "
          "docker-svc (their mapping directories are tmpfs volumes of Docker's)");
ABSL_FLAG(absl::Duration, resync_interval, absl::Seconds(30),
          "how often Docker's containers and the allocator's leases are checked against the "
          "boxes");
ABSL_FLAG(absl::Duration, allocator_timeout, absl::Seconds(10),
          "how long a call waits for allocator-svc (which may be restarting)");
ABSL_FLAG(absl::Duration, docker_timeout, absl::Seconds(60),
          "bound of each Docker Engine call except the event stream");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "how long calls in flight may finish after SIGTERM");
ABSL_FLAG(std::string, warm_pool, "",
          "app=N,...: WAITING boxes to keep per app (overrides the profiles' warm_pool_size)");
ABSL_FLAG(absl::Duration, assignment_wait, absl::Seconds(60),
          "how long a client's config (SetConfig, json_transport) waits for its box to be "
          "assigned");
ABSL_FLAG(int, max_boxes_per_user, 3,
          "boxes one end user may have at once (the backend is exempt; 0: end users may "
          "create none)");
ABSL_FLAG(absl::Duration, user_box_ttl, absl::Hours(1),
          "the TTL of a box an end user creates without one");
ABSL_FLAG(absl::Duration, user_box_max_ttl, absl::Hours(12),
          "the longest TTL an end user may give a box");
ABSL_FLAG(absl::Duration, disk_check_interval, absl::Seconds(10),
          "how often boxes whose app sets disk_limit_bytes have their writable layer measured");
ABSL_FLAG(int, max_watches, 256, "Watch streams served at once");
ABSL_FLAG(std::string, socket_group, "",
          "the group whose members may connect to --listen (socket mode 0660); empty: the "
          "daemon's own group");

ABSL_FLAG(std::string, metrics_listen, "",
          "IPV4:PORT to serve Prometheus metrics on over HTTP (GET /metrics), e.g. "
          "127.0.0.1:9742; empty: not served");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Berth docker-svc: boxes on the Docker engine");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status =
          berth::common::InitLogging("docker-svc", absl::GetFlag(FLAGS_log_level));
      !status.ok()) {
    fprintf(stderr, "docker-svc: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  berth::docker::FlagValues flags;
  flags.listen = absl::GetFlag(FLAGS_listen);
  flags.allocator = absl::GetFlag(FLAGS_allocator);
  flags.docker_socket = absl::GetFlag(FLAGS_docker_socket);
  flags.apps_dir = absl::GetFlag(FLAGS_apps_dir);
  flags.boxes_dir = absl::GetFlag(FLAGS_boxes_dir);
  flags.resync_interval = absl::GetFlag(FLAGS_resync_interval);
  flags.allocator_timeout = absl::GetFlag(FLAGS_allocator_timeout);
  flags.docker_timeout = absl::GetFlag(FLAGS_docker_timeout);
  flags.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  flags.warm_pool = absl::GetFlag(FLAGS_warm_pool);
  flags.assignment_wait = absl::GetFlag(FLAGS_assignment_wait);
  flags.max_boxes_per_user = absl::GetFlag(FLAGS_max_boxes_per_user);
  flags.user_box_ttl = absl::GetFlag(FLAGS_user_box_ttl);
  flags.user_box_max_ttl = absl::GetFlag(FLAGS_user_box_max_ttl);
  flags.disk_check_interval = absl::GetFlag(FLAGS_disk_check_interval);
  flags.max_watches = absl::GetFlag(FLAGS_max_watches);
  flags.socket_group = absl::GetFlag(FLAGS_socket_group);
  flags.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  absl::StatusOr<berth::docker::Config> config = berth::docker::BuildConfig(flags);
  if (!config.ok()) {
    spdlog::error("bad flags: {}", config.status().ToString());
    return EXIT_FAILURE;
  }
  if (absl::Status status = berth::docker::Run(*config); !status.ok()) {
    spdlog::error("docker-svc: {}", status.ToString());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
