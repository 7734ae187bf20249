// BoxManager's repairs: the startup reconcile (README, Restart) and the periodic resync.
#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/box_id.h"
#include "common/files.h"
#include "common/proto_time.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using box::v1::Box;
using google::protobuf::util::TimeUtil;

constexpr absl::Duration kFirstRetry = absl::Milliseconds(100);
constexpr absl::Duration kMaxRetry = absl::Seconds(5);

absl::Time StartedAt(const Box& box) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(box.started_at()));
}

// Calls `attempt` until it succeeds, backing off between failures, which are logged.
template <typename Attempt>
auto Retry(absl::string_view what, Attempt attempt) -> decltype(attempt()) {
  absl::Duration backoff = kFirstRetry;
  while (true) {
    auto result = attempt();
    if (result.ok()) return result;
    spdlog::warn("{}: {}; retrying in {}", std::string(what), result.status().ToString(),
                 absl::FormatDuration(backoff));
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, kMaxRetry);
  }
}

}  // namespace

absl::Status BoxManager::Recover() {
  absl::StatusOr<std::map<std::string, internal::BoxRecord>> loaded = store_.LoadAll();
  if (!loaded.ok()) return loaded.status();
  std::map<std::string, internal::BoxRecord>& records = *loaded;

  // The event stream starts from here, so nothing that happens from the listing on is missed.
  events_since_ = clock_->Now() - absl::Seconds(1);
  std::vector<ContainerSummary> containers =
      *Retry("recover: list box containers",
             [&] { return docker_->ListContainers(OwnedBoxesFilter(), /*all=*/true); });
  int adopted = 0;
  int removed = 0;
  for (const ContainerSummary& summary : containers) {
    switch (RecoverContainer(summary, records)) {
      case Recovered::kAdopted: ++adopted; break;
      case Recovered::kRemoved: ++removed; break;
      case Recovered::kSkipped: break;
    }
  }
  for (const auto& [box_id, record] : records) {
    spdlog::info("[box {}] recover: its container is gone; removing what the box left", box_id);
    RemoveLeftovers(box_id, "");
    ++removed;
  }
  RemoveUnusedMappingVolumes();
  RemoveUnusedLegacyMappingDirs();
  ReconcileLeasesUntilAnswered();
  spdlog::info("recovered: {} running boxes adopted, {} ended boxes cleaned up", adopted, removed);
  return absl::OkStatus();
}

BoxManager::Recovered BoxManager::RecoverContainer(
    const ContainerSummary& summary, std::map<std::string, internal::BoxRecord>& records) {
  std::optional<std::string> box_id = BoxIdOf(summary.labels);
  if (!box_id.has_value() || !common::ValidateBoxId(*box_id).ok()) return Recovered::kSkipped;
  // Retried like the listing: a box whose container could not be inspected must not be taken
  // for one whose container is gone (its files and lease would be freed under it).
  const std::optional<ContainerInfo> info =
      *Retry(absl::StrCat("[box ", *box_id, "] recover: inspect"),
             [&]() -> absl::StatusOr<std::optional<ContainerInfo>> {
               absl::StatusOr<ContainerInfo> inspected = docker_->InspectContainer(summary.id);
               if (inspected.ok()) return std::optional<ContainerInfo>(*std::move(inspected));
               if (absl::IsNotFound(inspected.status())) return std::nullopt;
               return inspected.status();
             });
  if (!info.has_value()) return Recovered::kSkipped;  // gone since: cleaned up if recorded
  std::optional<internal::BoxRecord> record;
  if (auto it = records.find(*box_id); it != records.end()) {
    // A record whose create never finished, or that names another container, is undone.
    if (it->second.box().state() != box::v1::BOX_STATE_UNSPECIFIED &&
        it->second.box().container_id() == info->id) {
      record = it->second;
    }
    records.erase(it);
  } else {
    record = RecordFromContainer(*box_id, *info);
  }
  bool known;
  {
    absl::MutexLock lock(&mu_);
    known = boxes_.count(*box_id) > 0;
  }
  if (!record.has_value() || !info->running || known) {
    spdlog::info("[box {}] recover: container {} is {}; removing what the box left", *box_id,
                 info->id.substr(0, 12), info->running ? "not a box" : info->status);
    RemoveLeftovers(*box_id, info->id);
    return Recovered::kRemoved;
  }
  // Docker's word on where the mapping directory is, not the record's.
  const std::string mappings_dir = MappingsDirOf(*record);
  std::optional<MountPoint> mount = MappingMountOf(*info, mappings_dir);
  if (!mount.has_value()) {
    spdlog::warn("[box {}] recover: its container has no mount at {}; the box runs on "
                 "without its mapping directory",
                 *box_id, mappings_dir);
  }
  record->set_mapping_dir(mount.has_value() ? mount->source : "");
  record->set_mapping_volume(mount.has_value() && mount->type == "volume" ? mount->name : "");
  Adopt(*std::move(record));
  return Recovered::kAdopted;
}

