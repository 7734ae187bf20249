#include "docker-svc/boxes/box_manager.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/box_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using ::berth::common::ToTimestamp;

using box::v1::Box;
using box::v1::BoxEvent;
using box::v1::BoxState;
using google::protobuf::util::TimeUtil;

absl::Duration FromDuration(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

// The state a box has once it is ready: RUNNING when its client config was delivered
// (CONNECTING) or its create asked to wait for it; otherwise it keeps its state (a WAITING or
// ALLOCATED box may be ready before its client connects) and only ready_at tells.
BoxState ReadyState(const internal::BoxRecord& record) {
  return record.request().wait_for_ready() ||
                 record.box().state() == box::v1::BOX_STATE_CONNECTING
             ? box::v1::BOX_STATE_RUNNING
             : record.box().state();
}

// "create box <id>: <step>: <cause>", keeping the cause's code.
absl::Status StepError(const std::string& box_id, absl::string_view step,
                       const absl::Status& cause) {
  return absl::Status(cause.code(),
                      absl::StrCat("create box ", box_id, ": ", step, ": ", cause.message()));
}

// Backoff of retried steps (Docker or the allocator failing for a while).
constexpr absl::Duration kFirstRetry = absl::Milliseconds(100);
constexpr absl::Duration kMaxRetry = absl::Seconds(5);

// Boxes' shutdown requests are looked for every this many readiness polls (with the default
// 10 ms poll, about every 250 ms).
constexpr int kShutdownCheckRounds = 25;

// A teardown given up at shutdown; the restart's recovery ends the box.
absl::Status StopLeftToRestart() {
  return absl::UnavailableError("docker-svc is shutting down; the restart finishes the stop");
}

// A Stop's reason reaches events and logs: short printable text only.
constexpr size_t kMaxReasonLength = 200;

absl::Status ValidateReason(const std::string& reason) {
  if (reason.size() > kMaxReasonLength) {
    return absl::InvalidArgumentError(absl::StrCat("reason is ", reason.size(),
                                                   " characters long; at most ",
                                                   kMaxReasonLength, " are allowed"));
  }
  for (char c : reason) {
    if (c < 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError("reason may hold only printable ASCII characters");
    }
  }
  return absl::OkStatus();
}

// The limits of UserLimits on an end user's create; fills in the default TTL.
absl::Status ApplyUserLimits(const UserLimits& limits, box::v1::CreateRequest& request) {
  if (!request.box_id().empty()) {
    return absl::InvalidArgumentError(
        "box_id: end users do not choose box ids; each create gets a new one");
  }
  const absl::Duration ttl = FromDuration(request.ttl());
  if (ttl > limits.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat("ttl: at most ",
                                                   absl::FormatDuration(limits.max_ttl),
                                                   " for a user's box"));
  }
  if (ttl == absl::ZeroDuration()) {
    *request.mutable_ttl() =
        TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(limits.default_ttl));
  }
  return absl::OkStatus();
}

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
      catalog_(catalog),
      docker_(docker),
      leases_(leases),
      clock_(clock),
      store_(std::move(store)) {}

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
                                   absl::MutexLock lock(&mu_);
                                   resync_requested_ = true;
                                 }});
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

// ---- Create ----------------------------------------------------------------------------------

