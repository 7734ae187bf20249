// BoxManager's session flow (Whist's final host service, without its known weaknesses): assign
// a WAITING box to a user, deliver the client's config.json and wait for the box to be ready,
// sweep boxes stuck on the way, stop boxes that ask for it, and drain the host.
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/files.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/client_config.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "spdlog/spdlog.h"

namespace berth::docker {
namespace {

using ::berth::common::FromTimestamp;
using ::berth::common::ToTimestamp;

using box::v1::Box;
using box::v1::BoxEvent;
using box::v1::BoxState;

// The sweeper gives a CONNECTING box this much beyond its readiness timeout, so that the
// SetConfig call waiting for it ends it first, with the caller told why.
constexpr absl::Duration kSweepSlack = absl::Seconds(5);
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

// ---- State -----------------------------------------------------------------------------------

absl::Status BoxManager::CommitRecord(const std::string& box_id, Entry& entry,
                                      internal::BoxRecord next) {
  if (next.box().state() != entry.record.box().state() || !next.has_state_since()) {
    *next.mutable_state_since() = ToTimestamp(clock_->Now());
  }
  if (absl::Status put = store_.Put(next); !put.ok()) {
    spdlog::error("[box {}] {}", box_id, put.ToString());
    return put;
  }
  entry.record = std::move(next);
  Publish(BoxEvent::KIND_CHANGED, entry.record.box());
  return absl::OkStatus();
}

void BoxManager::ScheduleEnd(const std::string& box_id, Entry& entry, const std::string& reason) {
  if (entry.end_scheduled || entry.phase != Phase::kLive) return;
  entry.end_scheduled = true;
  ScheduleTeardown(box_id, reason, absl::Seconds(entry.profile->stop_grace_seconds()));
}

size_t BoxManager::box_count() const {
  absl::MutexLock lock(&mu_);
  return boxes_.size();
}

// ---- Assign ----------------------------------------------------------------------------------

std::shared_ptr<BoxManager::Entry> BoxManager::FindAssigned(
    const box::v1::AssignRequest& request) const {
  for (const auto& [box_id, entry] : boxes_) {
    if (entry->phase != Phase::kLive) continue;
    const internal::BoxRecord& record = entry->record;
    if (!request.box_id().empty() && box_id != request.box_id()) continue;
    if (request.box_id().empty() && record.box().app() != request.app()) continue;
    if (record.has_assign() && SameAssignment(record.assign(), request)) return entry;
  }
  return nullptr;
}

std::shared_ptr<BoxManager::Entry> BoxManager::PickWaiting(const std::string& app) const {
  std::shared_ptr<Entry> best;
  for (const auto& [box_id, entry] : boxes_) {
    const Box& box = entry->record.box();
    if (!entry->Unclaimed() || box.app() != app) continue;
    if (best == nullptr) {
      best = entry;
      continue;
    }
    const Box& current = best->record.box();
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
  std::shared_ptr<Entry> claimed;
  {
    absl::MutexLock lock(&mu_);
    if (std::shared_ptr<Entry> done = FindAssigned(request)) {
      *response.mutable_box() = done->record.box();
      response.set_from_pool(done->record.request().user_id().empty());
      return response;
    }
    if (draining_) return absl::UnavailableError("draining: this host takes no new sessions");
    if (!request.box_id().empty()) {
      auto it = boxes_.find(request.box_id());
      if (it == boxes_.end() || it->second->phase == Phase::kCreating) {
        return absl::NotFoundError(absl::StrCat("no box ", request.box_id()));
      }
      const Entry& entry = *it->second;
      const Box& box = entry.record.box();
      if (!request.app().empty() && request.app() != box.app()) {
        return absl::InvalidArgumentError(
            absl::StrCat("box ", request.box_id(), " is of app ", box.app()));
      }
      if (!entry.Unclaimed()) {
        return absl::AbortedError(absl::StrCat("box ", request.box_id(), " is ",
                                               box::v1::BoxState_Name(box.state()),
                                               entry.end_scheduled ? " and ending" : "",
                                               ", not WAITING for a user"));
      }
      claimed = it->second;
    } else if (boxes_.count(ColdBoxId(request)) == 0) {
      claimed = PickWaiting(request.app());
    }  // else a retry while this session's cold create is under way: that box is the answer
    if (claimed != nullptr) {
      claimed->claiming = true;
      request.set_box_id(claimed->record.box().box_id());
      request.set_app(claimed->record.box().app());
    }
  }

  if (claimed != nullptr) {
    // The session_id file first: the box never looks ALLOCATED without it, not even to a
    // restart.
    const std::string& box_id = request.box_id();
    MappingDir dir("");
    {
      absl::MutexLock lock(&mu_);
      dir = DirOf(claimed->record);
    }
    absl::Status written = dir.WriteSessionId(request.session_id());
    if (!written.ok()) {
      spdlog::warn("[box {}] assign: write session_id: {}", box_id, written.ToString());
      const bool box_broke_it = absl::IsFailedPrecondition(written);
      {
        absl::MutexLock lock(&mu_);
        claimed->claiming = false;
        // The box's directory cannot take its files (the box filled it, say): it can serve no
        // session, so it ends, and an assign of the app goes on to another box (a few times:
        // a fault of docker-svc's own must not end the whole pool).
        if (box_broke_it) ScheduleEnd(box_id, *claimed, "its mapping directory cannot be written");
      }
      if (box_broke_it && given.box_id().empty() && retries_left > 0) {
        return AssignBox(given, retries_left - 1);
      }
      return absl::Status(written.code(), absl::StrCat("assign box ", box_id,
                                                       ": write session_id: ", written.message()));
    }
    absl::MutexLock lock(&mu_);
    claimed->claiming = false;
    if (claimed->phase != Phase::kLive || claimed->end_scheduled) {
      return absl::AbortedError(absl::StrCat("box ", box_id, " ended while being assigned"));
    }
    internal::BoxRecord next = claimed->record;
    *next.mutable_assign() = request;
    next.mutable_box()->set_user_id(request.user_id());
    next.mutable_box()->set_session_id(request.session_id());
    next.mutable_box()->set_state(box::v1::BOX_STATE_ALLOCATED);
    if (absl::Status committed = CommitRecord(box_id, *claimed, std::move(next));
        !committed.ok()) {
      return absl::Status(committed.code(),
                          absl::StrCat("assign box ", box_id, ": ", committed.message()));
    }
    *response.mutable_box() = claimed->record.box();
    response.set_from_pool(true);
    spdlog::info("[box {}] assigned to user {} (session {}) from the warm pool", box_id,
                 request.user_id(), request.session_id());
    return response;
  }

  // The cold path: no box of the app waits (a named box was claimed or refused above).
  request.set_box_id(ColdBoxId(request));
  box::v1::CreateRequest create;
  create.set_app(request.app());
  create.set_box_id(request.box_id());
  create.set_user_id(request.user_id());
  create.set_session_id(request.session_id());
  ASSIGN_OR_RETURN(box::v1::CreateResponse created, CreateBox(create));
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(request.box_id());
    if (it == boxes_.end() || it->second->phase != Phase::kLive) {
      return absl::AbortedError(absl::StrCat("box ", request.box_id(), " ended at once"));
    }
    Entry& entry = *it->second;
    if (!entry.record.has_assign()) {
      internal::BoxRecord next = entry.record;
      *next.mutable_assign() = request;
      RETURN_IF_ERROR(CommitRecord(request.box_id(), entry, std::move(next)));
    }
    *response.mutable_box() = entry.record.box();
  }
  response.set_from_pool(false);
  if (created.created()) {
    spdlog::info("[box {}] created for user {} (session {}): no WAITING box of app {}",
                 request.box_id(), request.user_id(), request.session_id(), request.app());
  }
  return response;
}

// ---- SetConfig -------------------------------------------------------------------------------

bool BoxManager::AwaitForCaller(const absl::Condition& condition, absl::Time deadline,
                                const std::function<bool()>& caller_gone) {
  if (caller_gone == nullptr) return mu_.AwaitWithDeadline(condition, deadline);
  while (true) {
    const absl::Time slice = std::min(deadline, absl::Now() + absl::Milliseconds(250));
    if (mu_.AwaitWithDeadline(condition, slice)) return true;
    if (absl::Now() >= deadline || caller_gone()) return false;
  }
}

absl::StatusOr<box::v1::SetConfigResponse> BoxManager::SetConfig(
    const box::v1::SetConfigRequest& request, const std::optional<std::string>& caller_user,
    absl::Duration assignment_wait, const std::function<bool()>& caller_gone) {
  auto gone = [&caller_gone] { return caller_gone != nullptr && caller_gone(); };
  const absl::Status went_away = absl::CancelledError("the caller went away");
  ASSIGN_OR_RETURN(const std::string box_id, ConfigTarget(request));
  ASSIGN_OR_RETURN(const std::string config, DecodeClientConfig(request.json_data()));
  const std::string digest = Sha256Hex(config);
  auto not_found = [&box_id] { return absl::NotFoundError(absl::StrCat("no box ", box_id)); };
  const absl::Time give_up = absl::Now() + assignment_wait;

  std::shared_ptr<Entry> entry;
  bool write_config = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = boxes_.find(box_id);
    if (it == boxes_.end() || it->second->phase == Phase::kCreating) return not_found();
    entry = it->second;
    // Wait for the box to have a user, and for another call writing this config to finish.
    auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || entry->phase != Phase::kLive ||
             (!entry->record.box().user_id().empty() && !entry->config_writing);
    };
    const bool in_time = AwaitForCaller(absl::Condition(&settled), give_up, caller_gone);
    const Box& box = entry->record.box();
    if (caller_user.has_value() && !box.user_id().empty() && box.user_id() != *caller_user) {
      return not_found();
    }
    if (stopping_) return absl::UnavailableError("docker-svc is shutting down");
    if (!in_time && gone()) return went_away;
    if (entry->phase != Phase::kLive) {
      return absl::AbortedError(absl::StrCat("box ", box_id, " ended (",
                                             box.reason().empty() ? "gone" : box.reason(), ")"));
    }
    if (!in_time) {
      return absl::DeadlineExceededError(
          absl::StrCat("box ", box_id, " was not assigned to ",
                       caller_user.has_value() ? "you" : "a user", " within ",
                       absl::FormatDuration(assignment_wait)));
    }
    if (!request.app_name().empty() && request.app_name() != box.app()) {
      return absl::InvalidArgumentError(
          absl::StrCat("box ", box_id, " is of app ", box.app(), ", not ", request.app_name()));
    }
    const std::string& known = entry->record.config_sha256();
    if (!known.empty() && known != digest) {
      return absl::AlreadyExistsError(
          absl::StrCat("box ", box_id, " already has another client configuration"));
    }
    // The config is written when the box is still ALLOCATED: the first time, or again after a
    // restart cut the first write short (the same bytes).
    if (box.state() == box::v1::BOX_STATE_ALLOCATED) {
      if (known.empty()) {
        // The digest is stored before the file is written, so that a restart in between
        // still refuses another config.
        internal::BoxRecord next = entry->record;
        next.set_config_sha256(digest);
        RETURN_IF_ERROR(CommitRecord(box_id, *entry, std::move(next)));
      }
      entry->config_writing = true;
      write_config = true;
    }
  }
  const box::v1::AppProfile& profile = *entry->profile;

