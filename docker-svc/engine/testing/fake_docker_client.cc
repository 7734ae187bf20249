#include "docker-svc/engine/testing/fake_docker_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::docker::testing {
namespace {

// True when `event` passes Docker-style `filters`: one of the "type" and "event" values, and
// every "label" (key or key=value), as the engine does.
bool Matches(const EventFilters& filters, const Event& event) {
  for (const auto& filter : filters) {
    const std::string& name = filter.first;
    const auto& values = filter.second;  // Not a structured binding: C++17 cannot capture one.
    auto any = [&](const std::function<bool(const std::string&)>& accepts) {
      return std::any_of(values.begin(), values.end(), accepts);
    };
    auto all = [&](const std::function<bool(const std::string&)>& accepts) {
      return std::all_of(values.begin(), values.end(), accepts);
    };
    if (name == "type" && !any([&](const std::string& v) { return v == event.type; })) return false;
    if (name == "event" && !any([&](const std::string& v) { return v == event.action; })) {
      return false;
    }
    if (name == "label" && !all([&](const std::string& v) {
          std::pair<std::string, std::string> key_value = absl::StrSplit(v, absl::MaxSplits('=', 1));
          auto it = event.attributes.find(key_value.first);
          return it != event.attributes.end() &&
                 (v.find('=') == std::string::npos || it->second == key_value.second);
        })) {
      return false;
    }
  }
  return true;
}

bool HasLabels(const std::map<std::string, std::string>& labels,
               const std::vector<std::string>& filter) {
  for (const std::string& wanted : filter) {
    std::pair<std::string, std::string> key_value = absl::StrSplit(wanted, absl::MaxSplits('=', 1));
    auto it = labels.find(key_value.first);
    if (it == labels.end()) return false;
    if (wanted.find('=') != std::string::npos && it->second != key_value.second) return false;
  }
  return true;
}

// In /dev/shm: a tmpfs, as Docker's tmpfs volumes are (docker-svc writes only into those).
std::string MakeVolumesRoot() {
  std::string path = "/dev/shm/berth-fake-volumes-XXXXXX";
  if (mkdtemp(path.data()) == nullptr) return "";
  return path;
}

}  // namespace

FakeDockerClient::FakeDockerClient() : volumes_root_(MakeVolumesRoot()) {
  if (volumes_root_.empty()) {
    fprintf(stderr, "FakeDockerClient: cannot make a directory in /dev/shm for its volumes\n");
    abort();
  }
}

FakeDockerClient::FakeDockerClient(std::string volumes_root)
    : volumes_root_(std::move(volumes_root)), owns_volumes_root_(false) {}

FakeDockerClient::~FakeDockerClient() {
  std::error_code ignored;
  if (owns_volumes_root_) {
    if (!volumes_root_.empty()) std::filesystem::remove_all(volumes_root_, ignored);
    return;
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [name, volume] : volumes_) {
    std::filesystem::remove_all(std::filesystem::path(volume.path).parent_path(), ignored);
  }
}

void FakeDockerClient::AcceptAnyImage() {
  absl::MutexLock lock(&mu_);
  any_image_ = true;
}

void FakeDockerClient::LimitHistory(size_t max_events) {
  absl::MutexLock lock(&mu_);
  max_events_ = max_events;
  record_calls_ = false;
  while (events_.size() > max_events_) events_.pop_front();
}

void FakeDockerClient::SetEventObserver(std::function<void(const Event&)> observer) {
  absl::MutexLock lock(&mu_);
  observer_ = std::move(observer);
}

void FakeDockerClient::FailNext(const std::string& operation, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[operation] = std::move(status);
}

void FakeDockerClient::FailEvery(const std::string& operation, absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    lasting_failures_.erase(operation);
  } else {
    lasting_failures_[operation] = std::move(status);
  }
}

void FakeDockerClient::AddImage(const std::string& image) {
  absl::MutexLock lock(&mu_);
  images_.push_back(image);
}