void BoxManager::ReconcileLeasesUntilAnswered() {
  Retry("recover: reconcile leases with the allocator", [&]() -> absl::StatusOr<bool> {
    absl::Status reconciled = ReconcileLeases().status();
    if (absl::IsResourceExhausted(reconciled)) {
      // The allocator answers but takes no changes (its state disk is full): serve, and let
      // the periodic resync reconcile once it does.
      spdlog::warn("recover: {}; the resync reconciles later", reconciled.ToString());
      return true;
    }
    if (!reconciled.ok()) return reconciled;
    return true;
  }).IgnoreError();  // Retry() returns only once it succeeded
}

std::optional<internal::BoxRecord> BoxManager::RecordFromContainer(
    const std::string& box_id, const ContainerInfo& info) const {
  auto label = [&](const char* key) {
    auto it = info.labels.find(key);
    return it == info.labels.end() ? std::string() : it->second;
  };
  const box::v1::AppProfile* profile = catalog_->Find(label(kAppLabel));
  if (profile == nullptr) return std::nullopt;
  internal::BoxRecord record;
  Box& box = *record.mutable_box();
  box.set_box_id(box_id);
  box.set_app(profile->name());
  box.set_user_id(label(kUserIdLabel));
  box.set_session_id(label(kSessionIdLabel));
  box.set_container_id(info.id);
  const allocator::v1::LiveBox live = LiveBoxOf(box_id, info);
  box.set_tty(live.tty());
  box.set_gpu_index(live.gpu_index());
  // The ports in the profile's order, as a create lists them.
  for (const box::v1::ContainerPort& wanted : profile->ports()) {
    for (const allocator::v1::PortBinding& port : live.ports()) {
      if (port.container_port() == wanted.port() && port.protocol() == wanted.protocol()) {
        *box.add_ports() = port;
      }
    }
  }
  *box.mutable_created_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(info.started_at));
  // An end user's box keeps its TTL and its place under the sweeper.
  record.set_created_by_user(label(kCreatedByUserLabel) == "true");
  int64_t ttl_seconds = 0;
  if (absl::SimpleAtoi(label(kTtlLabel), &ttl_seconds) && ttl_seconds > 0) {
    box.mutable_ttl()->set_seconds(ttl_seconds);
  }
  *box.mutable_started_at() = box.created_at();
  box.set_state(box.user_id().empty() ? box::v1::BOX_STATE_WAITING
                                      : box::v1::BOX_STATE_ALLOCATED);
  box::v1::CreateRequest& request = *record.mutable_request();
  request.set_app(box.app());
  request.set_box_id(box_id);
  request.set_user_id(box.user_id());
  request.set_session_id(box.session_id());
  *record.mutable_profile() = *profile;
  const std::string key_prefix = absl::StrCat(profile->aes_key_env(), "=");
  for (const std::string& entry : info.env) {
    if (!profile->aes_key_env().empty() && absl::StartsWith(entry, key_prefix)) {
      record.set_aes_key(entry.substr(key_prefix.size()));
    }
  }
  spdlog::warn("[box {}] recover: no record; rebuilt it from the container's labels", box_id);
  return record;
}

std::vector<std::string> BoxManager::OwnedBoxesFilter() const {
  return {kBoxIdLabel, OwnerLabelFilter(options_.boxes_dir)};
}

void BoxManager::Adopt(internal::BoxRecord record) {
  const std::string box_id = record.box().box_id();
  const box::v1::AppProfile* profile = catalog_->Find(record.box().app());
  std::shared_ptr<const box::v1::AppProfile> retired;
  if (profile == nullptr) {
    // Its app's profile was removed while it ran: it runs on with the profile it was made with
    // (the defaults, for a record written before records kept it).
    retired = std::make_shared<const box::v1::AppProfile>(
        record.has_profile() ? record.profile() : RetiredAppProfile(record.box().app()));
    profile = retired.get();
    spdlog::warn("[box {}] recover: app {} has no profile any more; the box runs on with the "
                 "profile it was made with",
                 box_id, record.box().app());
  }
  auto entry = std::make_shared<Entry>(BoxLifecycle::Adopted(std::move(record), profile));
  entry->retired_profile = std::move(retired);
  const internal::BoxRecord& adopted = entry->life.record();
  if (absl::Status put = store_.Put(adopted); !put.ok()) {
    spdlog::error("[box {}] {}", box_id, put.ToString());
  }
  spdlog::info("[box {}] recover: adopted ({}, container {})", box_id,
               box::v1::BoxState_Name(adopted.box().state()),
               adopted.box().container_id().substr(0, 12));
  absl::MutexLock lock(&mu_);
  boxes_[box_id] = std::move(entry);
}

