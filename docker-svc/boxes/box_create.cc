// BoxManager's create: admit the request, run the steps (record, lease, container, mapping
// files), undo them all when one fails, and wait for readiness when asked.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/box_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/box_steps.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::FromDuration;
using ::berth::common::ToTimestamp;
using box::v1::Box;
using google::protobuf::util::TimeUtil;

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

// The record a create starts from: no resources yet, state UNSPECIFIED until it is made.
internal::BoxRecord NewRecord(const box::v1::CreateRequest& request,
                              const box::v1::AppProfile& profile, bool by_end_user,
                              absl::Time now) {
  internal::BoxRecord record;
  *record.mutable_request() = request;
  *record.mutable_profile() = profile;
  Box& box = *record.mutable_box();
  box.set_box_id(request.box_id());
  box.set_app(request.app());
  box.set_user_id(request.user_id());
  box.set_session_id(request.session_id());
  box.set_dpi(request.dpi());
  box.set_tty(-1);
  box.set_gpu_index(-1);
  *box.mutable_created_at() = ToTimestamp(now);
  *box.mutable_ttl() = request.ttl();
  if (!profile.aes_key_env().empty()) record.set_aes_key(NewAesKey());
  record.set_created_by_user(by_end_user);
  return record;
}

StartupParams StartupParamsOf(const Box& box) {
  StartupParams params;
  params.tty = box.tty();
  params.gpu_index = box.gpu_index();
  params.ports.assign(box.ports().begin(), box.ports().end());
  if (!box.session_id().empty()) params.session_id = box.session_id();
  params.dpi = box.dpi();
  return params;
}

}  // namespace

absl::StatusOr<box::v1::CreateResponse> BoxManager::CreateBox(
    const box::v1::CreateRequest& given, Requester requester) {
  const box::v1::AppProfile* profile = catalog_->Find(given.app());
  RETURN_IF_ERROR(
      ValidateCreateRequest(given, profile, absl::StrJoin(catalog_->names(), ", ")));
  box::v1::CreateRequest request = given;
  const bool by_end_user = requester == Requester::kEndUser;
  if (by_end_user) RETURN_IF_ERROR(ApplyUserLimits(options_.user_limits, request));
  if (request.box_id().empty()) request.set_box_id(NewBoxId());

  std::shared_ptr<Entry> entry;
  ASSIGN_OR_RETURN(std::optional<box::v1::CreateResponse> existing,
                   AdmitCreate(request, *profile, by_end_user, &entry));
  box::v1::CreateResponse response;
  if (existing.has_value()) {
    response = *std::move(existing);
  } else {
    ASSIGN_OR_RETURN(*response.mutable_box(), MakeBox(*profile, entry));
    response.set_created(true);
  }
  if (request.wait_for_ready() && !response.box().has_ready_at()) {
    RETURN_IF_ERROR(WaitUntilReady(request.box_id(), *profile, response.mutable_box()));
  }
  return response;
}

absl::StatusOr<std::optional<box::v1::CreateResponse>> BoxManager::AdmitCreate(
    const box::v1::CreateRequest& request, const box::v1::AppProfile& profile,
    bool by_end_user, std::shared_ptr<Entry>* entry) {
  const std::string& box_id = request.box_id();
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("docker-svc is shutting down");
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> existing, AwaitSettledBoxOfId(box_id));
  if (existing != nullptr) {
    const internal::BoxRecord& record = existing->life.record();
    if (!SameBoxRequest(record.request(), request)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "box ", box_id, " exists already for another request (app \"", record.box().app(),
          "\", user \"", record.box().user_id(), "\")"));
    }
    box::v1::CreateResponse response;
    *response.mutable_box() = record.box();
    response.set_created(false);
    return response;
  }
  if (draining_) return absl::UnavailableError("draining: this host takes no new boxes");
  if (by_end_user) RETURN_IF_ERROR(CheckUserQuota(request.user_id()));
  *entry = std::make_shared<Entry>(
      BoxLifecycle(NewRecord(request, profile, by_end_user, clock_->Now()), &profile));
  boxes_[box_id] = *entry;
  pending_releases_.erase(box_id);  // an old release must not free the new lease
  return std::nullopt;
}

