#ifndef BERTH_FLEET_AGENT_AGENT_AGENT_H_
#define BERTH_FLEET_AGENT_AGENT_AGENT_H_

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "fleet-agent/agent/config.h"
#include "fleet-agent/agent/database.h"
#include "fleet-agent/schema/fleet_store.h"

namespace berth::fleet {

// Joins this host to the fleet: mirrors docker-svc's boxes into berth.boxes, heartbeats the
// host's row with docker-svc's Host report, and does what the rows ask of the host.
//
// Three loops, each with a PostgreSQL connection of its own that it re-opens with backoff
// when it breaks:
//   - control: registers the host, LISTENs on its channel, heartbeats every
//     heartbeat_interval (one statement, which also counts the rows waiting for an action, so
//     that a lost NOTIFY is found within a heartbeat), follows drain requests (Drain, Undrain)
//     and hands waiting rows to the workers;
//   - watch: docker-svc's Watch, snapshot then changes, into the table; after each snapshot
//     the host's rows of boxes docker-svc no longer has are ended (berth.resync_host). Until
//     then the host is not `synced` and stays PRE_CONNECTION, and no action runs;
//   - workers (action_workers): Create (cold), Assign (warm), Stop, each row once at a time.
// Any PostgreSQL outage or reconnection, or the host having been reaped LOST, restarts the
// watch, so that both sides agree again. A row whose create began and that left no box is
// FAILED rather than made again (no box is made twice for one row).
class Agent {
 public:
  Agent(const AgentConfig& config, std::shared_ptr<grpc::Channel> boxes);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  void Start();
  // Stops the loops and joins them; idempotent.
  void Stop();
  // OK while the control loop goes round (for the watchdog): it has finished an iteration
  // within the last three heartbeat intervals (or 30 s, if longer).
  absl::Status Liveness() const;

 private:
  struct Work {
    PendingAction action;
  };

  void ControlLoop();
  // One round of the control loop on an open connection; false when the connection broke.
  bool ControlRound(pg::Connection& db, FleetStore& store, absl::Time* next_heartbeat);
  // Registers and LISTENs; false when the connection broke or the host could not register.
  bool Register(pg::Connection& db, FleetStore& store);
  absl::Status Heartbeat(FleetStore& store);
  // Makes docker-svc follow the row's drain request; true when it changed docker-svc's state.
  bool FollowDrain(FleetStore& store, const HeartbeatAnswer& answer,
                   box::v1::DrainState drain_state);
  // A CREATING row that no worker of this process works on: its create began before a restart
  // of the agent (or of the watch). Settled from the mirror, never by asking for the box again.
  void SettleOrphanCreate(FleetStore& store, const PendingAction& action);
  absl::Status Sweep(FleetStore& store);

  void WatchLoop();
  // Mirrors one Watch stream until it ends, is cancelled or a write fails.
  void MirrorOneStream(Database& db);
  void RestartWatch();

  void WorkerLoop();
  void Execute(FleetStore& store, const PendingAction& action);
  void ExecuteCreate(FleetStore& store, const PendingAction& action);
  void ExecuteAssign(FleetStore& store, const PendingAction& action);
  void ExecuteStop(FleetStore& store, const PendingAction& action);

  bool stopping() const { return stopping_.load(); }
  // Sleeps up to `duration`, less when stopping.
  void Pause(absl::Duration duration);
  // Marks the control loop as going round (Liveness).
  void Alive() { last_round_ns_ = absl::GetCurrentTimeNanos(); }

  const AgentConfig config_;
  std::unique_ptr<box::v1::Boxes::Stub> boxes_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  // The host's row exists (registered once by this process): the watch mirrors only then.
  std::atomic<bool> registered_{false};
  std::atomic<bool> sweep_requested_{false};
  std::atomic<bool> heartbeat_requested_{false};
  std::atomic<int64_t> last_round_ns_{0};
  // When docker-svc (the process the last Host report came from) started, and when the mirror
  // last completed a snapshot (Unix ns; 0: not yet).
  std::atomic<int64_t> docker_started_ns_{0};
  std::atomic<int64_t> snapshot_done_ns_{0};
  absl::Time last_watch_complaint_ = absl::InfinitePast();  // the watch thread's

  absl::Mutex mu_;
  // The Watch call in flight, to cancel it (RestartWatch).
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool watch_restart_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PendingAction> queue_ ABSL_GUARDED_BY(mu_);
  // Rows being worked on, and those that asked again meanwhile (swept again once done).
  std::set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> asked_again_ ABSL_GUARDED_BY(mu_);

  std::vector<std::thread> threads_;
};

}  // namespace berth::fleet

#endif  // BERTH_FLEET_AGENT_AGENT_AGENT_H_