absl::StatusOr<box::v1::CreateResponse> BoxManager::CreateBox(
    const box::v1::CreateRequest& given, Requester requester) {
  const box::v1::AppProfile* profile = catalog_->Find(given.app());
  RETURN_IF_ERROR(
      ValidateCreateRequest(given, profile, absl::StrJoin(catalog_->names(), ", ")));
  box::v1::CreateRequest request = given;
  const bool by_end_user = requester == Requester::kEndUser;
  if (by_end_user) RETURN_IF_ERROR(ApplyUserLimits(options_.user_limits, request));
  if (request.box_id().empty()) request.set_box_id(NewBoxId());
  const std::string box_id = request.box_id();

  auto entry = std::make_shared<Entry>();
  box::v1::CreateResponse response;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("docker-svc is shutting down");
    while (true) {
      auto it = boxes_.find(box_id);
      if (it == boxes_.end()) {
        if (releasing_.count(box_id) == 0) break;
        // The lease of an earlier box of this id is being released: reserving before that
        // answer comes would have the new lease freed.
        auto released = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return releasing_.count(box_id) == 0;
        };
        mu_.Await(absl::Condition(&released));
        continue;
      }
      std::shared_ptr<Entry> existing = it->second;
      if (existing->phase == Phase::kCreating) {
        // The same id is being created right now: answer as that create ends.
        auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          auto now = boxes_.find(box_id);
          return now == boxes_.end() || now->second != existing ||
                 existing->phase != Phase::kCreating;
        };
        mu_.Await(absl::Condition(&settled));
        continue;
      }
      if (!SameBoxRequest(existing->record.request(), request)) {
        return absl::AlreadyExistsError(absl::StrCat(
            "box ", box_id, " exists already for another request (app \"",
            existing->record.box().app(), "\", user \"", existing->record.box().user_id(),
            "\")"));
      }
      *response.mutable_box() = existing->record.box();
      response.set_created(false);
      break;
    }
    if (!response.has_box() && draining_) {
      return absl::UnavailableError("draining: this host takes no new boxes");
    }
    if (!response.has_box() && by_end_user) {
      // Counted and claimed under one lock: concurrent creates cannot pass the quota together.
      const int limit = options_.user_limits.max_boxes_per_user;
      const int held = static_cast<int>(
          std::count_if(boxes_.begin(), boxes_.end(), [&](const auto& box) {
            return box.second->record.box().user_id() == request.user_id();
          }));
      if (held >= limit) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "user ", request.user_id(), " has ", held, " boxes on this host; at most ", limit,
            " per user (stop one first)"));
      }
    }
    if (!response.has_box()) {
      entry->profile = profile;
      internal::BoxRecord& record = entry->record;
      *record.mutable_request() = request;
      *record.mutable_profile() = *profile;
      Box& box = *record.mutable_box();
      box.set_box_id(box_id);
      box.set_app(request.app());
      box.set_user_id(request.user_id());
      box.set_session_id(request.session_id());
      box.set_dpi(request.dpi());
      box.set_tty(-1);
      box.set_gpu_index(-1);
      *box.mutable_created_at() = ToTimestamp(clock_->Now());
      *box.mutable_ttl() = request.ttl();
      if (!profile->aes_key_env().empty()) record.set_aes_key(NewAesKey());
      record.set_created_by_user(by_end_user);
      boxes_[box_id] = entry;
      pending_releases_.erase(box_id);  // an old release must not free the new lease
    }
  }

  if (response.has_box()) {
    if (request.wait_for_ready() && !response.box().has_ready_at()) {
      RETURN_IF_ERROR(WaitUntilReady(box_id, *profile, response.mutable_box()));
    }
    return response;
  }

  internal::BoxRecord record;
  {
    absl::MutexLock lock(&mu_);
    record = entry->record;
  }
  CreateProgress progress;
  absl::Status created;
  {
    absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
    created = RunCreateSteps(*profile, entry, record, progress);
    if (!created.ok()) UndoCreate(box_id, progress);
    absl::MutexLock lock(&mu_);
    if (!created.ok()) {
      boxes_.erase(box_id);
    } else {
      entry->record = record;
      entry->phase = Phase::kLive;
      Publish(BoxEvent::KIND_CHANGED, record.box());
      if (!entry->pending_end.empty()) {
        // It ended while being made (its process exited at once, say).
        ScheduleTeardown(box_id, entry->pending_end, std::nullopt);
      } else if (draining_ && record.box().user_id().empty()) {
        // A WAITING box whose create passed the drain check before the drain began.
        ScheduleEnd(box_id, *entry, "draining");
      }
    }
  }
  if (!created.ok()) {
    spdlog::warn("[box {}] {}", box_id, std::string(created.message()));
    return created;
  }
  spdlog::info("[box {}] created: app {}, container {}, state {}", box_id, request.app(),
               record.box().container_id().substr(0, 12),
               box::v1::BoxState_Name(record.box().state()));
  *response.mutable_box() = record.box();
  response.set_created(true);
  if (request.wait_for_ready() && !response.box().has_ready_at()) {
    RETURN_IF_ERROR(WaitUntilReady(box_id, *profile, response.mutable_box()));
  }
  return response;
}

