// BoxManager's session flow (Whist's final host service, without its known weaknesses): assign
// a WAITING box to a user, deliver the client's config.json and wait for the box to be ready.
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/client_config.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "docker-svc/boxes/stop_reasons.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;

using box::v1::Box;

// How often a caller's waits ask whether the caller went away.
constexpr absl::Duration kCallerCheckInterval = absl::Milliseconds(250);
// The Whist ports a client is told about (ClientConnection).
constexpr uint32_t kWhistPorts[] = {32261, 32262, 32263, 32273};
// How many more WAITING boxes an assign tries after one whose directory the box broke.
constexpr int kAssignRetries = 2;

absl::Status ValidateAssignRequest(const box::v1::AssignRequest& request) {
  if (request.box_id().empty() && request.app().empty()) {
    return absl::InvalidArgumentError("give the box_id of a WAITING box or an app");
  }
  if (!request.box_id().empty()) RETURN_IF_ERROR(common::ValidateBoxId(request.box_id()));
  if (request.user_id().empty()) return absl::InvalidArgumentError("user_id is required");
  if (request.session_id().empty()) return absl::InvalidArgumentError("session_id is required");
  RETURN_IF_ERROR(ValidateIdentity("user_id", request.user_id()));
  return ValidateIdentity("session_id", request.session_id());
}

// The id of the box a cold assign creates: the same for the same app, user and session, so
// that a retry (or a retry after a crash) finds the box instead of making another.
std::string ColdBoxId(const box::v1::AssignRequest& request) {
  const std::string key = absl::StrCat(request.app(), "\n", request.user_id(), "\n",
                                       request.session_id());
  return absl::StrCat("s-", Sha256Hex(key).substr(0, 40));
}

bool SameAssignment(const box::v1::AssignRequest& a, const box::v1::AssignRequest& b) {
  return a.user_id() == b.user_id() && a.session_id() == b.session_id();
}

box::v1::ClientConnection ConnectionOf(const Box& box, const std::string& aes_key) {
  box::v1::ClientConnection connection;
  for (const allocator::v1::PortBinding& port : box.ports()) {
    const uint32_t host_port = port.host_port();
    switch (port.container_port()) {
      case kWhistPorts[0]: connection.set_port_32261(host_port); break;
      case kWhistPorts[1]: connection.set_port_32262(host_port); break;
      case kWhistPorts[2]: connection.set_port_32263(host_port); break;
      case kWhistPorts[3]: connection.set_port_32273(host_port); break;
      default: break;
    }
  }
  connection.set_aes_key(aes_key);
  return connection;
}

// The box a SetConfigRequest names: box_id or mandelbox_id (the same, when both are given).
absl::StatusOr<std::string> ConfigTarget(const box::v1::SetConfigRequest& request) {
  const std::string& id = request.box_id().empty() ? request.mandelbox_id() : request.box_id();
  if (id.empty()) return absl::InvalidArgumentError("give the box_id (or mandelbox_id)");
  if (!request.box_id().empty() && !request.mandelbox_id().empty() &&
      request.box_id() != request.mandelbox_id()) {
    return absl::InvalidArgumentError("box_id and mandelbox_id name different boxes");
  }
  RETURN_IF_ERROR(common::ValidateBoxId(id));
  return id;
}

}  // namespace

size_t BoxManager::box_count() const {
  absl::MutexLock lock(&mu_);
  return boxes_.size();
}

// ---- Assign ----------------------------------------------------------------------------------

std::shared_ptr<BoxManager::Entry> BoxManager::FindAssigned(
    const box::v1::AssignRequest& request) const {
  for (const auto& [box_id, entry] : boxes_) {
    if (!entry->life.Live()) continue;
    const internal::BoxRecord& record = entry->life.record();
    if (!request.box_id().empty() && box_id != request.box_id()) continue;
    if (request.box_id().empty() && record.box().app() != request.app()) continue;
    if (record.has_assign() && SameAssignment(record.assign(), request)) return entry;
  }
  return nullptr;
}

