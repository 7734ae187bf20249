#include "docker-svc/engine/observed_docker_client.h"

namespace berth::docker {

absl::Status ObservedDockerClient::Observe(const char* operation, absl::Status status) const {
  if (!status.ok() && !absl::IsNotFound(status)) on_error_(operation);
  return status;
}

absl::Status ObservedDockerClient::Ping() { return Observe("ping", inner_->Ping()); }

absl::StatusOr<std::string> ObservedDockerClient::Version() {
  return Observe("version", inner_->Version());
}

absl::StatusOr<std::string> ObservedDockerClient::CreateContainer(const ContainerSpec& spec) {
  return Observe("create", inner_->CreateContainer(spec));
}

absl::Status ObservedDockerClient::StartContainer(const std::string& id) {
  return Observe("start", inner_->StartContainer(id));
}

absl::Status ObservedDockerClient::StopContainer(const std::string& id, absl::Duration grace) {
  return Observe("stop", inner_->StopContainer(id, grace));
}

absl::Status ObservedDockerClient::KillContainer(const std::string& id, const std::string& signal) {
  return Observe("kill", inner_->KillContainer(id, signal));
}

absl::Status ObservedDockerClient::RemoveContainer(const std::string& id, bool force,
                                                   bool remove_volumes) {
  return Observe("remove", inner_->RemoveContainer(id, force, remove_volumes));
}

absl::StatusOr<ContainerInfo> ObservedDockerClient::InspectContainer(
    const std::string& id_or_name) {
  return Observe("inspect", inner_->InspectContainer(id_or_name));
}

absl::StatusOr<std::vector<ContainerSummary>> ObservedDockerClient::ListContainers(
    const std::vector<std::string>& label_filter, bool all) {
  return Observe("list", inner_->ListContainers(label_filter, all));
}

absl::StatusOr<std::vector<ContainerSummary>> ObservedDockerClient::ListContainerSizes(
    const std::vector<std::string>& label_filter, absl::Duration timeout) {
  return Observe("list_sizes", inner_->ListContainerSizes(label_filter, timeout));
}

absl::StatusOr<std::vector<std::string>> ObservedDockerClient::ListDanglingVolumes(
    const std::vector<std::string>& label_filter) {
  return Observe("list_volumes", inner_->ListDanglingVolumes(label_filter));
}

absl::Status ObservedDockerClient::RemoveVolume(const std::string& name) {
  return Observe("remove_volume", inner_->RemoveVolume(name));
}

absl::Status ObservedDockerClient::StreamEvents(const EventFilters& filters,
                                                std::optional<absl::Time> since,
                                                const std::function<bool(const Event&)>& on_event,
                                                Cancellation& cancel) {
  return Observe("events", inner_->StreamEvents(filters, since, on_event, cancel));
}

}  // namespace berth::docker