void BoxManager::RemoveLeftovers(const std::string& box_id, const std::string& container_id) {
  if (!container_id.empty()) {
    absl::Status removed = docker_->RemoveContainer(container_id, /*force=*/true,
                                                    /*remove_volumes=*/true);
    if (!removed.ok() && removed.code() != absl::StatusCode::kNotFound) {
      spdlog::error("[box {}] docker rm: {}", box_id, removed.ToString());
    }
  }
  store_.Delete(box_id).IgnoreError();
}

std::string BoxManager::MappingsDirOf(const internal::BoxRecord& record) const {
  if (!record.profile().mappings_dir().empty()) return record.profile().mappings_dir();
  if (const box::v1::AppProfile* profile = catalog_->Find(record.box().app())) {
    return profile->mappings_dir();
  }
  return RetiredAppProfile(record.box().app()).mappings_dir();
}

int BoxManager::RemoveUnusedMappingVolumes() {
  absl::StatusOr<std::vector<std::string>> volumes =
      docker_->ListDanglingVolumes({OwnerLabelFilter(options_.boxes_dir)});
  if (!volumes.ok()) spdlog::warn("list unused mapping volumes: {}", volumes.status().ToString());
  int removed_count = 0;
  for (const std::string& volume : volumes.ok() ? *volumes : std::vector<std::string>()) {
    absl::Status removed = docker_->RemoveVolume(volume);
    if (removed.ok()) {
      ++removed_count;
      spdlog::info("removed mapping volume {}, which belongs to no box", volume);
    } else {
      spdlog::debug("remove mapping volume {}: {}", volume, removed.ToString());
    }
  }
  return removed_count;
}

void BoxManager::RemoveUnusedLegacyMappingDirs() {
  // <boxes_dir>/<box_id>: a box's directory from before, kept while any box of that id lives
  // (whatever its record says of its directory).
  std::set<std::string> in_use;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [box_id, entry] : boxes_) in_use.insert(box_id);
  }
  std::error_code error;
  for (const auto& dir : std::filesystem::directory_iterator(options_.boxes_dir, error)) {
    const std::string name = dir.path().filename();
    if (!common::ValidateBoxId(name).ok() || in_use.count(name) > 0) continue;
    // What a box's root made there that docker-svc may not remove stays (and is said once).
    if (absl::Status gone = common::RemoveTreeAt(options_.boxes_dir, name); !gone.ok()) {
      spdlog::error("remove the old mapping directory of {}: {}", name, gone.ToString());
    }
  }
}

void BoxManager::RemoveMappingVolume(const std::string& box_id, const std::string& volume) {
  if (volume.empty()) return;
  absl::Status removed = docker_->RemoveVolume(volume);
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    // Docker 20.10 keeps counting a volume as mounted after a restart with live-restore
    // ("volume has active mounts") until its next restart; the resync tries again.
    spdlog::info("[box {}] remove its mapping volume {}: {}; the resync tries again", box_id,
                 volume, removed.ToString());
  }
}

void BoxManager::RemoveLegacyMappingDir(const std::string& box_id,
                                        const std::string& mapping_dir) {
  if (mapping_dir != absl::StrCat(options_.boxes_dir, "/", box_id)) return;
  if (absl::Status gone = common::RemoveTreeAt(options_.boxes_dir, box_id); !gone.ok()) {
    spdlog::error("[box {}] {}", box_id, gone.ToString());
  }
}

