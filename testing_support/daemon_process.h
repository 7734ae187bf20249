#ifndef BERTH_TESTING_SUPPORT_DAEMON_PROCESS_H_
#define BERTH_TESTING_SUPPORT_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/temp_dir.h"

namespace berth::testing {

// A real daemon binary run as a child process, for tests and load generators.
// The child's stdout and stderr go to `log_path` (appended) when given, else are inherited.
// The destructor SIGKILLs a child that is still running. Not thread-safe.
class DaemonProcess {
 public:
  struct Options {
    std::string binary;
    std::vector<std::string> args;
    // Extra environment entries, "NAME=value", on top of this process's environment.
    std::vector<std::string> env;
    std::string log_path;
  };

  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(const Options& options);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Waits until a gRPC health Check on `address` ("unix:/path") answers SERVING, or fails
  // with DEADLINE_EXCEEDED after `timeout`, or FAILED_PRECONDITION when the child exits.
  absl::Status WaitServing(const std::string& address, absl::Duration timeout);

  // Waits for the child to exit by itself; returns its exit code (128 + N for signal N).
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // Sends SIGTERM and waits for the exit code.
  absl::StatusOr<int> Terminate(absl::Duration timeout = absl::Seconds(20));
  // Sends SIGKILL and reaps the child.
  void Kill();

 private:
  explicit DaemonProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

// The path of a daemon binary built by this project ("allocator-svc").
std::string DaemonBinary(const std::string& name);

}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_DAEMON_PROCESS_H_