absl::Status BoxManager::RunCreateSteps(const box::v1::AppProfile& profile,
                                        const std::shared_ptr<Entry>& entry,
                                        internal::BoxRecord& record, CreateProgress& progress) {
  Box& box = *record.mutable_box();
  const std::string box_id = box.box_id();

  // Intent first: a crash from here on leaves a record that the restart undoes.
  if (absl::Status put = store_.Put(record); !put.ok()) {
    return StepError(box_id, "record the box", put);
  }
  progress.recorded = true;

  progress.reserve_attempted = true;
  absl::StatusOr<allocator::v1::Lease> lease = leases_->Reserve(ReserveRequestFor(profile, box_id));
  if (!lease.ok()) return StepError(box_id, "reserve host resources", lease.status());
  box.set_tty(lease->tty());
  box.set_gpu_index(lease->gpu_index());
  *box.mutable_ports() = lease->ports();

  const ContainerSpec spec = ContainerSpecFor(profile, record, options_.boxes_dir);
  progress.create_attempted = true;
  absl::StatusOr<std::string> container_id = docker_->CreateContainer(spec);
  if (!container_id.ok()) {
    absl::Status cause = container_id.status();
    if (cause.code() == absl::StatusCode::kNotFound) {
      cause = absl::FailedPreconditionError(absl::StrCat(
          "image ", profile.image(), " is not on this host (Berth never pulls): ",
          cause.message()));
    }
    return StepError(box_id, "docker create", cause);
  }
  progress.container_id = *container_id;
  box.set_container_id(*container_id);
  {
    absl::MutexLock lock(&mu_);
    entry->record.mutable_box()->set_container_id(*container_id);
  }

  if (absl::StatusOr<allocator::v1::Lease> bound = leases_->Bind(box_id, *container_id);
      !bound.ok()) {
    return StepError(box_id, "bind the lease", bound.status());
  }
  if (absl::Status started = docker_->StartContainer(*container_id); !started.ok()) {
    return StepError(box_id, "docker start", started);
  }

  // The mapping directory is the container's own tmpfs, mounted while it runs: its files are
  // written now, and the box waits for `.paramsReady` (Whist's protocol).
  absl::StatusOr<ContainerInfo> info = docker_->InspectContainer(*container_id);
  if (!info.ok()) return StepError(box_id, "find the mapping directory", info.status());
  std::optional<MountPoint> mount = MappingMountOf(*info, profile.mappings_dir());
  if (!mount.has_value() || mount->type != "volume" || mount->name.empty()) {
    return StepError(box_id, "find the mapping directory",
                     absl::InternalError(absl::StrCat("the container has no volume at ",
                                                      profile.mappings_dir())));
  }
  const std::string mapping_dir = mount->source;
  record.set_mapping_dir(mapping_dir);
  record.set_mapping_volume(mount->name);
  {
    absl::MutexLock lock(&mu_);
    entry->record.set_mapping_dir(mapping_dir);
    entry->record.set_mapping_volume(mount->name);
  }
  StartupParams params;
  params.tty = box.tty();
  params.gpu_index = box.gpu_index();
  params.ports.assign(box.ports().begin(), box.ports().end());
  if (!box.session_id().empty()) params.session_id = box.session_id();
  params.dpi = box.dpi();
  if (absl::Status written = DirOf(record).WriteStartupParams(params);
      !written.ok()) {
    return StepError(box_id, "write the mapping files", written);
  }

  const absl::Time now = clock_->Now();
  *box.mutable_started_at() = ToTimestamp(now);
  box.set_state(box.user_id().empty() ? box::v1::BOX_STATE_WAITING
                                      : box::v1::BOX_STATE_ALLOCATED);
  if (profile.readiness_marker().empty()) {
    *box.mutable_ready_at() = ToTimestamp(now);
    box.set_state(ReadyState(record));
  }
  *record.mutable_state_since() = ToTimestamp(now);
  if (absl::Status put = store_.Put(record); !put.ok()) {
    return StepError(box_id, "record the box", put);
  }
  return absl::OkStatus();
}

