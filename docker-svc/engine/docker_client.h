#ifndef BERTH_DOCKER_SVC_ENGINE_DOCKER_CLIENT_H_
#define BERTH_DOCKER_SVC_ENGINE_DOCKER_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth::docker {

// One published port: container_port/protocol inside the container, host_ip:host_port outside.
struct PortBinding {
  uint32_t container_port = 0;
  std::string protocol = "tcp";  // "tcp" or "udp"
  uint32_t host_port = 0;        // 0 lets Docker pick (Berth always names one)
  std::string host_ip;           // empty = all addresses

  friend bool operator==(const PortBinding& a, const PortBinding& b) {
    return a.container_port == b.container_port && a.protocol == b.protocol &&
           a.host_port == b.host_port && a.host_ip == b.host_ip;
  }
};

// A host device made visible in the container (Docker's HostConfig.Devices entry).
struct DeviceMapping {
  std::string path_on_host;
  std::string path_in_container;
  std::string cgroup_permissions = "rwm";

  friend bool operator==(const DeviceMapping& a, const DeviceMapping& b) {
    return a.path_on_host == b.path_on_host && a.path_in_container == b.path_in_container &&
           a.cgroup_permissions == b.cgroup_permissions;
  }
};

// A size-limited tmpfs that Docker makes for the container as an anonymous volume (local
// driver), mounts at `target` while the container runs, and removes with the container when
// it is removed with its volumes. Its host side is the volume's mountpoint (MountPoint::source).
struct TmpfsVolume {
  std::string target;     // absolute path in the container
  int64_t size_bytes = 0; // the filesystem's size; required
  std::string mode = "0777";
  int64_t max_inodes = 4096;
  std::map<std::string, std::string> labels;  // the volume's own labels
};

// Everything Berth sets when it creates a container. Zero / empty means "Docker's default".
struct ContainerSpec {
  std::string name;   // e.g. "berth-<box_id>"; empty lets Docker pick
  std::string image;  // required
  std::vector<std::string> cmd;
  std::vector<std::string> env;                // "KEY=VALUE"
  std::map<std::string, std::string> labels;
  std::vector<PortBinding> ports;
  std::vector<std::string> binds;              // "host:container[:ro]"
  std::vector<TmpfsVolume> tmpfs_volumes;
  std::vector<DeviceMapping> devices;
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  std::vector<std::string> security_opt;
  int64_t shm_size_bytes = 0;
  std::map<std::string, std::string> tmpfs;   // container path -> mount options
  int64_t memory_bytes = 0;
  int64_t nano_cpus = 0;                       // 1e9 = one CPU
  int64_t pids_limit = 0;
  std::string stop_signal;                     // e.g. "SIGTERM"
  int32_t stop_timeout_seconds = 0;
};

// One entry of a container's Mounts, as inspect shows it.
struct MountPoint {
  std::string type;         // "volume", "bind", "tmpfs", ...
  std::string name;         // the volume's name, for volumes
  std::string source;       // the host path (a volume's mountpoint)
  std::string destination;  // the path in the container
};

// What Berth reads back from `GET /containers/{id}/json`.
struct ContainerInfo {
  std::string id;
  std::string name;   // without Docker's leading '/'
  std::string image;  // the image the container was created from (Config.Image)
  std::map<std::string, std::string> labels;
  std::string status;  // "created", "running", "paused", "restarting", "removing", "exited", "dead"
  bool running = false;
  int64_t exit_code = 0;
  bool oom_killed = false;
  absl::Time started_at = absl::InfinitePast();   // InfinitePast() = never started
  absl::Time finished_at = absl::InfinitePast();  // InfinitePast() = has not finished
  // HostConfig.PortBindings, one entry per host binding, sorted by (container_port, protocol).
  std::vector<PortBinding> ports;
  std::vector<DeviceMapping> devices;
  std::vector<std::string> env;
  std::vector<MountPoint> mounts;
};

// One entry of `GET /containers/json`.
struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;  // without Docker's leading '/'
  std::map<std::string, std::string> labels;
  std::string state;  // "created", "running", "exited", ...
  // Bytes of the container's writable layer (Docker's SizeRw); only ListContainerSizes fills
  // it in (0 otherwise).
  int64_t size_rw = 0;
};

// One object of Docker's event stream.
struct Event {
  std::string type;      // "container", "image", "network", ...
  std::string action;    // "create", "start", "die", "oom", "destroy", ...
  std::string actor_id;  // container id for container events
  std::map<std::string, std::string> attributes;  // labels, "name", "image", "exitCode", ...
  absl::Time time;       // to the nanosecond when the engine sends timeNano
};

