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
//   - blocks SIGTERM and SIGINT in every thread and takes them on a thread of its own. Until
//     the daemon serves (BeginServing()), either one ends the process at once with exit code 0:
//     start-up steps are safe to cut short (each daemon recovers from a crash at any point), and
//     some of them wait without end for a dependency that is down (docker-svc's recovery while
//     dockerd is). Once it serves, the signal is for WaitForStopSignal(). Ignores SIGPIPE;
//   - turns off abseil's mutex deadlock detection (Debian builds it in; it costs a few percent
//     on every lock);
//   - fixes malloc's trim threshold at 4 MiB and its mmap threshold at 1 MiB, so that arenas
//     are not shrunk and regrown with every request.
void PrepareDaemonProcess();

// From now on a stop signal is handed to WaitForStopSignal() instead of ending the process.
// Call it before telling anyone (systemd's READY=1) that the daemon serves.
void BeginServing();

// Waits up to `timeout` for SIGTERM or SIGINT (after BeginServing()); the signal's number, or 0
// when none came in time. Once one came, every later call returns it at once.
int WaitForStopSignal(absl::Duration timeout);

struct ServeOptions {
  // Name used in logs and in systemd's STATUS=.
  std::string name;
  // The group that may connect to the socket (see UnixSocketClaim::RestrictMode); empty: the
  // process's own.
  std::string socket_group;
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
//     server reflection, grpc.reflection.v1 and v1alpha (see AddServerReflection), on;
//   - gives the socket to `socket_group` with mode 0660, checks that a health call over the socket succeeds, and
//     only then sends READY=1 to systemd;
//   - when the service manager asks for it (WATCHDOG_USEC), sends WATCHDOG=1 every half period
//     while `liveness` is OK;
//   - on SIGTERM/SIGINT sends STOPPING=1, marks every service NOT_SERVING and stops the server,
//     cancelling calls still running after `shutdown_grace` (and calling `abandon_work` first).
// Returns OK after a clean stop, or why the server could not start. The caller keeps `claim`
// until its own state is closed, so that no second instance starts on that state before.
// PrepareDaemonProcess() must have been called before any thread was created.
absl::Status ServeUntilSignalled(const ServeOptions& options, const UnixSocketClaim& claim);

}  // namespace berth::common

#endif  // BERTH_COMMON_DAEMON_H_
