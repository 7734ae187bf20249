#include "gateway/server/file_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace berth::gateway {
namespace {

// The kernel's ceiling of any RLIMIT_NOFILE (fs.nr_open), for a hard limit of "infinity".
rlim_t KernelFileCeiling() {
  uint64_t nr_open = 0;
  std::ifstream("/proc/sys/fs/nr_open") >> nr_open;
  return nr_open > 0 ? static_cast<rlim_t>(nr_open) : rlim_t{1} << 20;
}

}  // namespace

absl::StatusOr<uint64_t> RaiseFileLimitFor(uint64_t max_connections) {
  const uint64_t needed = max_connections + kReservedFileDescriptors;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  const rlim_t hard = limit.rlim_max == RLIM_INFINITY ? KernelFileCeiling() : limit.rlim_max;
  if (hard < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--max_connections=", max_connections, " needs ", needed, " file descriptors (",
        kReservedFileDescriptors, " for the gateway itself), but the hard limit RLIMIT_NOFILE is ",
        hard,
        ": raise it (LimitNOFILE= in the systemd unit, ulimit -Hn) or lower --max_connections"));
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < hard) {
    limit.rlim_cur = hard;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot raise the soft RLIMIT_NOFILE to ",
                                                        hard, ": ", std::strerror(errno)));
    }
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace berth::gateway