std::shared_ptr<BoxManager::Entry> BoxManager::PickWaiting(const std::string& app) const {
  std::shared_ptr<Entry> best;
  for (const auto& [box_id, entry] : boxes_) {
    const Box& box = entry->life.box();
    if (!entry->life.Unclaimed() || box.app() != app) continue;
    if (best == nullptr) {
      best = entry;
      continue;
    }
    const Box& current = best->life.box();
    const bool ready = box.has_ready_at(), current_ready = current.has_ready_at();
    if (ready != current_ready) {
      if (ready) best = entry;
    } else if (FromTimestamp(box.created_at()) < FromTimestamp(current.created_at())) {
      best = entry;
    }
  }
  return best;
}

absl::StatusOr<box::v1::AssignResponse> BoxManager::AssignBox(
    const box::v1::AssignRequest& given) {
  return AssignBox(given, kAssignRetries);
}

absl::StatusOr<box::v1::AssignResponse> BoxManager::AssignBox(
    const box::v1::AssignRequest& given, int retries_left) {
  RETURN_IF_ERROR(ValidateAssignRequest(given));
  box::v1::AssignRequest request = given;
  box::v1::AssignResponse response;
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> claimed, ClaimForAssign(request, &response));
  if (response.has_box()) return response;  // assigned already
  if (claimed == nullptr) return AssignCold(request);
  absl::StatusOr<box::v1::AssignResponse> assigned = AssignClaimed(request, claimed);
  if (assigned.ok()) metrics_->Assigned(request.app(), /*from_pool=*/true);
  if (absl::IsFailedPrecondition(assigned.status()) && given.box_id().empty() &&
      retries_left > 0) {
    // The box broke its directory and ends; an assign of the app goes on to another box (a
    // few times: a fault of docker-svc's own must not end the whole pool).
    return AssignBox(given, retries_left - 1);
  }
  return assigned;
}

absl::StatusOr<std::shared_ptr<BoxManager::Entry>> BoxManager::ClaimForAssign(
    box::v1::AssignRequest& request, box::v1::AssignResponse* response) {
  absl::MutexLock lock(&mu_);
  if (std::shared_ptr<Entry> done = FindAssigned(request)) {
    *response->mutable_box() = done->life.box();
    response->set_from_pool(done->life.record().request().user_id().empty());
    return nullptr;
  }
  if (draining_) return absl::UnavailableError("draining: this host takes no new sessions");
  std::shared_ptr<Entry> claimed;
  if (!request.box_id().empty()) {
    auto it = boxes_.find(request.box_id());
    if (it == boxes_.end() || !it->second->life.Listed()) {
      return absl::NotFoundError(absl::StrCat("no box ", request.box_id()));
    }
    const Box& box = it->second->life.box();
    if (!request.app().empty() && request.app() != box.app()) {
      return absl::InvalidArgumentError(
          absl::StrCat("box ", request.box_id(), " is of app ", box.app()));
    }
    claimed = it->second;
  } else if (boxes_.count(ColdBoxId(request)) == 0) {
    claimed = PickWaiting(request.app());
  }  // else a retry while this session's cold create is under way: that box is the answer
  if (claimed == nullptr) return nullptr;
  RETURN_IF_ERROR(claimed->life.BeginClaim());
  request.set_box_id(claimed->life.box().box_id());
  request.set_app(claimed->life.box().app());
  return claimed;
}

absl::StatusOr<box::v1::AssignResponse> BoxManager::AssignClaimed(
    const box::v1::AssignRequest& request, const std::shared_ptr<Entry>& claimed) {
  // The session_id file first: the box never looks ALLOCATED without it, not even to a
  // restart.
  const std::string& box_id = request.box_id();
  MappingDir dir("");
  {
    absl::MutexLock lock(&mu_);
    dir = DirOf(claimed->life.record());
  }
  absl::Status written = dir.WriteSessionId(request.session_id());
  absl::MutexLock lock(&mu_);
  if (!written.ok()) {
    spdlog::warn("[box {}] assign: write session_id: {}", box_id, written.ToString());
    ApplyEffects(box_id, *claimed, claimed->life.AbandonClaim(absl::IsFailedPrecondition(written)))
        .IgnoreError();
    return absl::Status(written.code(), absl::StrCat("assign box ", box_id,
                                                     ": write session_id: ", written.message()));
  }
  ASSIGN_OR_RETURN(internal::BoxRecord next, claimed->life.FinishClaim(request, clock_->Now()));
  if (absl::Status committed = CommitRecord(box_id, *claimed, std::move(next)); !committed.ok()) {
    return absl::Status(committed.code(),
                        absl::StrCat("assign box ", box_id, ": ", committed.message()));
  }
  box::v1::AssignResponse response;
  *response.mutable_box() = claimed->life.box();
  response.set_from_pool(true);
  spdlog::info("[box {}] assigned to user {} (session {}) from the warm pool", box_id,
               request.user_id(), request.session_id());
  return response;
}