  if (write_config) {
    MappingDir dir("");
    {
      absl::MutexLock lock(&mu_);
      dir = DirOf(entry->record);
    }
    absl::Status written = dir.WriteConfig(config);
    absl::MutexLock lock(&mu_);
    entry->config_writing = false;
    if (absl::IsFailedPrecondition(written)) {
      // The box made its directory unwritable (it filled it, say): it can never be configured,
      // and its recorded digest would keep the sweeper from it.
      spdlog::warn("[box {}] write config.json: {}", box_id, written.ToString());
      ScheduleEnd(box_id, *entry, "its mapping directory cannot be written");
    }
    if (!written.ok()) {
      return absl::Status(written.code(), absl::StrCat("box ", box_id, ": write config.json: ",
                                                       written.message()));
    }
    if (entry->phase == Phase::kLive &&
        entry->record.box().state() == box::v1::BOX_STATE_ALLOCATED) {
      internal::BoxRecord next = entry->record;
      next.mutable_box()->set_state(next.box().has_ready_at() ? box::v1::BOX_STATE_RUNNING
                                                              : box::v1::BOX_STATE_CONNECTING);
      RETURN_IF_ERROR(CommitRecord(box_id, *entry, std::move(next)));
      spdlog::info("[box {}] client config delivered{}{}", box_id,
                   request.ip().empty() ? "" : " from ", request.ip());
    }
  }