absl::StatusOr<std::shared_ptr<BoxManager::Entry>> BoxManager::AwaitSettledBoxOfId(
    const std::string& box_id) {
  while (true) {
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) {
      if (releasing_.count(box_id) == 0) return nullptr;
      // The lease of an earlier box of this id is being released: reserving before that
      // answer comes would have the new lease freed.
      auto released = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return releasing_.count(box_id) == 0;
      };
      AwaitCounted(absl::Condition(&released));
      continue;
    }
    std::shared_ptr<Entry> existing = it->second;
    if (existing->life.Listed()) return existing;
    // The same id is being created right now: answer as that create ends.
    auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto now = boxes_.find(box_id);
      return now == boxes_.end() || now->second != existing || existing->life.Listed();
    };
    AwaitCounted(absl::Condition(&settled));
  }
}

absl::Status BoxManager::CheckUserQuota(const std::string& user_id) const {
  // Counted and claimed under one lock: concurrent creates cannot pass the quota together.
  const int limit = options_.user_limits.max_boxes_per_user;
  const int held = static_cast<int>(std::count_if(boxes_.begin(), boxes_.end(), [&](const auto& box) {
    return box.second->life.box().user_id() == user_id;
  }));
  if (held < limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("user ", user_id, " has ", held,
                                                   " boxes on this host; at most ", limit,
                                                   " per user (stop one first)"));
}

absl::StatusOr<Box> BoxManager::MakeBox(const box::v1::AppProfile& profile,
                                        const std::shared_ptr<Entry>& entry) {
  internal::BoxRecord record;
  {
    absl::MutexLock lock(&mu_);
    record = entry->life.record();
  }
  const std::string box_id = record.box().box_id();
  const absl::Time began = clock_->Now();
  CreateSteps steps(std::move(record), &profile);
  absl::Status created;
  {
    absl::ReaderMutexLock lifecycle(&lifecycle_mu_);
    created = RunCreateSteps(profile, entry, steps);
    if (!created.ok()) UndoCreate(box_id, steps.undo());
    absl::MutexLock lock(&mu_);
    if (created.ok()) {
      ApplyEffects(box_id, *entry, entry->life.OnCreated(steps.record(), draining_))
          .IgnoreError();
    } else {
      boxes_.erase(box_id);
    }
  }
  if (!created.ok()) {
    spdlog::warn("[box {}] {}", box_id, std::string(created.message()));
    return created;
  }
  const Box& made = steps.record().box();
  metrics_->Created(made.app(), clock_->Now() - began);
  spdlog::info("[box {}] created: app {}, container {}, state {}", box_id, made.app(),
               made.container_id().substr(0, 12), box::v1::BoxState_Name(made.state()));
  return made;
}

absl::Status BoxManager::RunCreateSteps(const box::v1::AppProfile& profile,
                                        const std::shared_ptr<Entry>& entry,
                                        CreateSteps& steps) {
  while (true) {
    const CreateStep step = steps.step();
    CreateStepResult result = RunCreateStep(step, profile, steps.record());
    ASSIGN_OR_RETURN(std::optional<CreateStep> next, steps.Advance(result, clock_->Now()));
    if (!next.has_value()) return absl::OkStatus();
    // What Docker events and readers see of a box being made.
    absl::MutexLock lock(&mu_);
    if (step == CreateStep::kCreateContainer) {
      entry->life.SetContainerId(steps.record().box().container_id());
    } else if (step == CreateStep::kFindMappingDir) {
      entry->life.SetMappingDir(steps.record().mapping_dir(), steps.record().mapping_volume());
    }
  }
}

