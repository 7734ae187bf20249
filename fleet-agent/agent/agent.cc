#include "fleet-agent/agent/agent.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"
#include "fleet-agent/pg/pg_connection.h"
#include "fleet-agent/schema/schema.h"
#include "spdlog/spdlog.h"

namespace berth::fleet {
namespace {

// A docker-svc call's deadline: long enough for a cold create (which does not wait for the
// box to be ready).
constexpr absl::Duration kCallTimeout = absl::Seconds(60);
constexpr absl::Duration kHostTimeout = absl::Seconds(5);
// How often a docker-svc call that found it down is tried, and how far apart at first.
constexpr int kAttempts = 8;
constexpr absl::Duration kFirstRetry = absl::Milliseconds(250);
// How long the control loop waits for a NOTIFY at a time: also how soon it sees a worker's
// request for another sweep.
constexpr absl::Duration kListenSlice = absl::Milliseconds(100);
constexpr char kStopReason[] = "stopped through the fleet";
// How long a create begun before a restart may go without its box showing in the mirror before
// the row is FAILED: docker-svc's create (pull aside) ends well within its 60 s deadline.
constexpr double kOrphanCreateSeconds = 90;

std::chrono::system_clock::time_point DeadlineIn(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

bool Transient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// Runs `call` (a docker-svc call) until it answers other than UNAVAILABLE or DEADLINE_EXCEEDED
// (docker-svc restarting), kAttempts times at most, backing off, and not once stopping.
template <typename Call>
grpc::Status WithRetries(const std::function<bool()>& stopping, Call call) {
  absl::Duration backoff = kFirstRetry;
  grpc::Status status;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    status = call();
    if (!Transient(status.error_code()) || stopping()) return status;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(4));
  }
  return status;
}

}  // namespace

Agent::Agent(const AgentConfig& config, std::shared_ptr<grpc::Channel> boxes)
    : config_(config), boxes_(box::v1::Boxes::NewStub(std::move(boxes))) {}

Agent::~Agent() { Stop(); }

