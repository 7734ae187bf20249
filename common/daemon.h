#ifndef BERTH_COMMON_DAEMON_H_
#define BERTH_COMMON_DAEMON_H_

#include <functional>
#include <string>
#include <vector>

#include <grpcpp/impl/codegen/service_type.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/unix_socket.h"

namespace berth::common {

// Readies the process to be a daemon. Call it first thing in a daemon's Run(), before anything
// starts a thread:
//   - blocks SIGTERM and SIGINT, so that every thread created afterwards inherits the mask and
//     the signals wait for ServeUntilSignalled; ignores SIGPIPE;
//   - turns off abseil's mutex deadlock detection (Debian builds it in; it costs a few percent
//     on every lock);
//   - fixes malloc's trim threshold at 4 MiB and its mmap threshold at 1 MiB, so that arenas
//     are not shrunk and regrown with every request.
void PrepareDaemonProcess();

struct ServeOptions {
  // Name used in logs and in systemd's STATUS=.
  std::string name;
  // Services to register (not owned; they must outlive the call), and the full names under
  // which the health service reports them.
  std::vector<grpc::Service*> services;
  std::vector<std::string> service_names;
  // How long in-flight calls may run on after SIGTERM before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Watchdog pings are sent only while this answers OK (when unset, always).
  std::function<absl::Status()> liveness;
  // Called once the grace is over, before the calls still running are cancelled: makes the
  // service's own work (retry loops, waits) give up, so that every handler returns.
  std::function<void()> abandon_work;
};

// The life of a daemon's gRPC server, shared by every Berth daemon:
//   - serves on the socket the caller claimed (see UnixSocketClaim; claim it before opening
//     any state, so that a second instance touches nothing) with the health service and
//     server reflection on;
//   - sets the socket mode to 0660, checks that a health call over the socket succeeds, and
//     only then sends READY=1 to systemd;
//   - when the service manager asks for it (WATCHDOG_USEC), sends WATCHDOG=1 every half period
//     while `liveness` is OK;
//   - on SIGTERM/SIGINT sends STOPPING=1, marks every service NOT_SERVING and stops the server,
//     cancelling calls still running after `shutdown_grace` (and calling `abandon_work` first).
// Returns OK after a clean stop, or why the server could not start.
// PrepareDaemonProcess() must have been called before any thread was created.
absl::Status ServeUntilSignalled(const ServeOptions& options, UnixSocketClaim claim);

}  // namespace berth::common

#endif  // BERTH_COMMON_DAEMON_H_