absl::StatusOr<box::v1::AssignResponse> BoxManager::AssignCold(box::v1::AssignRequest request) {
  // No box of the app waits (a named box was claimed or refused before).
  request.set_box_id(ColdBoxId(request));
  box::v1::CreateRequest create;
  create.set_app(request.app());
  create.set_box_id(request.box_id());
  create.set_user_id(request.user_id());
  create.set_session_id(request.session_id());
  ASSIGN_OR_RETURN(box::v1::CreateResponse created, CreateBox(create));
  box::v1::AssignResponse response;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(request.box_id());
    if (it == boxes_.end() || !it->second->life.Live()) {
      return absl::AbortedError(absl::StrCat("box ", request.box_id(), " ended at once"));
    }
    Entry& entry = *it->second;
    if (std::optional<internal::BoxRecord> next = entry.life.RecordAssign(request)) {
      RETURN_IF_ERROR(CommitRecord(request.box_id(), entry, *std::move(next)));
    }
    *response.mutable_box() = entry.life.box();
  }
  response.set_from_pool(false);
  if (created.created()) {
    metrics_->Assigned(request.app(), /*from_pool=*/false);
    spdlog::info("[box {}] created for user {} (session {}): no WAITING box of app {}",
                 request.box_id(), request.user_id(), request.session_id(), request.app());
  }
  return response;
}

// ---- SetConfig -------------------------------------------------------------------------------

bool BoxManager::AwaitForCaller(const absl::Condition& condition, absl::Time deadline,
                                const std::function<bool()>& caller_gone) {
  ++waiting_calls_;
  bool held = false;
  while (true) {
    const absl::Duration left = deadline - clock_->Now();
    if (left <= absl::ZeroDuration()) {
      held = condition.Eval();
      break;
    }
    if (mu_.AwaitWithTimeout(condition, std::min(left, kCallerCheckInterval))) {
      held = true;
      break;
    }
    if (caller_gone != nullptr && caller_gone()) break;
  }
  --waiting_calls_;
  return held;
}

absl::StatusOr<box::v1::SetConfigResponse> BoxManager::SetConfig(
    const box::v1::SetConfigRequest& request, const std::optional<std::string>& caller_user,
    absl::Duration assignment_wait, const std::function<bool()>& caller_gone) {
  ASSIGN_OR_RETURN(const std::string box_id, ConfigTarget(request));
  ASSIGN_OR_RETURN(const std::string config, DecodeClientConfig(request.json_data()));
  ConfigCall call{box_id, caller_user, caller_gone, nullptr};
  ASSIGN_OR_RETURN(const bool write,
                   AwaitAssignedAndPlan(call, request.app_name(), Sha256Hex(config),
                                        clock_->Now() + assignment_wait, assignment_wait));
  if (write) RETURN_IF_ERROR(WriteClientConfig(call, config, request.ip()));
  return AwaitRunning(call);
}