void BoxManager::Resync() {
  const absl::Time listed_at = clock_->Now();
  absl::StatusOr<std::vector<ContainerSummary>> listed =
      docker_->ListContainers(OwnedBoxesFilter(), /*all=*/true);
  if (!listed.ok()) {
    spdlog::warn("resync: {}", listed.status().ToString());
    return;
  }
  std::map<std::string, const ContainerSummary*> by_container;
  for (const ContainerSummary& summary : *listed) by_container[summary.id] = &summary;

  std::vector<std::pair<std::string, std::string>> ended;      // box id, reason
  std::vector<std::pair<std::string, std::string>> leftovers;  // box id, container id
  std::vector<std::tuple<std::string, std::string, MappingDir>> running;  // box, container, dir
  {
    absl::MutexLock lock(&mu_);
    std::set<std::string> known_containers;
    for (const auto& [box_id, entry] : boxes_) {
      const Box& box = entry->life.box();
      known_containers.insert(box.container_id());
      // Boxes that came to be after the listing are not in it.
      if (!entry->life.Live() || StartedAt(box) >= listed_at) continue;
      auto it = by_container.find(box.container_id());
      if (it == by_container.end()) {
        ended.emplace_back(box_id, kRemovedReason);
      } else if (it->second->state != "running") {
        ended.emplace_back(box_id, kDiedReason);
      } else if (entry->life.Endable()) {
        running.emplace_back(box_id, box.container_id(), DirOf(entry->life.record()));
      }
    }
    for (const ContainerSummary& summary : *listed) {
      std::optional<std::string> box_id = BoxIdOf(summary.labels);
      if (!box_id.has_value() || known_containers.count(summary.id) > 0 ||
          boxes_.count(*box_id) > 0) {
        continue;
      }
      leftovers.emplace_back(*box_id, summary.id);
    }
  }
  int repairs = static_cast<int>(ended.size());
  for (const auto& [box_id, reason] : ended) {
    spdlog::warn("[box {}] resync: its container is {}", box_id,
                 reason == kRemovedReason ? "gone" : "not running");
    ScheduleTeardown(box_id, reason, std::nullopt);
  }
  for (const auto& [box_id, container_id] : leftovers) {
    spdlog::warn("[box {}] resync: removing container {}, which belongs to no box", box_id,
                 container_id.substr(0, 12));
    absl::Status removed = docker_->RemoveContainer(container_id, /*force=*/true,
                                                    /*remove_volumes=*/true);
    if (removed.ok()) {
      ++repairs;
    } else if (removed.code() != absl::StatusCode::kNotFound) {
      spdlog::error("[box {}] docker rm: {}", box_id, removed.ToString());
    }
  }
  repairs += EndBoxesWithDetachedDirectories(running);
  if (absl::StatusOr<int> reconciled = ReconcileLeases(); reconciled.ok()) {
    repairs += *reconciled;
  } else {
    spdlog::warn("resync: {}", reconciled.status().ToString());
  }
  repairs += RemoveUnusedMappingVolumes();
  metrics_->Repaired(repairs);
}

int BoxManager::EndBoxesWithDetachedDirectories(
    const std::vector<std::tuple<std::string, std::string, MappingDir>>& running) {
  std::vector<std::string> detached;
  for (const auto& [box_id, container_id, dir] : running) {  // outside the lock
    if (!dir.Detached()) continue;
    // Unmounted because the box just died? Then its own end (died, oom) is the reason.
    absl::StatusOr<ContainerInfo> info = docker_->InspectContainer(container_id);
    if (info.ok() && info->running) detached.push_back(box_id);
  }
  int ended = 0;
  absl::MutexLock lock(&mu_);
  for (const std::string& box_id : detached) {
    auto it = boxes_.find(box_id);
    if (it == boxes_.end() || !it->second->life.Live()) continue;
    Entry& entry = *it->second;
    if (entry.life.box().state() != box::v1::BOX_STATE_RUNNING) {
      // It still needs files from docker-svc (a session, a config) or its readiness marker.
      spdlog::warn("[box {}] its mapping directory is no longer mounted on the host (the "
                   "Docker engine restarted): ending it",
                   box_id);
      RequestEnd(box_id, entry, kDetachedReason);
      ++ended;
    } else if (detached_reported_.insert(box_id).second) {
      spdlog::warn("[box {}] its mapping directory is no longer mounted on the host (the "
                   "Docker engine restarted); the box runs on, but a shutdown it writes there "
                   "is not seen",
                   box_id);
    }
  }
  return ended;
}

absl::StatusOr<int> BoxManager::ReconcileLeases() {
  // Exclusive: no create or release is between its lease step and its table update.
  absl::WriterMutexLock lifecycle(&lifecycle_mu_);
  allocator::v1::ReconcileRequest request;
  {
    absl::MutexLock lock(&mu_);
    *request.mutable_listed_at() = common::ToTimestamp(clock_->Now());
    for (const auto& [box_id, entry] : boxes_) {
      if (!entry->life.Listed()) continue;  // has not reserved yet
      const Box& box = entry->life.box();
      allocator::v1::LiveBox* live = request.add_live_boxes();
      live->set_box_id(box_id);
      live->set_container_id(box.container_id());
      *live->mutable_ports() = box.ports();
      live->set_tty(box.tty());
      live->set_gpu_index(box.gpu_index());
    }
  }
  absl::StatusOr<allocator::v1::ReconcileResponse> response = leases_->Reconcile(request);
  if (!response.ok()) return response.status();
  if (!response->released().empty()) {
    spdlog::info("leases of ended boxes released: {}", absl::StrJoin(response->released(), ", "));
  }
  if (!response->leased().empty()) {
    spdlog::warn("boxes without a lease leased again: {}", absl::StrJoin(response->leased(), ", "));
  }
  for (const allocator::v1::ReconcileConflict& conflict : response->conflicts()) {
    spdlog::error("[box {}] lease conflict: {}", conflict.box_id(), conflict.reason());
  }
  return response->released_size() + response->leased_size() + response->bound_size();
}

}  // namespace berth::docker
