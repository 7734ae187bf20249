#include "docker-svc/boxes/stop_reasons.h"

#include "absl/strings/match.h"

namespace berth::docker {

const char* StopReasonLabel(absl::string_view reason, bool by_caller) {
  if (by_caller) return "requested";
  struct Known {
    const char* reason;
    const char* label;
  };
  static constexpr Known kKnown[] = {
      {kTtlReason, "ttl"},
      {kDiedReason, "died"},
      {kOomReason, "oom"},
      {kRemovedReason, "removed"},
      {kDiskReason, "disk"},
      {kDrainingReason, "drain"},
      {kNotReadyReason, "unready"},
      {kNotReadyAfterConfigReason, "unready"},
      {kBoxShutdownReason, "box_shutdown"},
      {kDetachedReason, "detached"},
      {kBrokenMappingDirReason, "broken_mapping_dir"},
  };
  for (const Known& known : kKnown) {
    if (reason == known.reason) return known.label;
  }
  if (absl::StartsWith(reason, kNoConfigReasonPrefix)) return "config_timeout";
  return "other";
}

}  // namespace berth::docker