// Stops a running StreamEvents() from any thread. Cancel() is sticky and idempotent; it may
// come before, during or after the stream. One Cancellation serves one stream at a time.
// Thread-safe.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  void Cancel();
  bool IsCancelled() const;

  // For implementations of StreamEvents(): `wake` interrupts the stream's blocking wait. It is
  // run (under this object's lock) by Cancel(), or right away if already cancelled. Clear it
  // with SetWaker(nullptr) before the resource it touches goes away.
  void SetWaker(std::function<void()> wake);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
};

// Filters for StreamEvents(): Docker's filter name -> accepted values, e.g.
// {"type": {"container"}, "label": {"berth.box_id"}, "event": {"die", "oom"}}.
using EventFilters = std::map<std::string, std::vector<std::string>>;

// The Docker Engine operations Berth needs, as plain structs.
//
// Errors, for every method:
//   UNAVAILABLE        the engine cannot be reached (the message names the socket) or answered
//                      5xx; retrying later may help;
//   DEADLINE_EXCEEDED  the engine did not answer within the configured request timeout;
//   INVALID_ARGUMENT   the engine rejected the request (HTTP 400) or the spec is unusable;
//   NOT_FOUND          no such container (or image, for CreateContainer);
//   INTERNAL           a 2xx answer that could not be parsed.
// Messages start with the operation ("create container berth-x: ...") and carry Docker's own
// error message when it sent one.
//
// Implementations are thread-safe: any number of calls may run at once.
class DockerClient {
 public:
  virtual ~DockerClient() = default;

  // The engine answers `GET /_ping`.
  virtual absl::Status Ping() = 0;

  // The engine's API version (e.g. "1.43"). FAILED_PRECONDITION when it is older than the
  // version this client is pinned to.
  virtual absl::StatusOr<std::string> Version() = 0;

  // Creates (does not start) a container; returns its id. ALREADY_EXISTS when a container
  // with spec.name exists (Docker's 409), NOT_FOUND when the image is missing locally.
  virtual absl::StatusOr<std::string> CreateContainer(const ContainerSpec& spec) = 0;

  // Starts a created or stopped container. Already running is OK.
  virtual absl::Status StartContainer(const std::string& id) = 0;

  // Sends the stop signal, waits up to `grace`, then kills. Already stopped is OK. The call
  // may take up to `grace` plus the request timeout.
  virtual absl::Status StopContainer(const std::string& id, absl::Duration grace) = 0;

  // Sends `signal` ("SIGKILL", "SIGTERM", "9"...). FAILED_PRECONDITION when not running.
  virtual absl::Status KillContainer(const std::string& id, const std::string& signal) = 0;

  // Removes a container (running ones only with `force`), with its anonymous volumes when
  // `remove_volumes`. NOT_FOUND when it does not exist (callers treat that as done);
  // FAILED_PRECONDITION when Docker refuses (running without force, removal in progress).
  virtual absl::Status RemoveContainer(const std::string& id, bool force,
                                       bool remove_volumes) = 0;

  // Inspects a container by id or name.
  virtual absl::StatusOr<ContainerInfo> InspectContainer(const std::string& id_or_name) = 0;

  // Lists containers carrying every label in `label_filter` ("key" or "key=value"); stopped
  // ones too when `all`.
  virtual absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const std::vector<std::string>& label_filter, bool all) = 0;

  // ListContainers(label_filter, all=true) with each container's SizeRw filled in. Slower:
  // the engine walks every writable layer; DEADLINE_EXCEEDED after `timeout`.
  virtual absl::StatusOr<std::vector<ContainerSummary>> ListContainerSizes(
      const std::vector<std::string>& label_filter, absl::Duration timeout) = 0;

  // Names of the volumes that carry every label in `label_filter` and that no container uses.
  virtual absl::StatusOr<std::vector<std::string>> ListDanglingVolumes(
      const std::vector<std::string>& label_filter) = 0;

  // Removes a volume no container uses. NOT_FOUND when it does not exist; FAILED_PRECONDITION
  // when a container still uses it.
  virtual absl::Status RemoveVolume(const std::string& name) = 0;

  // Streams engine events matching `filters`, from `since` when given (the engine replays
  // only its last 256 events), calling `on_event` on this thread for each, in order. Blocks
  // until `on_event` returns false or `cancel` is cancelled (both return OK), or the stream
  // fails or the engine ends it (UNAVAILABLE, or the codes above). Only connecting is bounded
  // by a timeout; the stream itself may stay idle forever.
  virtual absl::Status StreamEvents(const EventFilters& filters, std::optional<absl::Time> since,
                                    const std::function<bool(const Event&)>& on_event,
                                    Cancellation& cancel) = 0;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_ENGINE_DOCKER_CLIENT_H_