std::vector<std::string> FakeDockerClient::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

size_t FakeDockerClient::container_count() const {
  absl::MutexLock lock(&mu_);
  return containers_.size();
}

absl::Status FakeDockerClient::Injected(const std::string& operation, const std::string& subject) {
  if (record_calls_) {
    calls_.push_back(subject.empty() ? operation : absl::StrCat(operation, " ", subject));
  }
  auto it = failures_.find(operation);
  if (it == failures_.end()) {
    auto lasting = lasting_failures_.find(operation);
    return lasting == lasting_failures_.end() ? absl::OkStatus() : lasting->second;
  }
  absl::Status status = std::move(it->second);
  failures_.erase(it);
  return status;
}

FakeDockerClient::Container* FakeDockerClient::Find(const std::string& id_or_name) {
  for (auto& [id, container] : containers_) {
    if (id == id_or_name || container.info.name == id_or_name) return &container;
  }
  return nullptr;
}

void FakeDockerClient::Emit(const Container& container, const std::string& action) {
  Event event;
  event.type = "container";
  event.action = action;
  event.actor_id = container.info.id;
  event.attributes = container.info.labels;
  event.attributes["name"] = container.info.name;
  event.attributes["image"] = container.info.image;
  if (action == "die") event.attributes["exitCode"] = absl::StrCat(container.info.exit_code);
  event.time = absl::Now();
  if (observer_) observer_(event);
  events_.push_back(std::move(event));
  ++events_emitted_;
  while (events_.size() > max_events_) events_.pop_front();
}

void FakeDockerClient::Die(Container& container, int64_t exit_code, bool oom_killed) {
  container.info.running = false;
  container.info.status = "exited";
  container.info.exit_code = exit_code;
  container.info.oom_killed = oom_killed;
  container.info.finished_at = absl::Now();
  if (oom_killed) Emit(container, "oom");
  Emit(container, "die");
}

absl::Status FakeDockerClient::Exit(const std::string& id_or_name, int64_t exit_code,
                                    bool oom_killed) {
  absl::MutexLock lock(&mu_);
  Container* container = Find(id_or_name);
  if (container == nullptr || !container->info.running) {
    return absl::FailedPreconditionError(absl::StrCat(id_or_name, " is not running"));
  }
  Die(*container, exit_code, oom_killed);
  return absl::OkStatus();
}

absl::Status FakeDockerClient::Ping() {
  absl::MutexLock lock(&mu_);
  return Injected("ping", "");
}

absl::StatusOr<std::string> FakeDockerClient::Version() {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("version", ""); !failed.ok()) return failed;
  return std::string("1.41");
}

absl::StatusOr<std::string> FakeDockerClient::CreateContainer(const ContainerSpec& spec) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("create", spec.name); !failed.ok()) return failed;
  if (!any_image_ && std::find(images_.begin(), images_.end(), spec.image) == images_.end()) {
    return absl::NotFoundError(
        absl::StrCat("create container ", spec.name, ": No such image: ", spec.image));
  }
  if (!spec.name.empty() && Find(spec.name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("create container ", spec.name,
                                                 ": the container name is already in use"));
  }
  Container container;
  container.spec = spec;
  container.info.id = absl::StrCat("fake", next_id_++);
  container.info.name = spec.name.empty() ? container.info.id : spec.name;
  container.info.image = spec.image;
  container.info.labels = spec.labels;
  container.info.status = "created";
  container.info.ports = spec.ports;
  container.info.devices = spec.devices;
  container.info.env = spec.env;
  const std::string id = container.info.id;
  for (const TmpfsVolume& wanted : spec.tmpfs_volumes) {
    const std::string name = absl::StrCat("vol", next_id_++);
    Volume volume{absl::StrCat(volumes_root_, "/", name, "/_data"), wanted.labels, id};
    std::error_code error;
    std::filesystem::create_directories(volume.path, error);
    if (error || chmod(volume.path.c_str(), 0777) != 0) {
      return absl::InternalError(absl::StrCat("fake volume ", volume.path, ": ", error.message()));
    }
    container.info.mounts.push_back({"volume", name, volume.path, wanted.target});
    if (!plant_.empty()) {
      const std::string planted = absl::StrCat(volume.path, "/", plant_);
      if (plant_.back() == '/') {
        std::filesystem::create_directories(planted + "inside", error);
      } else {
        std::ofstream(planted) << "planted";
      }
      plant_.clear();
    }
    volumes_.emplace(name, std::move(volume));
  }
  Emit(container, "create");
  containers_.emplace(id, std::move(container));
  if (lose_create_answer_) {
    lose_create_answer_ = false;
    return absl::DeadlineExceededError(absl::StrCat("create container ", spec.name, ": timed out"));
  }
  return id;
}

