#ifndef BERTH_GATEWAY_SERVER_FILE_LIMIT_H_
#define BERTH_GATEWAY_SERVER_FILE_LIMIT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace berth::gateway {

// File descriptors the gateway needs besides its connections: the standard streams, the
// listener, the event loops, the backend channels, logging and the files read at start.
inline constexpr uint64_t kReservedFileDescriptors = 128;

// Raises this process's soft RLIMIT_NOFILE to its hard limit (service managers start daemons
// with a low soft limit, e.g. systemd's 1,024), so that `max_connections` connections and
// kReservedFileDescriptors more can be open at once. The soft limit it set; FAILED_PRECONDITION
// saying what to change when even the hard limit is too low, or when it cannot be raised.
absl::StatusOr<uint64_t> RaiseFileLimitFor(uint64_t max_connections);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_FILE_LIMIT_H_
