#ifndef BERTH_BENCH_FLEET_LOAD_FLEET_H_
#define BERTH_BENCH_FLEET_LOAD_FLEET_H_

// The fleet that fleet_load measures, on one machine: one PostgreSQL and N hosts, each a real
// allocator-svc + docker-svc (testing_support/box_host.h's BoxHost) on a fake_dockerd of its
// own, and a real fleet-agent; a docker-svc Watch stream per host that records when each box
// turned ALLOCATED, and to whom; CPU readings of each kind of process.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/fake_dockerd/fake_dockerd_process.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "testing_support/box_host.h"
#include "testing_support/daemon_process.h"
#include "testing_support/postgres_cluster.h"

namespace berth::bench::fleet_load {

using Clock = std::chrono::steady_clock;

// The app every host serves: the test box's four ports, no TTY, no readiness marker (the fake
// engine runs no box process, so a box with a marker would never be ready), and a config
// timeout longer than any run, so that the sweeper never ends an assigned box mid-measurement.
inline constexpr char kApp[] = "fleet-box";
std::string FleetBoxProfile();

// ---------------------------------------------------------------------------------------------
// What to undo when the run dies (FATAL, Ctrl-C): processes to SIGKILL, a postmaster to stop
// at once, directories to remove. Destructors do the same on the normal path and unregister.
// Thread-safe.

void RegisterPid(pid_t pid);
void UnregisterPid(pid_t pid);
void RegisterPostmaster(pid_t pid);
void RegisterDir(const std::string& path);
void UnregisterDir(const std::string& path);
// Kills every registered process (the postmaster with SIGQUIT: PostgreSQL's immediate
// shutdown), waits up to 5 s for them, removes the registered directories.
void CleanUpRegistered();
[[noreturn]] void Die(const std::string& message);

// ---------------------------------------------------------------------------------------------
// One host's docker-svc Watch stream, read on a thread of its own from before the load.

class HostWatch {
 public:
  // A box as it was first seen ALLOCATED with a user.
  struct Allocation {
    std::string user;
    Clock::time_point seen;
    // The box was WAITING without a user (a warm pool box) before: a warm assign. False: the
    // box was made for its user (a cold assign).
    bool warm = false;
  };

  // Opens the stream and returns once its SNAPSHOT_DONE arrived.
  static absl::StatusOr<std::unique_ptr<HostWatch>> Start(const std::string& address,
                                                          const std::string& host_id);
  // Cancels the stream and joins the reader.
  ~HostWatch();
  HostWatch(const HostWatch&) = delete;
  HostWatch& operator=(const HostWatch&) = delete;

  // When `box_id` was first seen ALLOCATED; waits until `deadline` for it. nullopt: not yet.
  std::optional<Allocation> WaitAllocated(const std::string& box_id, Clock::time_point deadline);
  std::optional<Allocation> Allocated(const std::string& box_id) const;
  // Boxes of the host now WAITING without a user.
  int waiting() const;
  // Boxes of the host that are live and have a user.
  int with_user() const;
  // "<box>: <user a> then <user b>" for every box the stream showed with a second user while
  // it was still held by a first (no GONE between): a double assignment on this host.
  std::vector<std::string> conflicts() const;
  // Why the stream ended; nullopt while it runs.
  std::optional<std::string> ended() const;
  const std::string& host_id() const { return host_id_; }

 private:
  explicit HostWatch(std::string host_id) : host_id_(std::move(host_id)) {}
  void Read();
  void OnEvent(const box::v1::BoxEvent& event, Clock::time_point at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string host_id_;
  std::unique_ptr<box::v1::Boxes::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<box::v1::BoxEvent>> reader_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool snapshot_done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::string> ended_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> waiting_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> was_waiting_ ABSL_GUARDED_BY(mu_);
  // The user each live box holds now (erased at GONE).
  std::map<std::string, std::string> holder_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Allocation> allocated_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> conflicts_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------------
// The fleet.

struct FleetOptions {
  int hosts = 1;
  // WAITING boxes each docker-svc keeps (--warm_pool=fleet-box=K).
  int warm = 30;
  // allocator-svc's --max_boxes.
  int max_boxes = 2500;
  absl::Duration heartbeat_interval = absl::Seconds(5);
  std::string fake_dockerd_binary;
  std::string conninfo;  // the fleet's database
  // A directory on /dev/shm of this run; host i's engine keeps its volumes in <it>/h<i>.
  std::string volumes_root;
  // Host ids are "<tag>-<i>".
  std::string tag;
};

class Fleet {
 public:
  struct Host {
    std::string id;
    std::string address;  // what its agent publishes (nothing listens there)
    testing::TempDir engine_dir;  // the fake engine's socket and log
    std::unique_ptr<fake_dockerd::FakeDockerdProcess> engine;
    std::unique_ptr<testing::BoxHost> box_host;
    std::unique_ptr<testing::DaemonProcess> agent;
    std::unique_ptr<HostWatch> watch;
    std::string agent_log() const { return box_host->dir() + "/fleet-agent.log"; }
  };

  // Starts every host's engine, allocator-svc and docker-svc, opens their watches, then starts
  // the agents; returns once every part serves (not yet ACTIVE: see WaitSettled).
  static absl::StatusOr<std::unique_ptr<Fleet>> Start(const FleetOptions& options);
  // SIGTERM to the agents, SIGKILL to the daemons, SIGTERM to the engines (which remove their
  // volumes).
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  std::vector<std::unique_ptr<Host>>& hosts() { return hosts_; }
  Host* HostById(const std::string& id);
  const FleetOptions& options() const { return options_; }

  // Pids of each kind of process: "fleet-agent", "docker-svc", "allocator-svc", "fake_dockerd".
  std::map<std::string, std::vector<pid_t>> Pids() const;

 private:
  explicit Fleet(const FleetOptions& options) : options_(options) {}
  const FleetOptions options_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

// ---------------------------------------------------------------------------------------------
// CPU of the processes involved, by kind.

// CPU seconds so far of every process of each kind, by pid: the fleet's, the postmaster and
// its children (PostgreSQL), and this process ("fleet_load").
struct CpuSample {
  std::map<std::string, std::map<pid_t, double>> by_kind;
  double host_busy_s = 0;
  Clock::time_point at;
};
CpuSample SampleCpu(const Fleet& fleet, pid_t postmaster);
// CPU seconds used between two samples by each kind, and "other" (the host's busy time not
// accounted to any of them). A process that started in between counts whole; one that ended
// in between is lost.
std::map<std::string, double> CpuBetween(const CpuSample& before, const CpuSample& after);

// The postmaster's pid, from <data>/postmaster.pid; 0 when it cannot be read.
pid_t PostmasterPid(const std::string& cluster_dir);

}  // namespace berth::bench::fleet_load

#endif  // BERTH_BENCH_FLEET_LOAD_FLEET_H_
