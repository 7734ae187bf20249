#ifndef BERTH_BENCH_DAEMON_START_H_
#define BERTH_BENCH_DAEMON_START_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "testing_support/daemon_process.h"

namespace berth::bench {

// The last `lines` lines of the file at `path`, each as "  | <line>\n" (for error messages).
std::string LogTail(const std::string& path, int lines);

// Starts a daemon and waits (up to 60 s) until its gRPC health check on `address` answers.
// The error names `what` and, when it started but does not serve, ends with its log's tail.
absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> StartServingDaemon(
    const testing::DaemonProcess::Options& options, const std::string& address,
    const std::string& what);

}  // namespace berth::bench

#endif  // BERTH_BENCH_DAEMON_START_H_
