#include "docker-svc/boxes/box_lifecycle.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/invariant.h"
#include "common/proto_time.h"
#include "docker-svc/boxes/stop_reasons.h"

namespace berth::docker {
namespace {

using ::berth::common::FromDuration;
using ::berth::common::FromTimestamp;
using ::berth::common::ToTimestamp;
using box::v1::Box;
using box::v1::BoxState;

BoxEffect Effect(BoxEffect::Kind kind) { return BoxEffect{kind, "", std::nullopt, {}}; }

BoxEffect Teardown(std::string reason, std::optional<absl::Duration> stop_grace) {
  return BoxEffect{BoxEffect::Kind::kScheduleTeardown, std::move(reason), stop_grace, {}};
}

BoxEffect CommitEffect(internal::BoxRecord record) {
  return BoxEffect{BoxEffect::Kind::kCommitRecord, "", std::nullopt, std::move(record)};
}

// What a container's end means for its box: the reason, and the grace its stop gets (an OOM
// kill ends the box at once: one of its processes is gone).
struct EndMeaning {
  std::string reason;
  std::optional<absl::Duration> stop_grace;
};

}  // namespace

bool BoxEffect::operator==(const BoxEffect& other) const {
  return kind == other.kind && reason == other.reason && stop_grace == other.stop_grace &&
         record.SerializeAsString() == other.record.SerializeAsString();
}

BoxState ReadyState(const internal::BoxRecord& record) {
  return record.request().wait_for_ready() ||
                 record.box().state() == box::v1::BOX_STATE_CONNECTING
             ? box::v1::BOX_STATE_RUNNING
             : record.box().state();
}

const char* BoxStageName(BoxStage stage) {
  switch (stage) {
    case BoxStage::kCreating: return "creating";
    case BoxStage::kCreatingEnded: return "creating (ended)";
    case BoxStage::kLive: return "live";
    case BoxStage::kClaiming: return "claiming";
    case BoxStage::kConfiguring: return "configuring";
    case BoxStage::kEnding: return "ending";
    case BoxStage::kStopping: return "stopping";
  }
  return "unknown";
}

BoxLifecycle::BoxLifecycle(internal::BoxRecord record, const box::v1::AppProfile* profile)
    : BoxLifecycle(std::move(record), profile, BoxStage::kCreating) {}

BoxLifecycle::BoxLifecycle(internal::BoxRecord record, const box::v1::AppProfile* profile,
                           BoxStage stage)
    : record_(std::move(record)), profile_(profile), stage_(stage) {
  BERTH_INVARIANT(profile_ != nullptr, "a box has a profile");
}

BoxLifecycle BoxLifecycle::Adopted(internal::BoxRecord record,
                                   const box::v1::AppProfile* profile) {
  return BoxLifecycle(std::move(record), profile, BoxStage::kLive);
}

bool BoxLifecycle::Listed() const {
  return stage_ != BoxStage::kCreating && stage_ != BoxStage::kCreatingEnded;
}

bool BoxLifecycle::Live() const { return Listed() && stage_ != BoxStage::kStopping; }

bool BoxLifecycle::Endable() const {
  return stage_ == BoxStage::kLive || stage_ == BoxStage::kClaiming ||
         stage_ == BoxStage::kConfiguring;
}

bool BoxLifecycle::Unclaimed() const {
  return stage_ == BoxStage::kLive && box().state() == box::v1::BOX_STATE_WAITING &&
         box().user_id().empty();
}

// ---- Create ----------------------------------------------------------------------------------

void BoxLifecycle::SetContainerId(const std::string& container_id) {
  BERTH_INVARIANT(!Listed(), "only a create sets a box's container");
  record_.mutable_box()->set_container_id(container_id);
}

void BoxLifecycle::SetMappingDir(const std::string& mapping_dir, const std::string& volume) {
  BERTH_INVARIANT(!Listed(), "only a create sets a box's mapping directory");
  record_.set_mapping_dir(mapping_dir);
  record_.set_mapping_volume(volume);
}

BoxEffects BoxLifecycle::OnCreated(internal::BoxRecord made, bool draining) {
  BERTH_INVARIANT(!Listed(), "a box is created once");
  record_ = std::move(made);
  BoxEffects effects = {Effect(BoxEffect::Kind::kPublishChanged)};
  if (stage_ == BoxStage::kCreatingEnded) {
    // It ended while being made (its process exited at once, say).
    stage_ = BoxStage::kEnding;
    effects.push_back(Teardown(end_while_creating_, std::nullopt));
    return effects;
  }
  stage_ = BoxStage::kLive;
  if (draining && box().user_id().empty()) {
    // A WAITING box whose create passed the drain check before the drain began.
    BoxEffects end = ScheduleEnd(kDrainingReason, std::nullopt);
    effects.insert(effects.end(), end.begin(), end.end());
  }
  return effects;
}

// ---- Ends ------------------------------------------------------------------------------------

BoxEffects BoxLifecycle::OnContainerEnded(const ContainerEnd& end) {
  const std::string& container_id = box().container_id();
  if (!container_id.empty() && end.container_id != container_id) return {};  // an older one
  EndMeaning meaning;
  if (end.action == "oom") {
    oom_seen_ = true;
    meaning = {kOomReason, absl::ZeroDuration()};
  } else if (end.action == "die") {
    if (end.exit_code.has_value()) exit_code_seen_ = end.exit_code;
    meaning = {oom_seen_ ? kOomReason : kDiedReason, std::nullopt};
  } else if (end.action == "destroy") {
    meaning = {kRemovedReason, std::nullopt};
  } else {
    return {};
  }
  if (stage_ == BoxStage::kStopping) return {};
  if (!Listed()) {
    // Only once the container exists; an undo's own removal is not the box's end.
    if (!container_id.empty() && stage_ == BoxStage::kCreating) {
      stage_ = BoxStage::kCreatingEnded;
      end_while_creating_ = meaning.reason;
    }
    return {};
  }
  // Docker's word beats a scheduled stop: the teardown that starts first wins, the other waits.
  stage_ = BoxStage::kEnding;
  return {Teardown(meaning.reason, meaning.stop_grace)};
}

BoxEffects BoxLifecycle::RequestEnd(const std::string& reason,
                                    std::optional<absl::Duration> stop_grace) {
  if (!Endable()) return {};
  return ScheduleEnd(reason, stop_grace);
}

BoxEffects BoxLifecycle::ScheduleEnd(const std::string& reason,
                                     std::optional<absl::Duration> stop_grace) {
  stage_ = BoxStage::kEnding;
  return {Teardown(reason, stop_grace.has_value()
                               ? stop_grace
                               : absl::Seconds(profile_->stop_grace_seconds()))};
}

TeardownStart BoxLifecycle::BeginTeardown(const std::string& reason, bool wait_for_create,
                                          BoxEffects* effects) {
  if (!Listed()) {
    if (wait_for_create) return TeardownStart::kAwaitCreate;
    stage_ = BoxStage::kCreatingEnded;
    end_while_creating_ = reason;
    return TeardownStart::kDeferred;
  }
  if (stage_ == BoxStage::kStopping) return TeardownStart::kAwaitOtherStop;
  stage_ = BoxStage::kStopping;
  record_.mutable_box()->set_state(box::v1::BOX_STATE_DYING);
  record_.mutable_box()->set_reason(reason);
  effects->push_back(Effect(BoxEffect::Kind::kPublishChanged));
  return TeardownStart::kStarted;
}

// ---- Timers ----------------------------------------------------------------------------------

std::optional<std::string> BoxLifecycle::TimerEnd(absl::Time now,
                                                  absl::Duration sweep_slack) const {
  const absl::Duration ttl = FromDuration(box().ttl());
  if (ttl > absl::ZeroDuration() && now - FromTimestamp(box().created_at()) >= ttl) {
    return kTtlReason;
  }
  const absl::Time since = record_.has_state_since() ? FromTimestamp(record_.state_since())
                                                     : FromTimestamp(box().created_at());
  const BoxState state = box().state();
  // A box a user holds without having configured it: assigned by the backend, or made by the
  // user itself.
  if (state == box::v1::BOX_STATE_ALLOCATED &&
      (record_.has_assign() || record_.created_by_user()) && record_.config_sha256().empty() &&
      now - since >= absl::Seconds(profile_->config_timeout_seconds())) {
    return absl::StrCat(kNoConfigReasonPrefix, profile_->config_timeout_seconds(), "s");
  }
  if (state == box::v1::BOX_STATE_CONNECTING &&
      now - since >= absl::Seconds(profile_->readiness_timeout_seconds()) + sweep_slack) {
    return kNotReadyAfterConfigReason;
  }
  return std::nullopt;
}

BoxEffects BoxLifecycle::OnTick(absl::Time now, absl::Duration sweep_slack) {
  if (!Endable()) return {};
  std::optional<std::string> reason = TimerEnd(now, sweep_slack);
  if (!reason.has_value()) return {};
  return ScheduleEnd(*reason, std::nullopt);
}

bool BoxLifecycle::AwaitsReadiness() const { return Live() && !box().has_ready_at(); }

BoxEffects BoxLifecycle::OnReady(absl::Time now) {
  if (!AwaitsReadiness()) return {};
  internal::BoxRecord next = record_;
  *next.mutable_box()->mutable_ready_at() = ToTimestamp(now);
  next.mutable_box()->set_state(ReadyState(record_));
  record_ = Stamped(std::move(next), now);
  return {Effect(BoxEffect::Kind::kPersist), Effect(BoxEffect::Kind::kPublishChanged)};
}

// ---- Sessions --------------------------------------------------------------------------------

absl::Status BoxLifecycle::BeginClaim() {
  if (!Unclaimed()) {
    return absl::AbortedError(absl::StrCat("box ", box().box_id(), " is ",
                                           box::v1::BoxState_Name(box().state()),
                                           stage_ == BoxStage::kEnding ? " and ending" : "",
                                           ", not WAITING for a user"));
  }
  stage_ = BoxStage::kClaiming;
  return absl::OkStatus();
}

BoxEffects BoxLifecycle::AbandonClaim(bool box_broke_it) {
  if (stage_ == BoxStage::kClaiming) stage_ = BoxStage::kLive;
  // The box's directory cannot take its files (the box filled it, say): it can serve no
  // session, so it ends.
  if (box_broke_it) return RequestEnd(kBrokenMappingDirReason);
  return {};
}

absl::StatusOr<internal::BoxRecord> BoxLifecycle::FinishClaim(
    const box::v1::AssignRequest& request, absl::Time now) {
  if (stage_ != BoxStage::kClaiming) {
    return absl::AbortedError(absl::StrCat("box ", box().box_id(), " ended while being assigned"));
  }
  stage_ = BoxStage::kLive;
  internal::BoxRecord next = WithState(box::v1::BOX_STATE_ALLOCATED, now);
  *next.mutable_assign() = request;
  next.mutable_box()->set_user_id(request.user_id());
  next.mutable_box()->set_session_id(request.session_id());
  return next;
}

std::optional<internal::BoxRecord> BoxLifecycle::RecordAssign(
    const box::v1::AssignRequest& request) const {
  if (record_.has_assign()) return std::nullopt;
  internal::BoxRecord next = record_;
  *next.mutable_assign() = request;
  return next;
}

bool BoxLifecycle::ConfigSettled() const {
  return !Live() || (!box().user_id().empty() && stage_ != BoxStage::kConfiguring);
}

absl::StatusOr<BoxLifecycle::ConfigPlan> BoxLifecycle::PlanConfig(const std::string& digest,
                                                                  absl::Time now) {
  const std::string& known = record_.config_sha256();
  if (!known.empty() && known != digest) {
    return absl::AlreadyExistsError(
        absl::StrCat("box ", box().box_id(), " already has another client configuration"));
  }
  ConfigPlan plan;
  // The config is written when the box is still ALLOCATED: the first time, or again after a
  // restart cut the first write short (the same bytes).
  if (box().state() != box::v1::BOX_STATE_ALLOCATED) return plan;
  plan.write = true;
  if (known.empty()) {
    // The digest is stored before the file is written, so that a restart in between still
    // refuses another config.
    internal::BoxRecord next = WithState(box().state(), now);
    next.set_config_sha256(digest);
    plan.commit_first = std::move(next);
  }
  // One writer at a time; a box whose end is scheduled keeps its stage (a second writer of the
  // same bytes is harmless).
  if (stage_ == BoxStage::kLive) stage_ = BoxStage::kConfiguring;
  return plan;
}

void BoxLifecycle::AbandonConfig() {
  if (stage_ == BoxStage::kConfiguring) stage_ = BoxStage::kLive;
}

BoxEffects BoxLifecycle::FinishConfig(const absl::Status& written, absl::Time now) {
  if (stage_ == BoxStage::kConfiguring) stage_ = BoxStage::kLive;
  if (absl::IsFailedPrecondition(written)) {
    // The box made its directory unwritable (it filled it, say): it can never be configured,
    // and its recorded digest would keep the sweeper from it.
    return RequestEnd(kBrokenMappingDirReason);
  }
  if (!written.ok() || !Live() || box().state() != box::v1::BOX_STATE_ALLOCATED) return {};
  return {CommitEffect(WithState(box().has_ready_at() ? box::v1::BOX_STATE_RUNNING
                                                      : box::v1::BOX_STATE_CONNECTING,
                                 now))};
}

// ---- Records ---------------------------------------------------------------------------------

void BoxLifecycle::Commit(internal::BoxRecord next, absl::Time now) {
  record_ = Stamped(std::move(next), now);
}

internal::BoxRecord BoxLifecycle::Stamped(internal::BoxRecord next, absl::Time now) const {
  if (next.box().state() != box().state() || !next.has_state_since()) {
    *next.mutable_state_since() = ToTimestamp(now);
  }
  return next;
}

internal::BoxRecord BoxLifecycle::WithState(BoxState state, absl::Time now) const {
  internal::BoxRecord next = record_;
  next.mutable_box()->set_state(state);
  return Stamped(std::move(next), now);
}

}  // namespace berth::docker
