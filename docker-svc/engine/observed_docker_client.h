#ifndef BERTH_DOCKER_SVC_ENGINE_OBSERVED_DOCKER_CLIENT_H_
#define BERTH_DOCKER_SVC_ENGINE_OBSERVED_DOCKER_CLIENT_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "docker-svc/engine/docker_client.h"

namespace berth::docker {

// A DockerClient that passes every call to `inner` and tells `on_error` of each one that
// failed, by operation: ping, version, create, start, stop, kill, remove, inspect, list,
// list_sizes, list_volumes, remove_volume, events (a stream that failed or broke). NOT_FOUND
// is the engine's answer that a container or volume does not exist, which callers expect
// (the removal of what is gone already, say): it is not an error here. `on_error` runs on the
// caller's thread and must not block. Thread-safe as `inner` is.
class ObservedDockerClient : public DockerClient {
 public:
  using ErrorObserver = std::function<void(const char* operation)>;

  // `inner` must outlive this client.
  ObservedDockerClient(DockerClient* inner, ErrorObserver on_error)
      : inner_(inner), on_error_(std::move(on_error)) {}

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
  absl::Status StreamEvents(const EventFilters& filters, std::optional<absl::Time> since,
                            const std::function<bool(const Event&)>& on_event,
                            Cancellation& cancel) override;

 private:
  // Tells on_error_ of `status` when it is an error; returns it.
  absl::Status Observe(const char* operation, absl::Status status) const;
  template <typename T>
  absl::StatusOr<T> Observe(const char* operation, absl::StatusOr<T> result) const {
    Observe(operation, result.status()).IgnoreError();
    return result;
  }

  DockerClient* const inner_;
  const ErrorObserver on_error_;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_ENGINE_OBSERVED_DOCKER_CLIENT_H_