void FakeDockerClient::LoseNextCreateAnswer() {
  absl::MutexLock lock(&mu_);
  lose_create_answer_ = true;
}

absl::Status FakeDockerClient::StartContainer(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("start", id); !failed.ok()) return failed;
  Container* container = Find(id);
  if (container == nullptr) return absl::NotFoundError(absl::StrCat("start container ", id));
  if (container->info.running) return absl::OkStatus();
  container->info.running = true;
  container->info.status = "running";
  container->info.started_at = absl::Now();
  Emit(*container, "start");
  return absl::OkStatus();
}

absl::Duration FakeDockerClient::last_stop_grace() const {
  absl::MutexLock lock(&mu_);
  return last_stop_grace_;
}

absl::Status FakeDockerClient::StopContainer(const std::string& id, absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  last_stop_grace_ = grace;
  if (absl::Status failed = Injected("stop", id); !failed.ok()) return failed;
  Container* container = Find(id);
  if (container == nullptr) return absl::NotFoundError(absl::StrCat("stop container ", id));
  if (container->info.running) Die(*container, 0, false);
  return absl::OkStatus();
}

absl::Status FakeDockerClient::KillContainer(const std::string& id, const std::string& signal) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("kill", id); !failed.ok()) return failed;
  Container* container = Find(id);
  if (container == nullptr) return absl::NotFoundError(absl::StrCat("kill container ", id));
  if (!container->info.running) {
    return absl::FailedPreconditionError(absl::StrCat("kill container ", id, ": not running"));
  }
  Die(*container, 137, false);
  return absl::OkStatus();
}

absl::Status FakeDockerClient::RemoveContainer(const std::string& id, bool force,
                                               bool remove_volumes) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("remove", id); !failed.ok()) return failed;
  Container* container = Find(id);
  if (container == nullptr) return absl::NotFoundError(absl::StrCat("remove container ", id));
  if (container->info.running && !force) {
    return absl::FailedPreconditionError(
        absl::StrCat("remove container ", id, ": running; stop it or force"));
  }
  if (container->info.running) Die(*container, 137, false);
  Emit(*container, "destroy");
  for (const MountPoint& mount : container->info.mounts) {
    auto volume = volumes_.find(mount.name);
    if (volume == volumes_.end()) continue;
    if (remove_volumes && !keep_volumes_) {
      std::error_code ignored;
      std::filesystem::remove_all(std::filesystem::path(volume->second.path).parent_path(),
                                  ignored);
      volumes_.erase(volume);
    } else {
      volume->second.container_id.clear();
    }
  }
  containers_.erase(container->info.id);
  return absl::OkStatus();
}

absl::Status FakeDockerClient::SetWritableLayerSize(const std::string& id_or_name,
                                                    int64_t bytes) {
  absl::MutexLock lock(&mu_);
  Container* container = Find(id_or_name);
  if (container == nullptr) return absl::NotFoundError(absl::StrCat("no container ", id_or_name));
  container->size_rw = bytes;
  return absl::OkStatus();
}

void FakeDockerClient::PlantInNextVolume(const std::string& name) {
  absl::MutexLock lock(&mu_);
  plant_ = name;
}