void BoxManager::UndoCreate(const std::string& box_id, const CreateProgress& progress) {
  std::string container_id = progress.container_id;
  if (container_id.empty() && progress.create_attempted) {
    // A create whose answer was lost (a timeout) may still have made the container: find it by
    // name, and take it only if it is this docker-svc's and this box's.
    absl::StatusOr<ContainerInfo> made = docker_->InspectContainer(ContainerName(box_id));
    if (made.ok() && BoxIdOf(made->labels) == box_id &&
        made->labels[kBoxesDirLabel] == options_.boxes_dir) {
      container_id = made->id;
    }
  }
  if (!container_id.empty()) {
    // With its volumes: the mapping directory goes with it.
    absl::Status removed = docker_->RemoveContainer(container_id, /*force=*/true,
                                                    /*remove_volumes=*/true);
    if (!removed.ok() && removed.code() != absl::StatusCode::kNotFound) {
      // The resync removes it later: it carries Berth's labels but no box.
      spdlog::error("[box {}] undo: {}", box_id, removed.ToString());
    }
  }
  // A Reserve that failed may still have been granted (its answer lost): release either way.
  if (progress.reserve_attempted) ReleaseLease(box_id);
  if (progress.recorded) {
    if (absl::Status deleted = store_.Delete(box_id); !deleted.ok()) {
      spdlog::error("[box {}] undo: {}", box_id, deleted.ToString());
    }
  }
}

absl::Status BoxManager::WaitUntilReady(const std::string& box_id,
                                        const box::v1::AppProfile& profile, Box* box) {
  const absl::Duration timeout = absl::Seconds(profile.readiness_timeout_seconds());
  bool ended = false;
  bool ready = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) {
      ended = true;
    } else {
      std::shared_ptr<Entry> entry = it->second;
      auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return entry->phase != Phase::kLive || entry->record.box().has_ready_at();
      };
      mu_.AwaitWithTimeout(absl::Condition(&settled), timeout);
      ready = entry->phase == Phase::kLive && entry->record.box().has_ready_at();
      ended = entry->phase != Phase::kLive;
      *box = entry->record.box();
    }
  }
  if (ready) return absl::OkStatus();
  if (ended) {
    return absl::AbortedError(absl::StrCat("create box ", box_id,
                                           ": the box ended before it was ready (",
                                           box->reason().empty() ? "gone" : box->reason(), ")"));
  }
  Teardown(box_id, "not ready", absl::Seconds(profile.stop_grace_seconds()),
           /*wait_for_create=*/true)
      .IgnoreError();
  return absl::DeadlineExceededError(absl::StrCat(
      "create box ", box_id, ": wait for readiness: the box did not write ",
      profile.readiness_marker(), " within ", absl::FormatDuration(timeout), "; it was stopped"));
}

// ---- Reads -----------------------------------------------------------------------------------

absl::StatusOr<Box> BoxManager::GetBox(const std::string& box_id) const {
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  absl::MutexLock lock(&mu_);
  auto it = boxes_.find(box_id);
  if (it == boxes_.end() || it->second->phase == Phase::kCreating) {
    return absl::NotFoundError(absl::StrCat("no box ", box_id));
  }
  return it->second->record.box();
}

std::vector<Box> BoxManager::ListBoxes(const box::v1::ListRequest& request) const {
  std::vector<Box> boxes;
  absl::MutexLock lock(&mu_);
  for (const auto& [box_id, entry] : boxes_) {
    if (entry->phase == Phase::kCreating) continue;
    if (Matches(entry->record.box(), request)) boxes.push_back(entry->record.box());
  }
  return boxes;
}

std::shared_ptr<WatchHub::Watcher> BoxManager::Watch() {
  absl::MutexLock lock(&mu_);
  std::vector<BoxEvent> snapshot;
  const google::protobuf::Timestamp now = ToTimestamp(clock_->Now());
  for (const auto& [box_id, entry] : boxes_) {
    if (entry->phase == Phase::kCreating) continue;
    BoxEvent& event = snapshot.emplace_back();
    event.set_kind(BoxEvent::KIND_SNAPSHOT);
    *event.mutable_box() = entry->record.box();
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

// ---- Ends ------------------------------------------------------------------------------------

absl::StatusOr<Box> BoxManager::StopBox(const std::string& box_id, const std::string& reason) {
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  RETURN_IF_ERROR(ValidateReason(reason));
  std::optional<absl::Duration> grace;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) return absl::NotFoundError(absl::StrCat("no box ", box_id));
    grace = absl::Seconds(it->second->profile->stop_grace_seconds());
  }
  return Teardown(box_id, reason.empty() ? "stopped" : reason, grace, /*wait_for_create=*/true);
}