  // Wait for the box's readiness marker: RUNNING. The timeout runs from CONNECTING.
  const absl::Duration timeout = absl::Seconds(profile.readiness_timeout_seconds());
  box::v1::SetConfigResponse response;
  bool running = false;
  {
    absl::MutexLock lock(&mu_);
    auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || entry->phase != Phase::kLive ||
             entry->record.box().state() != box::v1::BOX_STATE_CONNECTING;
    };
    const bool settled_in_time = AwaitForCaller(
        absl::Condition(&settled), FromTimestamp(entry->record.state_since()) + timeout,
        caller_gone);
    const Box& box = entry->record.box();
    running = entry->phase == Phase::kLive && box.state() == box::v1::BOX_STATE_RUNNING;
    *response.mutable_box() = box;
    *response.mutable_result() = ConnectionOf(box, entry->record.aes_key());
    if (!running) {
      if (stopping_) return absl::UnavailableError("docker-svc is shutting down");
      // Still CONNECTING: the sweeper ends the box if it is never ready.
      if (!settled_in_time && gone()) return went_away;
      if (entry->phase != Phase::kLive || box.state() == box::v1::BOX_STATE_DYING) {
        return absl::AbortedError(absl::StrCat(
            "box ", box_id, " ended before it was ready (",
            box.reason().empty() ? "gone" : box.reason(), ")"));
      }
      ScheduleEnd(box_id, *entry, "not ready after its config");
    }
  }
  if (running) return response;
  return absl::DeadlineExceededError(absl::StrCat(
      "box ", box_id, " did not write ", profile.readiness_marker(), " within ",
      absl::FormatDuration(timeout), " of its config; it is being stopped"));
}

