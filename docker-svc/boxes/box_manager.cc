#include "docker-svc/boxes/box_manager.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::ToTimestamp;
using box::v1::Box;
using box::v1::BoxEvent;

bool Matches(const Box& box, const box::v1::ListRequest& filter) {
  return (filter.state() == box::v1::BOX_STATE_UNSPECIFIED || box.state() == filter.state()) &&
         (filter.app().empty() || box.app() == filter.app()) &&
         (filter.user_id().empty() || box.user_id() == filter.user_id());
}

}  // namespace

absl::StatusOr<std::unique_ptr<BoxManager>> BoxManager::Create(const BoxManagerOptions& options,
                                                               const AppCatalog* catalog,
                                                               DockerClient* docker,
                                                               LeaseClient* leases,
                                                               const common::Clock* clock) {
  if (options.boxes_dir.empty() || options.boxes_dir[0] != '/') {
    return absl::InvalidArgumentError("the boxes directory must be an absolute path");
  }
  ASSIGN_OR_RETURN(BoxStore store, BoxStore::Open(options.boxes_dir));
  std::unique_ptr<BoxManager> manager(
      new BoxManager(options, catalog, docker, leases, clock, std::move(store)));
  const std::string draining = absl::StrCat(options.boxes_dir, "/", kDrainingMarkerFile);
  if (access(draining.c_str(), F_OK) == 0) {
    spdlog::warn("the host is draining ({} exists): new boxes are refused", draining);
    absl::MutexLock lock(&manager->mu_);
    manager->draining_ = true;
  }
  return manager;
}

BoxManager::BoxManager(const BoxManagerOptions& options, const AppCatalog* catalog,
                       DockerClient* docker, LeaseClient* leases, const common::Clock* clock,
                       BoxStore store)
    : options_(options),
      own_registry_(options.metrics == nullptr ? std::make_unique<prometheus::Registry>()
                                               : nullptr),
      own_metrics_(own_registry_ != nullptr ? std::make_unique<BoxMetrics>(*own_registry_)
                                            : nullptr),
      metrics_(options.metrics != nullptr ? options.metrics : own_metrics_.get()),
      catalog_(catalog),
      docker_(docker),
      leases_(leases),
      clock_(clock),
      store_(std::move(store)) {
  metrics_->AddApps(catalog_->names());
}

BoxManager::~BoxManager() { Shutdown(); }

void BoxManager::Start() {
  last_tick_unix_nanos_ = absl::ToUnixNanos(clock_->Now());
  teardowns_ = std::make_unique<WorkerPool>(options_.teardown_threads);
  EventFilters filters = {{"type", {"container"}},
                          {"label", {kBoxIdLabel, OwnerLabelFilter(options_.boxes_dir)}},
                          {"event", {"die", "oom", "destroy"}}};
  event_feed_ = std::make_unique<DockerEventFeed>(
      docker_, std::move(filters), events_since_,
      DockerEventFeed::Callbacks{[this](const Event& event) { OnDockerEvent(event); },
                                 [this] {
                                   metrics_->EventStreamReconnected();
                                   absl::MutexLock lock(&mu_);
                                   resync_requested_ = true;
                                 },
                                 [this](bool open) { metrics_->EventStreamUp(open); }});
  event_feed_->Start();
  readiness_thread_ = std::thread([this] { ReadinessLoop(); });
  tick_thread_ = std::thread([this] { TickLoop(); });
  disk_thread_ = std::thread([this] { DiskLoop(); });
  bool draining = false;
  {
    absl::MutexLock lock(&mu_);
    draining = draining_;
  }
  if (draining) Drain();  // WAITING boxes a restart adopted while draining
}

void BoxManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  event_feed_.reset();
  if (readiness_thread_.joinable()) readiness_thread_.join();
  if (tick_thread_.joinable()) tick_thread_.join();
  if (disk_thread_.joinable()) disk_thread_.join();
  // Finishes the teardowns under way; later ones are left to the restart's recovery.
  if (teardowns_ != nullptr) teardowns_->Stop();
}