void Agent::Start() {
  last_round_ns_ = absl::GetCurrentTimeNanos();
  threads_.emplace_back([this] { ControlLoop(); });
  threads_.emplace_back([this] { WatchLoop(); });
  for (int i = 0; i < config_.action_workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

void Agent::Stop() {
  if (stopping_.exchange(true)) return;
  RestartWatch();
  {
    absl::MutexLock lock(&mu_);  // wakes the workers (their Await re-checks stopping_)
  }
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

absl::Status Agent::Liveness() const {
  const absl::Duration since = absl::Now() - absl::FromUnixNanos(last_round_ns_.load());
  if (since > std::max(3 * config_.heartbeat_interval, absl::Seconds(30))) {
    return absl::DeadlineExceededError(
        absl::StrCat("the control loop has not gone round for ", absl::FormatDuration(since)));
  }
  return absl::OkStatus();
}

void Agent::Pause(absl::Duration duration) {
  const absl::Time until = absl::Now() + duration;
  while (!stopping() && absl::Now() < until) {
    absl::SleepFor(std::min(absl::Milliseconds(50), until - absl::Now()));
  }
}

// ---- control ---------------------------------------------------------------------------------

void Agent::ControlLoop() {
  Database database(config_.database, config_.database_password);
  auto stopping = [this] { return this->stopping(); };
  while (!stopping()) {
    Alive();
    bool fresh = false;
    // An outage of the database is not a hang: the watchdog keeps being fed while it lasts.
    pg::Connection* db = database.Get(stopping, &fresh, [this] { Alive(); });
    if (db == nullptr) break;
    FleetStore store(db, config_.host.id);
    if (fresh) {
      if (!Register(*db, store)) {
        database.Reset();
        Pause(absl::Seconds(1));
        continue;
      }
      // Whatever changed while the database was away: the watch mirrors everything again.
      RestartWatch();
    }
    absl::Time next_heartbeat = absl::Now();
    while (!stopping() && ControlRound(*db, store, &next_heartbeat)) Alive();
    if (!stopping()) {
      spdlog::warn("lost the PostgreSQL connection; reconnecting");
      synced_ = false;
      database.Reset();
    }
  }
}

bool Agent::Register(pg::Connection& db, FleetStore& store) {
  if (config_.migrate_at_start) {
    if (absl::StatusOr<int> version = Migrate(db); !version.ok()) {
      spdlog::error("the berth schema: {}", version.status().ToString());
      return false;
    }
  }
  if (absl::Status registered = store.RegisterHost(config_.host); !registered.ok()) {
    spdlog::error("registering host {}: {}", config_.host.id, registered.ToString());
    return false;
  }
  absl::StatusOr<pg::Result> named =
      db.Exec("SELECT berth.host_channel($1)", {config_.host.id});
  if (!named.ok() || named->rows() != 1) return false;
  if (!db.Exec(absl::StrCat("LISTEN ", pg::QuoteIdentifier(named->Get(0, 0)))).ok()) return false;
  registered_ = true;
  spdlog::info("host {} registered at {} (zone \"{}\"); listening on {}", config_.host.id,
               config_.host.address, config_.host.zone, named->Get(0, 0));
  sweep_requested_ = true;
  return true;
}

bool Agent::ControlRound(pg::Connection& db, FleetStore& store, absl::Time* next_heartbeat) {
  if (heartbeat_requested_.exchange(false) || absl::Now() >= *next_heartbeat) {
    if (absl::Status beat = Heartbeat(store); !beat.ok()) {
      spdlog::warn("heartbeat: {}", beat.ToString());
      if (beat.code() == absl::StatusCode::kNotFound) return false;  // register again
      if (!db.ok()) return false;
    }
    *next_heartbeat = absl::Now() + config_.heartbeat_interval;
  }
  if (sweep_requested_.exchange(false)) {
    if (absl::Status swept = Sweep(store); !swept.ok()) {
      spdlog::warn("reading the host's pending rows: {}", swept.ToString());
      sweep_requested_ = true;
      if (!db.ok()) return false;
    }
  }
  const absl::Duration wait =
      std::clamp(*next_heartbeat - absl::Now(), absl::ZeroDuration(), kListenSlice);
  absl::StatusOr<std::vector<std::string>> notified = db.WaitForNotifications(wait);
  if (!notified.ok()) return false;
  for (const std::string& payload : *notified) {
    // A box id: a row of that box asks for something. Empty: the host's row changed.
    if (payload.empty()) {
      heartbeat_requested_ = true;
    } else {
      sweep_requested_ = true;
    }
  }
  return true;
}

absl::Status Agent::Heartbeat(FleetStore& store) {
  box::v1::HostResponse report;
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kHostTimeout));
  const grpc::Status asked = boxes_->Host(&context, box::v1::HostRequest(), &report);
  if (!asked.ok()) {
    // The host cannot serve: its row says so (PRE_CONNECTION) and it is not chosen.
    report.Clear();
  }
  const bool synced = asked.ok() && report.allocator_error().empty() && synced_.load();
  if (asked.ok() && report.has_started_at()) {
    docker_started_ns_ = absl::ToUnixNanos(common::FromTimestamp(report.started_at()));
  }
  absl::StatusOr<HeartbeatAnswer> answer = store.Heartbeat(report, synced);
  if (!answer.ok()) return answer.status();
  if (answer->was_lost) {
    spdlog::warn("this host had been reaped LOST; mirroring its boxes again");
    RestartWatch();
  }
  if (answer->pending_actions > 0) sweep_requested_ = true;
  if (asked.ok() && FollowDrain(store, *answer, report.drain_state())) {
    heartbeat_requested_ = true;  // publish the new state at once
  }
  return absl::OkStatus();
}

bool Agent::FollowDrain(FleetStore& store, const HeartbeatAnswer& answer,
                        box::v1::DrainState drain_state) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kHostTimeout));
  box::v1::DrainResponse response;
  if (answer.drain_requested && drain_state == box::v1::DRAIN_STATE_SERVING) {
    // Recorded first: a restart between the two still knows the drain is the fleet's.
    if (!answer.drain_applied && !store.SetDrainApplied(true).ok()) return false;
    spdlog::info("the fleet drains this host");
    const grpc::Status drained = boxes_->Drain(&context, box::v1::DrainRequest(), &response);
    if (!drained.ok()) spdlog::warn("Drain: {}", drained.error_message());
    return drained.ok();
  }
  // A drain that the fleet did not make (an operator's, on this host) is left alone.
  if (!answer.drain_requested && answer.drain_applied) {
    if (drain_state != box::v1::DRAIN_STATE_SERVING) {
      spdlog::info("the fleet undrains this host");
      const grpc::Status undrained =
          boxes_->Undrain(&context, box::v1::UndrainRequest(), &response);
      if (!undrained.ok()) {
        spdlog::warn("Undrain: {}", undrained.error_message());
        return false;
      }
    }
    return store.SetDrainApplied(false).ok();
  }
  return false;
}