void BoxManager::ScheduleTeardown(const std::string& box_id, const std::string& reason,
                                  std::optional<absl::Duration> stop_grace) {
  if (teardowns_ == nullptr) return;
  teardowns_->Schedule([this, box_id, reason, stop_grace] {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;  // the restart's recovery ends the box instead
    }
    Teardown(box_id, reason, stop_grace, /*wait_for_create=*/false).IgnoreError();
  });
}

absl::StatusOr<Box> BoxManager::Teardown(const std::string& box_id, const std::string& reason,
                                         std::optional<absl::Duration> stop_grace,
                                         bool wait_for_create) {
  std::shared_ptr<Entry> entry;
  Box before;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      auto it = boxes_.find(box_id);
      if (it == boxes_.end()) return absl::NotFoundError(absl::StrCat("no box ", box_id));
      entry = it->second;
      if (entry->phase == Phase::kCreating) {
        if (!wait_for_create) {
          entry->pending_end = reason;
          return entry->record.box();
        }
        auto created = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return entry->phase != Phase::kCreating;
        };
        mu_.Await(absl::Condition(&created));
        continue;
      }
      if (entry->phase == Phase::kStopping) {
        // Another teardown is under way: wait for it to finish, or to give up at shutdown.
        before = entry->record.box();
        auto gone = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          auto now = boxes_.find(box_id);
          return now == boxes_.end() || now->second != entry;
        };
        auto gone_or_stopping = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || gone();
        };
        mu_.Await(absl::Condition(&gone_or_stopping));
        if (!gone()) return StopLeftToRestart();
        return before;
      }
      break;
    }
    before = entry->record.box();
    entry->phase = Phase::kStopping;
    Box& box = *entry->record.mutable_box();
    box.set_state(box::v1::BOX_STATE_DYING);
    box.set_reason(reason);
    Publish(BoxEvent::KIND_CHANGED, box);
  }
  const std::string container_id = before.container_id();
  std::string before_mapping_dir;
  std::string before_mapping_volume;
  {
    absl::MutexLock lock(&mu_);
    before_mapping_dir = entry->record.mapping_dir();
    before_mapping_volume = entry->record.mapping_volume();
  }
  spdlog::info("[box {}] ending: {}", box_id, reason);

  if (stop_grace.has_value()) {
    absl::Status stopped = docker_->StopContainer(container_id, *stop_grace);
    if (!stopped.ok() && stopped.code() != absl::StatusCode::kNotFound) {
      spdlog::warn("[box {}] docker stop: {}; removing it by force", box_id, stopped.ToString());
    }
  }
  BoxEvent end;
  absl::Time started = FromTimestamp(before.started_at());
  absl::Time finished = clock_->Now();
  std::string final_reason = reason;
  if (absl::StatusOr<ContainerInfo> info = docker_->InspectContainer(container_id); info.ok()) {
    end.set_exit_code(static_cast<int32_t>(info->exit_code));
    end.set_oom_killed(info->oom_killed);
    if (info->started_at != absl::InfinitePast()) started = info->started_at;
    if (info->finished_at != absl::InfinitePast() && !info->running) finished = info->finished_at;
  } else {
    absl::MutexLock lock(&mu_);
    end.set_exit_code(static_cast<int32_t>(entry->exit_code_seen.value_or(-1)));
  }
  {
    absl::MutexLock lock(&mu_);
    if (entry->oom_seen) end.set_oom_killed(true);
  }
  if (end.oom_killed() && (reason == "died" || reason == "removed")) final_reason = "oom";
  *end.mutable_run_time() = TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(std::max(finished - started, absl::ZeroDuration())));

  // The container must be gone before its ports and TTY may go to another box.
  bool removed_by_others = false;
  if (!RemoveContainerUntilGone(box_id, container_id, &removed_by_others)) {
    return StopLeftToRestart();
  }
  if (removed_by_others && reason == "died") final_reason = "removed";
  // The mapping directory went with the container's volumes, or goes now (an old box's is a
  // directory of boxes_dir).
  RemoveMappingVolume(box_id, before_mapping_volume);
  RemoveLegacyMappingDir(box_id, before_mapping_dir);
  if (absl::Status deleted = store_.Delete(box_id); !deleted.ok()) {
    spdlog::error("[box {}] {}", box_id, deleted.ToString());
  }
  // Then the lease; KIND_GONE only once it is released (the allocator may be restarting).
  for (absl::Duration backoff = kFirstRetry;; backoff = std::min(backoff * 2, kMaxRetry)) {
    {
      absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
      absl::Status released = leases_->Release(box_id);
      if (released.ok()) {
        absl::MutexLock lock(&mu_);
        Box& box = *entry->record.mutable_box();
        box.set_reason(final_reason);
        boxes_.erase(box_id);
        Publish(BoxEvent::KIND_GONE, box, &end);
        break;
      }
      spdlog::warn("[box {}] {}; retrying in {}", box_id, released.ToString(),
                   absl::FormatDuration(backoff));
    }
    if (!SleepUnlessStopping(backoff)) {
      return absl::UnavailableError("docker-svc is shutting down; the restart frees the lease");
    }
  }
  spdlog::info("[box {}] gone: {}, exit code {}{}, ran {}", box_id, final_reason,
               end.exit_code(), end.oom_killed() ? ", OOM-killed" : "",
               absl::FormatDuration(absl::Seconds(end.run_time().seconds())));
  return before;
}

