#include "docker-svc/boxes/box_steps.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "docker-svc/boxes/box_lifecycle.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "google/protobuf/util/time_util.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using ::berth::common::ToTimestamp;
using google::protobuf::util::TimeUtil;

const char* CreateStepWhat(CreateStep step) {
  switch (step) {
    case CreateStep::kRecordIntent:
    case CreateStep::kRecordMade: return "record the box";
    case CreateStep::kReserve: return "reserve host resources";
    case CreateStep::kCreateContainer: return "docker create";
    case CreateStep::kBind: return "bind the lease";
    case CreateStep::kStart: return "docker start";
    case CreateStep::kFindMappingDir: return "find the mapping directory";
    case CreateStep::kWriteMappingFiles: return "write the mapping files";
  }
  return "create";
}

}  // namespace

const char* CreateStepName(CreateStep step) { return CreateStepWhat(step); }

const char* TeardownStepName(TeardownStep step) {
  switch (step) {
    case TeardownStep::kStopContainer: return "docker stop";
    case TeardownStep::kInspectEnd: return "inspect the ended container";
    case TeardownStep::kRemoveContainer: return "docker rm";
    case TeardownStep::kRemoveMappingDir: return "remove the mapping directory";
    case TeardownStep::kDeleteRecord: return "delete the record";
    case TeardownStep::kRelease: return "release the lease";
  }
  return "teardown";
}

// ---- Create ----------------------------------------------------------------------------------

CreateSteps::CreateSteps(internal::BoxRecord record, const box::v1::AppProfile* profile)
    : record_(std::move(record)), profile_(profile) {}

absl::Status CreateSteps::StepError(const absl::Status& cause) const {
  return absl::Status(cause.code(), absl::StrCat("create box ", record_.box().box_id(), ": ",
                                                 CreateStepWhat(step_), ": ", cause.message()));
}

absl::StatusOr<std::optional<CreateStep>> CreateSteps::Advance(const CreateStepResult& result,
                                                               absl::Time now) {
  box::v1::Box& box = *record_.mutable_box();
  switch (step_) {
    case CreateStep::kRecordIntent:
      if (!result.status.ok()) return StepError(result.status);
      recorded_ = true;
      return step_ = CreateStep::kReserve;
    case CreateStep::kReserve:
      reserve_attempted_ = true;
      if (!result.status.ok()) return StepError(result.status);
      box.set_tty(result.lease.tty());
      box.set_gpu_index(result.lease.gpu_index());
      *box.mutable_ports() = result.lease.ports();
      return step_ = CreateStep::kCreateContainer;
    case CreateStep::kCreateContainer:
      create_attempted_ = true;
      if (absl::IsNotFound(result.status)) {
        return StepError(absl::FailedPreconditionError(
            absl::StrCat("image ", profile_->image(), " is not on this host (Berth never pulls): ",
                         result.status.message())));
      }
      if (!result.status.ok()) return StepError(result.status);
      box.set_container_id(result.container_id);
      return step_ = CreateStep::kBind;
    case CreateStep::kBind:
      if (!result.status.ok()) return StepError(result.status);
      return step_ = CreateStep::kStart;
    case CreateStep::kStart:
      if (!result.status.ok()) return StepError(result.status);
      return step_ = CreateStep::kFindMappingDir;
    case CreateStep::kFindMappingDir:
      if (!result.status.ok()) return StepError(result.status);
      if (result.mapping_dir.empty() || result.mapping_volume.empty()) {
        return StepError(absl::InternalError(
            absl::StrCat("the container has no volume at ", profile_->mappings_dir())));
      }
      record_.set_mapping_dir(result.mapping_dir);
      record_.set_mapping_volume(result.mapping_volume);
      return step_ = CreateStep::kWriteMappingFiles;
    case CreateStep::kWriteMappingFiles:
      if (!result.status.ok()) return StepError(result.status);
      Made(now);
      return step_ = CreateStep::kRecordMade;
    case CreateStep::kRecordMade:
      if (!result.status.ok()) return StepError(result.status);
      return std::optional<CreateStep>();
  }
  return absl::InternalError("unknown create step");
}