CreateStepResult BoxManager::RunCreateStep(CreateStep step, const box::v1::AppProfile& profile,
                                           const internal::BoxRecord& record) {
  const std::string& box_id = record.box().box_id();
  const std::string& container_id = record.box().container_id();
  CreateStepResult result;
  switch (step) {
    case CreateStep::kRecordIntent:
    case CreateStep::kRecordMade:
      result.status = store_.Put(record);
      break;
    case CreateStep::kReserve: {
      absl::StatusOr<allocator::v1::Lease> lease =
          leases_->Reserve(ReserveRequestFor(profile, box_id));
      result.status = lease.status();
      if (lease.ok()) result.lease = *std::move(lease);
      break;
    }
    case CreateStep::kCreateContainer: {
      absl::StatusOr<std::string> created =
          docker_->CreateContainer(ContainerSpecFor(profile, record, options_.boxes_dir));
      result.status = created.status();
      if (created.ok()) result.container_id = *std::move(created);
      break;
    }
    case CreateStep::kBind:
      result.status = leases_->Bind(box_id, container_id).status();
      break;
    case CreateStep::kStart:
      result.status = docker_->StartContainer(container_id);
      break;
    case CreateStep::kFindMappingDir:
      result = FindMappingVolume(container_id, profile);
      break;
    case CreateStep::kWriteMappingFiles:
      // The mapping directory is the container's own tmpfs, mounted while it runs: its files
      // are written now, and the box waits for `.paramsReady` (Whist's protocol).
      result.status = DirOf(record).WriteStartupParams(StartupParamsOf(record.box()));
      break;
  }
  return result;
}

CreateStepResult BoxManager::FindMappingVolume(const std::string& container_id,
                                               const box::v1::AppProfile& profile) {
  CreateStepResult result;
  absl::StatusOr<ContainerInfo> info = docker_->InspectContainer(container_id);
  result.status = info.status();
  if (!info.ok()) return result;
  std::optional<MountPoint> mount = MappingMountOf(*info, profile.mappings_dir());
  if (mount.has_value() && mount->type == "volume") {
    result.mapping_dir = mount->source;
    result.mapping_volume = mount->name;
  }
  return result;
}

void BoxManager::UndoCreate(const std::string& box_id, const CreateUndo& undo) {
  std::string container_id = undo.container_id;
  if (undo.find_by_name) {
    // A create whose answer was lost (a timeout) may still have made the container: find it by
    // name, and take it only if it is this docker-svc's and this box's.
    absl::StatusOr<ContainerInfo> made = docker_->InspectContainer(ContainerName(box_id));
    if (made.ok() && BoxIdOf(made->labels) == box_id &&
        made->labels[kBoxesDirLabel] == options_.boxes_dir) {
      container_id = made->id;
    }
  }
  if (undo.remove_container && !container_id.empty()) {
    // With its volumes: the mapping directory goes with it.
    absl::Status removed = docker_->RemoveContainer(container_id, /*force=*/true,
                                                    /*remove_volumes=*/true);
    if (!removed.ok() && removed.code() != absl::StatusCode::kNotFound) {
      // The resync removes it later: it carries Berth's labels but no box.
      spdlog::error("[box {}] undo: {}", box_id, removed.ToString());
    }
  }
  if (undo.release_lease) ReleaseLease(box_id);
  if (undo.delete_record) {
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
        return !entry->life.AwaitsReadiness();
      };
      mu_.AwaitWithTimeout(absl::Condition(&settled), timeout);
      ended = !entry->life.Live();
      ready = !ended && entry->life.box().has_ready_at();
      *box = entry->life.box();
    }
  }
  if (ready) return absl::OkStatus();
  if (ended) {
    return absl::AbortedError(absl::StrCat("create box ", box_id,
                                           ": the box ended before it was ready (",
                                           box->reason().empty() ? "gone" : box->reason(), ")"));
  }
  Teardown(box_id, kNotReadyReason, absl::Seconds(profile.stop_grace_seconds()),
           /*wait_for_create=*/true)
      .IgnoreError();
  return absl::DeadlineExceededError(absl::StrCat(
      "create box ", box_id, ": wait for readiness: the box did not write ",
      profile.readiness_marker(), " within ", absl::FormatDuration(timeout), "; it was stopped"));
}

}  // namespace berth::docker