bool BoxManager::RemoveContainerUntilGone(const std::string& box_id,
                                          const std::string& container_id,
                                          bool* removed_by_others) {
  for (absl::Duration backoff = kFirstRetry;; backoff = std::min(backoff * 2, kMaxRetry)) {
    absl::Status removed = docker_->RemoveContainer(container_id, /*force=*/true,
                                                    /*remove_volumes=*/true);
    if (removed.ok()) return true;
    if (removed.code() == absl::StatusCode::kNotFound) {
      *removed_by_others = true;
      return true;
    }
    if (removed.code() == absl::StatusCode::kFailedPrecondition) {
      *removed_by_others = true;  // "removal already in progress": wait for it to finish
    } else {
      spdlog::warn("[box {}] docker rm: {}; retrying in {}", box_id, removed.ToString(),
                   absl::FormatDuration(backoff));
    }
    if (!SleepUnlessStopping(backoff)) return false;
  }
}

bool BoxManager::SleepUnlessStopping(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), duration);
  return !stopping_;
}

bool BoxManager::ReleaseLease(const std::string& box_id) {
  absl::Status released = leases_->Release(box_id);
  if (released.ok()) return true;
  spdlog::warn("[box {}] {}; retrying", box_id, released.ToString());
  absl::MutexLock lock(&mu_);
  pending_releases_.insert(box_id);
  return false;
}

// ---- Background ------------------------------------------------------------------------------

void BoxManager::OnDockerEvent(const Event& event) {
  if (event.type != "container") return;
  std::optional<std::string> box_id = BoxIdOf(event.attributes);
  if (!box_id.has_value()) return;
  std::string reason;
  std::optional<absl::Duration> stop_grace;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(*box_id);
    if (it == boxes_.end()) return;
    Entry& entry = *it->second;
    const std::string& container_id = entry.record.box().container_id();
    if (!container_id.empty() && event.actor_id != container_id) return;  // an older container
    if (event.action == "oom") {
      entry.oom_seen = true;
      reason = "oom";
      stop_grace = absl::ZeroDuration();  // a process of the box was killed: end the box
    } else if (event.action == "die") {
      int64_t exit_code = 0;
      auto code = event.attributes.find("exitCode");
      if (code != event.attributes.end() && absl::SimpleAtoi(code->second, &exit_code)) {
        entry.exit_code_seen = exit_code;
      }
      reason = entry.oom_seen ? "oom" : "died";
    } else if (event.action == "destroy") {
      reason = "removed";
    } else {
      return;
    }
    if (entry.phase == Phase::kStopping) return;
    if (entry.phase == Phase::kCreating) {
      // Only once the container exists; an undo's own removal is not the box's end.
      if (!container_id.empty() && entry.pending_end.empty()) entry.pending_end = reason;
      return;
    }
  }
  spdlog::info("[box {}] docker event {}", *box_id, event.action);
  ScheduleTeardown(*box_id, reason, stop_grace);
}