void FakeDockerClient::KeepVolumesOfRemovedContainers() {
  absl::MutexLock lock(&mu_);
  keep_volumes_ = true;
}

std::vector<std::string> FakeDockerClient::volumes() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, volume] : volumes_) names.push_back(name);
  return names;
}

absl::StatusOr<std::vector<std::string>> FakeDockerClient::ListDanglingVolumes(
    const std::vector<std::string>& label_filter) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("volumes", ""); !failed.ok()) return failed;
  std::vector<std::string> names;
  for (const auto& [name, volume] : volumes_) {
    if (volume.container_id.empty() && HasLabels(volume.labels, label_filter)) {
      names.push_back(name);
    }
  }
  return names;
}

absl::Status FakeDockerClient::RemoveVolume(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("remove volume", name); !failed.ok()) return failed;
  auto volume = volumes_.find(name);
  if (volume == volumes_.end()) return absl::NotFoundError(absl::StrCat("no volume ", name));
  if (!volume->second.container_id.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", name, " is in use"));
  }
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(volume->second.path).parent_path(), ignored);
  volumes_.erase(volume);
  return absl::OkStatus();
}

absl::StatusOr<ContainerInfo> FakeDockerClient::InspectContainer(const std::string& id_or_name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected("inspect", id_or_name); !failed.ok()) return failed;
  Container* container = Find(id_or_name);
  if (container == nullptr) {
    return absl::NotFoundError(absl::StrCat("inspect container ", id_or_name, ": No such container"));
  }
  return container->info;
}

absl::StatusOr<std::vector<ContainerSummary>> FakeDockerClient::ListContainers(
    const std::vector<std::string>& label_filter, bool all) {
  return List(label_filter, all, "list");
}

absl::StatusOr<std::vector<ContainerSummary>> FakeDockerClient::ListContainerSizes(
    const std::vector<std::string>& label_filter, absl::Duration) {
  return List(label_filter, /*all=*/true, "sizes");
}

absl::StatusOr<std::vector<ContainerSummary>> FakeDockerClient::List(
    const std::vector<std::string>& label_filter, bool all, const char* operation) {
  absl::MutexLock lock(&mu_);
  if (absl::Status failed = Injected(operation, ""); !failed.ok()) return failed;
  const bool with_size = std::string(operation) == "sizes";
  std::vector<ContainerSummary> summaries;
  for (const auto& [id, container] : containers_) {
    if (!all && !container.info.running) continue;
    if (!HasLabels(container.info.labels, label_filter)) continue;
    summaries.push_back({id, {container.info.name}, container.info.labels, container.info.status,
                         with_size ? container.size_rw : 0});
  }
  return summaries;
}

absl::Status FakeDockerClient::StreamEvents(const EventFilters& filters,
                                            std::optional<absl::Time> since,
                                            const std::function<bool(const Event&)>& on_event,
                                            Cancellation& cancel) {
  uint64_t next;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status failed = Injected("events", ""); !failed.ok()) return failed;
    next = events_emitted_;
    // Replay what is kept from `since` on, as the engine does.
    while (since && next > events_emitted_ - events_.size() &&
           events_[next - 1 - (events_emitted_ - events_.size())].time >= *since) {
      --next;
    }
  }
  while (!cancel.IsCancelled()) {
    std::vector<Event> batch;
    {
      absl::MutexLock lock(&mu_);
      auto has_new = [this, &next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return events_emitted_ > next;
      };
      mu_.AwaitWithTimeout(absl::Condition(&has_new), absl::Milliseconds(10));
      const uint64_t first_kept = events_emitted_ - events_.size();
      next = std::max(next, first_kept);  // events forgotten under LimitHistory()
      for (; next < events_emitted_; ++next) batch.push_back(events_[next - first_kept]);
    }
    for (const Event& event : batch) {
      if (Matches(filters, event) && !on_event(event)) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::docker::testing