absl::Status Agent::Sweep(FleetStore& store) {
  if (!synced_.load()) {
    sweep_requested_ = true;  // again once the mirror is complete
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<PendingAction>> actions = store.PendingActions();
  if (!actions.ok()) return actions.status();
  std::vector<PendingAction> orphans;
  {
    absl::MutexLock lock(&mu_);
    for (PendingAction& action : *actions) {
      if (in_flight_.count(action.box_id) > 0) {
        asked_again_.insert(action.box_id);
      } else if (action.action == "CREATING") {
        orphans.push_back(std::move(action));
      } else {
        in_flight_.insert(action.box_id);
        queue_.push_back(std::move(action));
      }
    }
  }
  for (const PendingAction& orphan : orphans) SettleOrphanCreate(store, orphan);
  return absl::OkStatus();
}

void Agent::SettleOrphanCreate(FleetStore& store, const PendingAction& action) {
  // Asking docker-svc again could make a second box for the row (its create is idempotent only
  // while it holds the box): the mirror decides instead. Seen there: made. Not seen, while the
  // mirror holds a snapshot of a docker-svc that started after the create began: undone at that
  // start (docker-svc undoes interrupted creates). Not seen for long: lost (docker-svc never got
  // the create, or undid it).
  const absl::Time began = absl::Now() - absl::Seconds(action.idle_seconds);
  const absl::Time docker_started = absl::FromUnixNanos(docker_started_ns_.load());
  const bool restarted_since = docker_started_ns_.load() != 0 && docker_started > began &&
                               absl::FromUnixNanos(snapshot_done_ns_.load()) > docker_started;
  absl::Status settled = absl::OkStatus();
  if (action.state != "PENDING") {
    settled = store.ActionDone(action.box_id, "CREATING");
  } else if (restarted_since) {
    settled = store.ActionFailed(action.box_id, "CREATING",
                                 "the host restarted while making the box; assign again");
  } else if (action.idle_seconds > kOrphanCreateSeconds) {
    settled = store.ActionFailed(action.box_id, "CREATING",
                                 "the host lost the box while making it; assign again");
  }
  if (!settled.ok()) spdlog::warn("box {}: {}", action.box_id, settled.ToString());
}

// ---- watch -----------------------------------------------------------------------------------

void Agent::RestartWatch() {
  absl::MutexLock lock(&mu_);
  synced_ = false;  // until the next snapshot is mirrored
  watch_restart_ = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

void Agent::WatchLoop() {
  Database database(config_.database, config_.database_password);
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stopping()) {
    const absl::Time began = absl::Now();
    MirrorOneStream(database);
    synced_ = false;
    // A stream that lasted is watched again at once; one that failed at once (docker-svc
    // down) backs off to 1 s.
    backoff = absl::Now() - began > absl::Seconds(10) ? absl::Milliseconds(100)
                                                      : std::min(backoff * 2, absl::Seconds(1));
    Pause(backoff);
  }
}

void Agent::MirrorOneStream(Database& database) {
  // Boxes' rows need their host's row.
  while (!registered_.load() && !stopping()) absl::SleepFor(absl::Milliseconds(20));
  pg::Connection* db = database.Get([this] { return stopping(); });
  if (db == nullptr) return;
  FleetStore store(db, config_.host.id);
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping()) return;
    watch_context_ = &context;
    watch_restart_ = false;
  }
  std::unique_ptr<grpc::ClientReader<box::v1::BoxEvent>> reader =
      boxes_->Watch(&context, box::v1::WatchRequest());
  std::vector<std::string> snapshot;
  box::v1::BoxEvent event;
  while (reader->Read(&event)) {
    absl::Status written = absl::OkStatus();
    switch (event.kind()) {
      case box::v1::BoxEvent::KIND_SNAPSHOT:
        snapshot.push_back(event.box().box_id());
        written = store.MirrorBox(event.box());
        break;
      case box::v1::BoxEvent::KIND_SNAPSHOT_DONE: {
        absl::StatusOr<int> ended = store.ResyncHost(snapshot);
        written = ended.status();
        if (ended.ok()) {
          spdlog::info("mirrored {} boxes of docker-svc; {} rows of boxes it no longer has ended",
                       snapshot.size(), *ended);
          snapshot_done_ns_ = absl::GetCurrentTimeNanos();
          synced_ = true;
          sweep_requested_ = true;
          heartbeat_requested_ = true;
        }
        break;
      }
      case box::v1::BoxEvent::KIND_CHANGED:
        written = store.MirrorBox(event.box());
        break;
      case box::v1::BoxEvent::KIND_GONE:
        written = store.BoxGone(event);
        break;
      default:
        break;
    }
    if (!written.ok()) {
      spdlog::warn("mirroring box {}: {}; watching again", event.box().box_id(),
                   written.ToString());
      if (!db->ok()) database.Reset();
      context.TryCancel();
      break;
    }
  }
  const grpc::Status finished = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
  }
  if (!finished.ok() && finished.error_code() != grpc::StatusCode::CANCELLED &&
      absl::Now() - last_watch_complaint_ > absl::Minutes(1)) {
    // Once a minute at most: docker-svc down is one problem, not a line per retry.
    spdlog::info("docker-svc's watch ended ({}); watching again", finished.error_message());
    last_watch_complaint_ = absl::Now();
  }
}