absl::StatusOr<bool> BoxManager::AwaitAssignedAndPlan(ConfigCall& call, const std::string& app,
                                                      const std::string& digest,
                                                      absl::Time give_up,
                                                      absl::Duration assignment_wait) {
  const std::string& box_id = call.box_id;
  auto not_found = [&box_id] { return absl::NotFoundError(absl::StrCat("no box ", box_id)); };
  absl::MutexLock lock(&mu_);
  auto it = boxes_.find(box_id);
  if (it == boxes_.end() || !it->second->life.Listed()) return not_found();
  call.entry = it->second;
  BoxLifecycle& life = call.entry->life;
  // Wait for the box to have a user, and for another call writing this config to finish.
  auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || life.ConfigSettled();
  };
  const bool in_time = AwaitForCaller(absl::Condition(&settled), give_up, call.caller_gone);
  const Box& box = life.box();
  if (call.caller_user.has_value() && !box.user_id().empty() &&
      box.user_id() != *call.caller_user) {
    return not_found();
  }
  if (stopping_) return absl::UnavailableError("docker-svc is shutting down");
  if (!in_time && call.CallerGone()) return absl::CancelledError("the caller went away");
  if (!life.Live()) {
    return absl::AbortedError(absl::StrCat("box ", box_id, " ended (",
                                           box.reason().empty() ? "gone" : box.reason(), ")"));
  }
  if (!in_time) {
    return absl::DeadlineExceededError(
        absl::StrCat("box ", box_id, " was not assigned to ",
                     call.caller_user.has_value() ? "you" : "a user", " within ",
                     absl::FormatDuration(assignment_wait)));
  }
  if (!app.empty() && app != box.app()) {
    return absl::InvalidArgumentError(
        absl::StrCat("box ", box_id, " is of app ", box.app(), ", not ", app));
  }
  ASSIGN_OR_RETURN(BoxLifecycle::ConfigPlan plan, life.PlanConfig(digest, clock_->Now()));
  if (plan.commit_first.has_value()) {
    if (absl::Status committed = CommitRecord(box_id, *call.entry, *std::move(plan.commit_first));
        !committed.ok()) {
      life.AbandonConfig();
      return committed;
    }
  }
  return plan.write;
}

absl::Status BoxManager::WriteClientConfig(const ConfigCall& call, const std::string& config,
                                           const std::string& ip) {
  const std::string& box_id = call.box_id;
  MappingDir dir("");
  {
    absl::MutexLock lock(&mu_);
    dir = DirOf(call.entry->life.record());
  }
  absl::Status written = dir.WriteConfig(config);
  absl::MutexLock lock(&mu_);
  if (!written.ok()) spdlog::warn("[box {}] write config.json: {}", box_id, written.ToString());
  BoxEffects effects = call.entry->life.FinishConfig(written, clock_->Now());
  RETURN_IF_ERROR(ApplyEffects(box_id, *call.entry, std::move(effects)));
  if (!written.ok()) {
    return absl::Status(written.code(), absl::StrCat("box ", box_id, ": write config.json: ",
                                                     written.message()));
  }
  spdlog::info("[box {}] client config delivered{}{}", box_id, ip.empty() ? "" : " from ", ip);
  return absl::OkStatus();
}

absl::StatusOr<box::v1::SetConfigResponse> BoxManager::AwaitRunning(const ConfigCall& call) {
  // Wait for the box's readiness marker: RUNNING. The timeout runs from CONNECTING.
  const std::string& box_id = call.box_id;
  BoxLifecycle& life = call.entry->life;
  const box::v1::AppProfile& profile = life.profile();
  const absl::Duration timeout = absl::Seconds(profile.readiness_timeout_seconds());
  box::v1::SetConfigResponse response;
  absl::MutexLock lock(&mu_);
  auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !life.Live() || life.box().state() != box::v1::BOX_STATE_CONNECTING;
  };
  const bool settled_in_time =
      AwaitForCaller(absl::Condition(&settled),
                     FromTimestamp(life.record().state_since()) + timeout, call.caller_gone);
  const Box& box = life.box();
  *response.mutable_box() = box;
  *response.mutable_result() = ConnectionOf(box, life.record().aes_key());
  if (life.Live() && box.state() == box::v1::BOX_STATE_RUNNING) return response;
  if (stopping_) return absl::UnavailableError("docker-svc is shutting down");
  // Still CONNECTING: the sweeper ends the box if it is never ready.
  if (!settled_in_time && call.CallerGone()) return absl::CancelledError("the caller went away");
  if (!life.Live()) {
    return absl::AbortedError(absl::StrCat("box ", box_id, " ended before it was ready (",
                                           box.reason().empty() ? "gone" : box.reason(), ")"));
  }
  RequestEnd(box_id, *call.entry, kNotReadyAfterConfigReason);
  return absl::DeadlineExceededError(absl::StrCat(
      "box ", box_id, " did not write ", profile.readiness_marker(), " within ",
      absl::FormatDuration(timeout), " of its config; it is being stopped"));
}


}  // namespace berth::docker