void BoxManager::ReadinessLoop() {
  while (true) {
    struct Waiting {
      std::string box_id;
      MappingDir dir;
      std::string marker;
    };
    std::vector<Waiting> waiting;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.readiness_poll_interval);
      if (stopping_) return;
      for (const auto& [box_id, entry] : boxes_) {
        if (entry->phase != Phase::kLive || entry->record.box().has_ready_at()) continue;
        waiting.push_back({box_id, DirOf(entry->record), entry->profile->readiness_marker()});
      }
    }
    for (const Waiting& box : waiting) {
      if (box.dir.Has(box.marker)) MarkReady(box.box_id);
    }
    if (++readiness_rounds_ % kShutdownCheckRounds == 0) CheckShutdownRequests();
  }
}

void BoxManager::MarkReady(const std::string& box_id) {
  absl::MutexLock lock(&mu_);
  auto it = boxes_.find(box_id);
  if (it == boxes_.end() || it->second->phase != Phase::kLive) return;
  internal::BoxRecord& record = it->second->record;
  if (record.box().has_ready_at()) return;
  const absl::Time now = clock_->Now();
  *record.mutable_box()->mutable_ready_at() = ToTimestamp(now);
  const BoxState ready_state = ReadyState(record);
  if (ready_state != record.box().state()) *record.mutable_state_since() = ToTimestamp(now);
  record.mutable_box()->set_state(ready_state);
  if (absl::Status put = store_.Put(record); !put.ok()) {
    spdlog::error("[box {}] {}", box_id, put.ToString());
  }
  spdlog::info("[box {}] ready ({})", box_id, box::v1::BoxState_Name(record.box().state()));
  Publish(BoxEvent::KIND_CHANGED, record.box());
}

void BoxManager::TickLoop() {
  absl::Time next_resync = clock_->Now() + options_.resync_interval;
  while (true) {
    bool resync = false;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || resync_requested_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), options_.tick_interval);
      if (stopping_) return;
      resync = resync_requested_ || clock_->Now() >= next_resync;
      resync_requested_ = false;
    }
    last_tick_unix_nanos_ = absl::ToUnixNanos(clock_->Now());
    Tick();
    if (resync) {
      Resync();
      next_resync = clock_->Now() + options_.resync_interval;
    }
  }
}

void BoxManager::Tick() {
  const absl::Time now = clock_->Now();
  std::vector<std::string> expired;
  std::set<std::string> releases;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [box_id, entry] : boxes_) {
      const Box& box = entry->record.box();
      const absl::Duration ttl = FromDuration(box.ttl());
      if (entry->phase != Phase::kLive || entry->ttl_fired || ttl <= absl::ZeroDuration()) {
        continue;
      }
      if (now - FromTimestamp(box.created_at()) >= ttl) {
        entry->ttl_fired = true;
        expired.push_back(box_id);
      }
    }
    releases.swap(pending_releases_);
  }
  for (const std::string& box_id : expired) {
    std::optional<absl::Duration> grace;
    {
      absl::MutexLock lock(&mu_);
      auto it = boxes_.find(box_id);
      if (it == boxes_.end()) continue;
      grace = absl::Seconds(it->second->profile->stop_grace_seconds());
    }
    ScheduleTeardown(box_id, "ttl", grace);
  }
  SweepSessions(now);
  for (auto it = releases.begin(); it != releases.end(); ++it) {
    const std::string& box_id = *it;
    absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (boxes_.count(box_id) > 0) continue;  // a new box took the id and its own lease
      releasing_.insert(box_id);  // a create of the id waits for the answer
    }
    const bool released = ReleaseLease(box_id);
    absl::MutexLock lock(&mu_);
    releasing_.erase(box_id);
    if (!released) {
      // The allocator still fails: the rest wait for the next tick rather than each taking
      // the allocator's timeout on this thread (the watchdog's liveness check).
      pending_releases_.insert(std::next(it), releases.end());
      break;
    }
  }
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