// ---- Sweeper and shutdown requests -----------------------------------------------------------

void BoxManager::SweepSessions(absl::Time now) {
  absl::MutexLock lock(&mu_);
  for (auto& [box_id, entry] : boxes_) {
    if (entry->phase != Phase::kLive || entry->end_scheduled) continue;
    const internal::BoxRecord& record = entry->record;
    const absl::Time since = record.has_state_since() ? FromTimestamp(record.state_since())
                                                      : FromTimestamp(record.box().created_at());
    const box::v1::AppProfile& profile = *entry->profile;
    const BoxState state = record.box().state();
    std::string reason;
    // A box a user holds without having configured it: assigned by the backend, or made by
    // the user itself.
    if (state == box::v1::BOX_STATE_ALLOCATED &&
        (record.has_assign() || record.created_by_user()) &&
        record.config_sha256().empty() &&
        now - since >= absl::Seconds(profile.config_timeout_seconds())) {
      reason = absl::StrCat("no client config within ", profile.config_timeout_seconds(), "s");
    } else if (state == box::v1::BOX_STATE_CONNECTING &&
               now - since >= absl::Seconds(profile.readiness_timeout_seconds()) + kSweepSlack) {
      reason = "not ready after its config";
    } else {
      continue;
    }
    spdlog::info("[box {}] sweeping: {}", box_id, reason);
    ScheduleEnd(box_id, *entry, reason);
  }
}

void BoxManager::CheckShutdownRequests() {
  std::vector<std::pair<std::string, MappingDir>> live;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [box_id, entry] : boxes_) {
      if (entry->phase == Phase::kLive && !entry->end_scheduled) {
        live.emplace_back(box_id, DirOf(entry->record));
      }
    }
  }
  std::vector<std::string> asked;
  for (const auto& [box_id, dir] : live) {  // file checks outside the lock
    if (dir.Has(kShutdownRequestFile)) asked.push_back(box_id);
  }
  if (asked.empty()) return;
  absl::MutexLock lock(&mu_);
  for (const std::string& box_id : asked) {
    auto it = boxes_.find(box_id);
    if (it == boxes_.end()) continue;
    spdlog::info("[box {}] the box asked to be stopped", box_id);
    ScheduleEnd(box_id, *it->second, "shutdown requested by the box");
  }
}

// ---- Drain -----------------------------------------------------------------------------------

absl::Status BoxManager::SetDraining(bool draining) {
  const std::string marker = absl::StrCat(options_.boxes_dir, "/", kDrainingMarkerFile);
  if (draining) {
    return common::WriteFileAtomically(marker, "draining\n", 0644);
  }
  if (unlink(marker.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(common::ErrnoMessage(absl::StrCat("remove ", marker), errno));
  }
  return absl::OkStatus();
}

box::v1::DrainState BoxManager::drain_state() const {
  absl::MutexLock lock(&mu_);
  if (!draining_) return box::v1::DRAIN_STATE_SERVING;
  return boxes_.empty() ? box::v1::DRAIN_STATE_DRAINED : box::v1::DRAIN_STATE_DRAINING;
}

box::v1::DrainResponse BoxManager::Drain() {
  absl::MutexLock drain(&drain_mu_);
  if (absl::Status kept = SetDraining(true); !kept.ok()) {
    spdlog::error("drain: {} (the drain holds until docker-svc restarts)", kept.ToString());
  }
  uint32_t stopped = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!draining_) spdlog::info("draining: new boxes are refused, WAITING boxes stopped");
    draining_ = true;
    for (auto& [box_id, entry] : boxes_) {
      if (!entry->Unclaimed()) continue;
      ScheduleEnd(box_id, *entry, "draining");
      ++stopped;
    }
  }
  box::v1::DrainResponse response;
  response.set_drain_state(drain_state());
  response.set_stopped_waiting(stopped);
  return response;
}

box::v1::DrainResponse BoxManager::Undrain() {
  absl::MutexLock drain(&drain_mu_);
  if (absl::Status kept = SetDraining(false); !kept.ok()) spdlog::error("undrain: {}", kept.ToString());
  {
    absl::MutexLock lock(&mu_);
    if (draining_) spdlog::info("serving again: the drain is over");
    draining_ = false;
  }
  box::v1::DrainResponse response;
  response.set_drain_state(drain_state());
  return response;
}

}  // namespace berth::docker
