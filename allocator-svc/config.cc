#include "allocator-svc/config.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "common/unix_socket.h"
#include "common/value_parsing.h"

namespace berth::allocator {

std::vector<int32_t> DetectGpus(const std::string& dev_dir) {
  std::vector<int32_t> gpus;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dev_dir, error)) {
    // The file name is kept: a view of filename() would outlive the temporary path it names.
    const std::string file_name = entry.path().filename().native();
    absl::string_view name = file_name;
    int32_t index = 0;
    if (absl::ConsumePrefix(&name, "nvidia") && !name.empty() &&
        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        absl::SimpleAtoi(name, &index)) {
      gpus.push_back(index);
    }
  }
  std::sort(gpus.begin(), gpus.end());
  return gpus;
}

absl::StatusOr<Config> BuildConfig(const FlagValues& flags) {
  Config config;
  RETURN_IF_ERROR(common::UnixSocketPath(flags.listen).status());
  config.listen = flags.listen;
  if (flags.db.empty()) return absl::InvalidArgumentError("--db must name the state file");
  config.db = flags.db;
  AllocatorConfig& allocator = config.allocator;
  ASSIGN_OR_RETURN(allocator.ttys, common::ParseIntRange(flags.tty_range, 0, 65536, "--tty_range"));
  ASSIGN_OR_RETURN(allocator.ports,
                   common::ParseIntRange(flags.port_range, 1, 65536, "--port_range"));
  ASSIGN_OR_RETURN(allocator.reserved_ports, common::ParsePortList(flags.reserved_ports));
  if (flags.gpus.empty()) {
    allocator.gpus = DetectGpus(flags.dev_dir);
  } else {
    ASSIGN_OR_RETURN(allocator.gpus, common::ParseIndexList(flags.gpus, 1023, "--gpus"));
  }
  if (flags.boxes_per_gpu < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--boxes_per_gpu must be at least 1, not ", flags.boxes_per_gpu));
  }
  allocator.boxes_per_gpu = flags.boxes_per_gpu;
  if (flags.max_boxes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_boxes must be 0 (one per TTY) or more, not ", flags.max_boxes));
  }
  allocator.max_boxes = flags.max_boxes == 0 ? static_cast<uint32_t>(allocator.ttys.size())
                                             : static_cast<uint32_t>(flags.max_boxes);
  if (flags.reserve_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--reserve_grace must be positive");
  }
  allocator.reserve_grace = flags.reserve_grace;
  if (flags.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  config.shutdown_grace = flags.shutdown_grace;
  config.socket_group = flags.socket_group;
  RETURN_IF_ERROR(common::ValidateMetricsListen(flags.metrics_listen));
  config.metrics_listen = flags.metrics_listen;
  return config;
}

}  // namespace berth::allocator
