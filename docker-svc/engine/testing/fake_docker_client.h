#ifndef BERTH_DOCKER_SVC_ENGINE_TESTING_FAKE_DOCKER_CLIENT_H_
#define BERTH_DOCKER_SVC_ENGINE_TESTING_FAKE_DOCKER_CLIENT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "docker-svc/engine/docker_client.h"

namespace berth::docker::testing {

// An in-memory Docker engine for unit tests of code that drives one. Containers keep their
// spec and a state; every change emits the event the real engine would (create, start, die,
// destroy) to running StreamEvents() calls. Failures are injected per operation. The engine
// never runs anything: tests make a container exit with Exit(). A container's tmpfs volumes are
// directories under a temporary directory of the fake's own in /dev/shm (a tmpfs, but without
// a size limit of their own), removed
// with the container when asked to, as Docker removes anonymous volumes. Thread-safe.
class FakeDockerClient final : public DockerClient {
 public:
  FakeDockerClient();
  // A fake whose volumes are directories under `volumes_root` (made when missing; on a tmpfs
  // when docker-svc is to write into them), for a long-running engine (bench/fake_dockerd).
  // The destructor removes the volumes still there, not `volumes_root` itself.
  explicit FakeDockerClient(std::string volumes_root);
  ~FakeDockerClient() override;

  // From now on CreateContainer() takes any image, as if every image were on the host.
  void AcceptAnyImage();
  // From now on keeps only the last `max_events` events for StreamEvents() to replay (the real
  // engine keeps 256) and records no more calls(), so that a long run holds bounded memory.
  void LimitHistory(size_t max_events);
  // Calls `observer` with every event as it is emitted, in order, on the thread of the call
  // that emits it and under the fake's lock: `observer` must not call the fake. Replaces the
  // observer set before; nullptr removes it.
  void SetEventObserver(std::function<void(const Event&)> observer);

  // Operation names for FailNext(): "create", "start", "stop", "kill", "remove", "inspect",
  // "list", "sizes", "volumes", "remove volume", "events".
  void FailNext(const std::string& operation, absl::Status status);
  // Every call of `operation` fails with `status` until called again with an OK status.
  void FailEvery(const std::string& operation, absl::Status status);
  // The next create makes its container but answers DEADLINE_EXCEEDED, as a timed-out call
  // whose work the engine still did.
  void LoseNextCreateAnswer();
  // Makes a running container exit with `exit_code` (and the OOM flag), as if it died.
  absl::Status Exit(const std::string& id_or_name, int64_t exit_code, bool oom_killed = false);
  // Adds an image CreateContainer accepts; none is known at first.
  void AddImage(const std::string& image);
  // Every operation called so far, e.g. "create berth-b1", "start <id>".
  std::vector<std::string> calls() const;
  size_t container_count() const;
  // Sets the size of a container's writable layer that ListContainerSizes() reports.
  absl::Status SetWritableLayerSize(const std::string& id_or_name, int64_t bytes);
  // From now on, removing a container leaves its volumes even when asked to remove them (as
  // Docker 20.10 does for a container made before its restart with live-restore).
  void KeepVolumesOfRemovedContainers();
  // The next container's first volume gets an entry `name` before anything else sees it (a
  // directory when `name` ends in '/', else a file), as a box that got there first.
  void PlantInNextVolume(const std::string& name);
  // Names of the volumes that exist now.
  std::vector<std::string> volumes() const;
  // The grace of the last StopContainer() call (zero before any).
  absl::Duration last_stop_grace() const;

  absl::Status Ping() override;
  absl::StatusOr<std::string> Version() override;
  absl::StatusOr<std::string> CreateContainer(const ContainerSpec& spec) override;
  absl::Status StartContainer(const std::string& id) override;
  absl::Status StopContainer(const std::string& id, absl::Duration grace) override;
  absl::Status KillContainer(const std::string& id, const std::string& signal) override;
  absl::Status RemoveContainer(const std::string& id, bool force, bool remove_volumes) override;
  absl::StatusOr<ContainerInfo> InspectContainer(const std::string& id_or_name) override;
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const std::vector<std::string>& label_filter, bool all) override;
  absl::StatusOr<std::vector<ContainerSummary>> ListContainerSizes(
      const std::vector<std::string>& label_filter, absl::Duration timeout) override;
  absl::StatusOr<std::vector<std::string>> ListDanglingVolumes(
      const std::vector<std::string>& label_filter) override;
  absl::Status RemoveVolume(const std::string& name) override;
  // Replays the events from `since` on (all are kept), then delivers new ones.
  absl::Status StreamEvents(const EventFilters& filters, std::optional<absl::Time> since,
                            const std::function<bool(const Event&)>& on_event,
                            Cancellation& cancel) override;

 private:
  struct Container {
    ContainerSpec spec;
    ContainerInfo info;
    int64_t size_rw = 0;
  };
  struct Volume {
    std::string path;  // the "mountpoint": <volumes_root_>/<name>/_data
    std::map<std::string, std::string> labels;
    std::string container_id;  // empty once its container is gone
  };
  absl::StatusOr<std::vector<ContainerSummary>> List(const std::vector<std::string>& label_filter,
                                                     bool all, const char* operation);
  absl::Status Injected(const std::string& operation, const std::string& subject)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Container* Find(const std::string& id_or_name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(const Container& container, const std::string& action)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Die(Container& container, int64_t exit_code, bool oom_killed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  const std::string volumes_root_;
  // Whether the destructor removes volumes_root_ itself (a temporary directory of its own).
  const bool owns_volumes_root_ = true;
  std::map<std::string, Container> containers_ ABSL_GUARDED_BY(mu_);  // By id.
  std::map<std::string, Volume> volumes_ ABSL_GUARDED_BY(mu_);        // By name.
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> lasting_failures_ ABSL_GUARDED_BY(mu_);
  bool lose_create_answer_ ABSL_GUARDED_BY(mu_) = false;
  bool keep_volumes_ ABSL_GUARDED_BY(mu_) = false;
  std::string plant_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> images_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t events_emitted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool any_image_ ABSL_GUARDED_BY(mu_) = false;
  bool record_calls_ ABSL_GUARDED_BY(mu_) = true;
  size_t max_events_ ABSL_GUARDED_BY(mu_) = SIZE_MAX;
  std::function<void(const Event&)> observer_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_stop_grace_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::docker::testing

#endif  // BERTH_DOCKER_SVC_ENGINE_TESTING_FAKE_DOCKER_CLIENT_H_