MappingDir BoxManager::DirOf(const internal::BoxRecord& record) {
  return MappingDir(record.mapping_dir(), /*own_filesystem=*/!record.mapping_volume().empty());
}

void BoxManager::Publish(BoxEvent::Kind kind, const Box& box, const BoxEvent* end) {
  BoxEvent event;
  if (end != nullptr) event = *end;
  event.set_kind(kind);
  *event.mutable_box() = box;
  *event.mutable_time() = ToTimestamp(clock_->Now());
  hub_.Publish(event);
}

// ---- Reads -----------------------------------------------------------------------------------

absl::StatusOr<Box> BoxManager::GetBox(const std::string& box_id) const {
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  absl::MutexLock lock(&mu_);
  auto it = boxes_.find(box_id);
  if (it == boxes_.end() || !it->second->life.Listed()) {
    return absl::NotFoundError(absl::StrCat("no box ", box_id));
  }
  return it->second->life.box();
}

std::vector<Box> BoxManager::ListBoxes(const box::v1::ListRequest& request) const {
  std::vector<Box> boxes;
  absl::MutexLock lock(&mu_);
  for (const auto& [box_id, entry] : boxes_) {
    if (entry->life.Listed() && Matches(entry->life.box(), request)) {
      boxes.push_back(entry->life.box());
    }
  }
  return boxes;
}

std::shared_ptr<WatchHub::Watcher> BoxManager::Watch() {
  absl::MutexLock lock(&mu_);
  std::vector<BoxEvent> snapshot;
  const google::protobuf::Timestamp now = ToTimestamp(clock_->Now());
  for (const auto& [box_id, entry] : boxes_) {
    if (!entry->life.Listed()) continue;
    BoxEvent& event = snapshot.emplace_back();
    event.set_kind(BoxEvent::KIND_SNAPSHOT);
    *event.mutable_box() = entry->life.box();
    *event.mutable_time() = now;
  }
  BoxEvent& done = snapshot.emplace_back();
  done.set_kind(BoxEvent::KIND_SNAPSHOT_DONE);
  *done.mutable_time() = now;
  // Under mu_, like every Publish(): nothing falls between the snapshot and the stream.
  return hub_.Subscribe(std::move(snapshot));
}

void BoxManager::Unwatch(const std::shared_ptr<WatchHub::Watcher>& watcher) {
  hub_.Unsubscribe(watcher);
}

BoxCensus BoxManager::Census() const {
  BoxCensus census;
  absl::MutexLock lock(&mu_);
  census.draining = draining_;
  for (const auto& [box_id, entry] : boxes_) {
    const Box& box = entry->life.box();
    if (box.state() == box::v1::BOX_STATE_UNSPECIFIED) continue;  // its create runs
    ++census.boxes[{box.app(), box.state()}];
    if (entry->life.Listed() && box.state() == box::v1::BOX_STATE_WAITING &&
        box.user_id().empty()) {
      ++census.waiting[box.app()];
    }
  }
  return census;
}

int BoxManager::waiting_calls() const {
  absl::MutexLock lock(&mu_);
  return waiting_calls_;
}

bool BoxManager::AwaitWaitingCalls(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return waiting_calls_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void BoxManager::AwaitCounted(const absl::Condition& condition) {
  ++waiting_calls_;
  mu_.Await(condition);
  --waiting_calls_;
}

absl::Status BoxManager::Liveness() const {
  const absl::Time last_tick = absl::FromUnixNanos(last_tick_unix_nanos_.load());
  const absl::Duration since = clock_->Now() - last_tick;
  if (since > options_.tick_interval * 10 + options_.resync_interval) {
    return absl::InternalError(
        absl::StrCat("the background loop has not run for ", absl::FormatDuration(since)));
  }
  return absl::OkStatus();
}

}  // namespace berth::docker