void CreateSteps::Made(absl::Time now) {
  box::v1::Box& box = *record_.mutable_box();
  *box.mutable_started_at() = ToTimestamp(now);
  box.set_state(box.user_id().empty() ? box::v1::BOX_STATE_WAITING
                                      : box::v1::BOX_STATE_ALLOCATED);
  *record_.mutable_state_since() = ToTimestamp(now);
  if (profile_->readiness_marker().empty()) {
    // Ready at once: stamped as for a found marker.
    *box.mutable_ready_at() = ToTimestamp(now);
    box.set_state(ReadyState(record_));
  }
}

CreateUndo CreateSteps::undo() const {
  CreateUndo undo;
  undo.remove_container = create_attempted_;
  undo.container_id = record_.box().container_id();
  undo.find_by_name = create_attempted_ && undo.container_id.empty();
  undo.release_lease = reserve_attempted_;
  undo.delete_record = recorded_;
  return undo;
}

// ---- Teardown --------------------------------------------------------------------------------

TeardownSteps::TeardownSteps(box::v1::Box before, std::string reason,
                             std::optional<absl::Duration> stop_grace,
                             std::optional<int64_t> exit_code_seen, bool oom_seen)
    : box_(std::move(before)),
      reason_(std::move(reason)),
      stop_grace_(stop_grace),
      step_(stop_grace.has_value() ? TeardownStep::kStopContainer : TeardownStep::kInspectEnd) {
  end_.set_exit_code(static_cast<int32_t>(exit_code_seen.value_or(-1)));
  end_.set_oom_killed(oom_seen);
}

std::optional<TeardownStep> TeardownSteps::Advance(const TeardownStepResult& result,
                                                   absl::Time now, bool* retry) {
  *retry = false;
  switch (step_) {
    case TeardownStep::kStopContainer:  // a failed stop is followed by a forced removal
      return step_ = TeardownStep::kInspectEnd;
    case TeardownStep::kInspectEnd: {
      absl::Time started = FromTimestamp(box_.started_at());
      absl::Time finished = now;
      if (result.status.ok()) {
        end_.set_exit_code(static_cast<int32_t>(result.exit_code.value_or(0)));
        if (result.oom_killed) end_.set_oom_killed(true);
        if (result.started_at != absl::InfinitePast()) started = result.started_at;
        if (result.finished_at != absl::InfinitePast() && !result.running) {
          finished = result.finished_at;
        }
      }
      *end_.mutable_run_time() = TimeUtil::NanosecondsToDuration(
          absl::ToInt64Nanoseconds(std::max(finished - started, absl::ZeroDuration())));
      return step_ = TeardownStep::kRemoveContainer;
    }
    case TeardownStep::kRemoveContainer:
      // NOT_FOUND: someone else removed it; FAILED_PRECONDITION: someone else is removing it
      // ("removal already in progress"): wait for that to finish.
      if (absl::IsNotFound(result.status) || absl::IsFailedPrecondition(result.status)) {
        removed_by_others_ = true;
      }
      if (!result.status.ok() && !absl::IsNotFound(result.status)) {
        *retry = true;
        return step_;
      }
      return step_ = TeardownStep::kRemoveMappingDir;
    case TeardownStep::kRemoveMappingDir:  // failures are left to the resync's sweep
      return step_ = TeardownStep::kDeleteRecord;
    case TeardownStep::kDeleteRecord:  // a record left behind is undone by the restart
      return step_ = TeardownStep::kRelease;
    case TeardownStep::kRelease:
      if (!result.status.ok()) {
        *retry = true;
        return step_;
      }
      return std::nullopt;
  }
  return std::nullopt;
}

box::v1::BoxEvent TeardownSteps::final_event() const {
  box::v1::BoxEvent event = end_;
  std::string reason = reason_;
  if (end_.oom_killed() && (reason_ == kDiedReason || reason_ == kRemovedReason)) {
    reason = kOomReason;
  }
  if (removed_by_others_ && reason_ == kDiedReason) reason = kRemovedReason;
  *event.mutable_box() = box_;
  event.mutable_box()->set_reason(reason);
  return event;
}

}  // namespace berth::docker
