#ifndef BERTH_DOCKER_SVC_BOXES_STOP_REASONS_H_
#define BERTH_DOCKER_SVC_BOXES_STOP_REASONS_H_

#include "absl/strings/string_view.h"

namespace berth::docker {

// The reasons docker-svc's own rules give a box's end (the box's `reason`, in its events and
// logs). A caller's Stop gives its own reason, or kStoppedReason.
inline constexpr char kStoppedReason[] = "stopped";     // a Stop without a reason
inline constexpr char kTtlReason[] = "ttl";             // older than its TTL
inline constexpr char kDiedReason[] = "died";           // its process exited
inline constexpr char kOomReason[] = "oom";             // OOM-killed
inline constexpr char kRemovedReason[] = "removed";     // container gone elsewise
inline constexpr char kDiskReason[] = "disk";           // writable layer too big
inline constexpr char kDrainingReason[] = "draining";   // WAITING box of a drain
inline constexpr char kNotReadyReason[] = "not ready";  // create's wait_for_ready
inline constexpr char kNotReadyAfterConfigReason[] = "not ready after its config";
inline constexpr char kBoxShutdownReason[] = "shutdown requested by the box";
inline constexpr char kDetachedReason[] = "mapping directory detached by a Docker engine restart";
inline constexpr char kBrokenMappingDirReason[] = "its mapping directory cannot be written";
// Followed by the timeout, e.g. "no client config within 90s".
inline constexpr char kNoConfigReasonPrefix[] = "no client config within ";

// A box's end as a metric label, one of a bounded set: `requested` for every end a caller
// asked for (`by_caller`: its reason is the caller's text, whatever it says), else ttl, died,
// oom, removed, disk, drain, unready (not ready in time, either way), config_timeout,
// box_shutdown, detached, broken_mapping_dir, or other.
const char* StopReasonLabel(absl::string_view reason, bool by_caller);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_STOP_REASONS_H_