// ---- workers ---------------------------------------------------------------------------------

void Agent::WorkerLoop() {
  Database database(config_.database, config_.database_password);
  while (true) {
    PendingAction action;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping();
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(1));
      if (stopping()) return;
      if (queue_.empty()) continue;
      action = std::move(queue_.front());
      queue_.pop_front();
    }
    pg::Connection* db = database.Get([this] { return stopping(); });
    // Whether the action may not have been recorded: no connection, or it broke on the way
    // (then it is dropped: `db` must not be used past the Reset).
    bool unrecorded = db == nullptr;
    if (db != nullptr) {
      FleetStore store(db, config_.host.id);
      Execute(store, action);
      if (!db->ok()) {
        unrecorded = true;
        database.Reset();
      }
    }
    absl::MutexLock lock(&mu_);
    in_flight_.erase(action.box_id);
    if (asked_again_.erase(action.box_id) > 0 || unrecorded) sweep_requested_ = true;
  }
}

void Agent::Execute(FleetStore& store, const PendingAction& action) {
  if (action.action == "CREATE") {
    ExecuteCreate(store, action);
  } else if (action.action == "ASSIGN") {
    ExecuteAssign(store, action);
  } else if (action.action == "STOP") {
    ExecuteStop(store, action);
  }
}

void Agent::ExecuteCreate(FleetStore& store, const PendingAction& action) {
  absl::StatusOr<bool> begun = store.BeginCreate(action.box_id);
  if (!begun.ok() || !*begun) return;  // asks for something else now, or try again later
  // From here on the row says CREATING: should this process die, the next one settles the row
  // from what docker-svc shows (SettleOrphanCreate) and never asks for the box again. Retries
  // below are of calls docker-svc did not answer (it is idempotent on the box id meanwhile).
  box::v1::CreateRequest request;
  request.set_app(action.app);
  request.set_box_id(action.box_id);
  request.set_user_id(action.user_id);
  request.set_session_id(action.session_id);
  box::v1::CreateResponse response;
  const grpc::Status created = WithRetries([this] { return stopping(); }, [&] {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    return boxes_->Create(&context, request, &response);
  });
  absl::Status recorded;
  if (created.ok()) {
    recorded = store.ActionDone(action.box_id, "CREATING");
  } else if (stopping() && Transient(created.error_code())) {
    return;  // left CREATING: the next start settles it
  } else {
    recorded = store.ActionFailed(
        action.box_id, "CREATING",
        absl::StrCat("the host could not make the box: ", created.error_message()));
  }
  if (!recorded.ok()) spdlog::warn("box {}: {}", action.box_id, recorded.ToString());
}

void Agent::ExecuteAssign(FleetStore& store, const PendingAction& action) {
  box::v1::AssignRequest request;
  request.set_box_id(action.box_id);
  request.set_app(action.app);
  request.set_user_id(action.user_id);
  request.set_session_id(action.session_id);
  box::v1::AssignResponse response;
  const grpc::Status assigned = WithRetries([this] { return stopping(); }, [&] {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    return boxes_->Assign(&context, request, &response);
  });
  if (!assigned.ok() && Transient(assigned.error_code())) return;  // the next sweep retries
  const absl::Status recorded =
      assigned.ok() ? store.ActionDone(action.box_id, "ASSIGN")
                    : store.ActionFailed(action.box_id, "ASSIGN",
                                         absl::StrCat("the host could not assign the box: ",
                                                      assigned.error_message()));
  if (!recorded.ok()) spdlog::warn("box {}: {}", action.box_id, recorded.ToString());
}

void Agent::ExecuteStop(FleetStore& store, const PendingAction& action) {
  box::v1::StopRequest request;
  request.set_box_id(action.box_id);
  request.set_reason(kStopReason);
  box::v1::StopResponse response;
  const grpc::Status stopped = WithRetries([this] { return stopping(); }, [&] {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    return boxes_->Stop(&context, request, &response);
  });
  absl::Status recorded;
  if (stopped.ok()) {
    recorded = store.ActionDone(action.box_id, "STOP");  // the watch records how it ended
  } else if (stopped.error_code() == grpc::StatusCode::NOT_FOUND) {
    recorded = store.NeverMade(action.box_id, "stopped before its host made it");
  } else {
    return;  // the next sweep retries
  }
  if (!recorded.ok()) spdlog::warn("box {}: {}", action.box_id, recorded.ToString());
}

}  // namespace berth::fleet
