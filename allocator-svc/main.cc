// allocator-svc: hands out host resources (TTYs, host ports, GPU slots) as durable leases.
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "allocator-svc/config.h"
#include "allocator-svc/run.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "unix:/run/berth/allocator.sock", "gRPC listen address (unix:PATH)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, db, "/var/lib/berth/allocator.db", "SQLite state file");
ABSL_FLAG(std::string, tty_range, "10-64", "TTY numbers handed out, BEGIN-END (END exclusive)");
ABSL_FLAG(std::string, port_range, "20000-32768",
          "host ports handed out per protocol, BEGIN-END (END exclusive)");
ABSL_FLAG(std::string, reserved_ports, "", "host ports never handed out, e.g. 4678,30000-30010");
ABSL_FLAG(std::string, gpus, "", "GPU indexes, e.g. 0,1; empty: one per /dev/nvidia[0-9]*");
ABSL_FLAG(int32_t, boxes_per_gpu, 3, "boxes sharing one GPU at most");
ABSL_FLAG(int32_t, max_boxes, 0, "boxes on this host at most; 0: one per TTY of --tty_range");
ABSL_FLAG(absl::Duration, reserve_grace, absl::Seconds(120),
          "a reservation whose container has not appeared after this long is reclaimed");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "how long calls in flight may finish after SIGTERM");
ABSL_FLAG(std::string, socket_group, "",
          "the group whose members may connect to --listen (socket mode 0660); empty: the "
          "daemon's own group");

ABSL_FLAG(std::string, metrics_listen, "",
          "IPV4:PORT to serve Prometheus metrics on over HTTP (GET /metrics), e.g. "
          "127.0.0.1:9741; empty: not served");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Berth allocator-svc: durable leases of host resources");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status = berth::common::InitLogging("allocator-svc", absl::GetFlag(FLAGS_log_level));
      !status.ok()) {
    fprintf(stderr, "allocator-svc: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  berth::allocator::FlagValues flags;
  flags.listen = absl::GetFlag(FLAGS_listen);
  flags.db = absl::GetFlag(FLAGS_db);
  flags.tty_range = absl::GetFlag(FLAGS_tty_range);
  flags.port_range = absl::GetFlag(FLAGS_port_range);
  flags.reserved_ports = absl::GetFlag(FLAGS_reserved_ports);
  flags.gpus = absl::GetFlag(FLAGS_gpus);
  flags.boxes_per_gpu = absl::GetFlag(FLAGS_boxes_per_gpu);
  flags.max_boxes = absl::GetFlag(FLAGS_max_boxes);
  flags.reserve_grace = absl::GetFlag(FLAGS_reserve_grace);
  flags.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  flags.socket_group = absl::GetFlag(FLAGS_socket_group);
  flags.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  absl::StatusOr<berth::allocator::Config> config = berth::allocator::BuildConfig(flags);
  if (!config.ok()) {
    spdlog::error("bad flags: {}", config.status().ToString());
    return EXIT_FAILURE;
  }
  if (absl::Status status = berth::allocator::Run(*config); !status.ok()) {
    spdlog::error("allocator-svc: {}", status.ToString());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
