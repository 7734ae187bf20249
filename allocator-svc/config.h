#ifndef BERTH_ALLOCATOR_SVC_CONFIG_H_
#define BERTH_ALLOCATOR_SVC_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "allocator-svc/allocator.h"

namespace berth::allocator {

// The daemon's flags as given, before validation (main.cc reads them, nothing else does).
struct FlagValues {
  std::string listen = "unix:/run/berth/allocator.sock";
  std::string db = "/var/lib/berth/allocator.db";
  std::string tty_range = "10-64";
  std::string port_range = "20000-32768";
  std::string reserved_ports;
  // Empty: detect /dev/nvidia[0-9]* under `dev_dir`.
  std::string gpus;
  int32_t boxes_per_gpu = 3;
  // 0: as many boxes as the TTY range has TTYs.
  int32_t max_boxes = 0;
  absl::Duration reserve_grace = absl::Seconds(120);
  absl::Duration shutdown_grace = absl::Seconds(10);
  std::string dev_dir = "/dev";
  std::string socket_group;
  // "IPV4:PORT" to serve Prometheus metrics on; empty: not served.
  std::string metrics_listen;
};

struct Config {
  std::string listen;
  std::string db;
  AllocatorConfig allocator;
  absl::Duration shutdown_grace;
  // The group that may connect to the socket; empty: the process's own.
  std::string socket_group;
  // Where GET /metrics is served over HTTP (common::ValidateMetricsListen); empty: nowhere.
  std::string metrics_listen;
};

// Validates flag values into a Config; INVALID_ARGUMENT names the flag.
absl::StatusOr<Config> BuildConfig(const FlagValues& flags);

// The GPU indexes N of the /dev/nvidiaN device nodes in `dev_dir`, sorted.
std::vector<int32_t> DetectGpus(const std::string& dev_dir);

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_CONFIG_H_
