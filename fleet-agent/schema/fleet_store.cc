#include "fleet-agent/schema/fleet_store.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace berth::fleet {
namespace {

using pg::Param;

// An optional timestamp as PostgreSQL reads it (RFC 3339); NULL when unset.
Param TimeParam(bool has, const google::protobuf::Timestamp& time) {
  if (!has) return std::nullopt;
  return google::protobuf::util::TimeUtil::ToString(time);
}


std::string Int(int64_t value) { return absl::StrCat(value); }

// A TTY or GPU index; NULL for -1 (none).
Param IndexParam(int32_t index) {
  if (index < 0) return std::nullopt;
  return Int(index);
}

}  // namespace

std::string StateName(box::v1::BoxState state) {
  return std::string(absl::StripPrefix(box::v1::BoxState_Name(state), "BOX_STATE_"));
}

std::string DrainStateName(box::v1::DrainState state) {
  return std::string(absl::StripPrefix(box::v1::DrainState_Name(state), "DRAIN_STATE_"));
}

std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  quoted.reserve(values.size());
  for (const std::string& value : values) {
    quoted.push_back(
        absl::StrCat("\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}),
                     "\""));
  }
  return absl::StrCat("{", absl::StrJoin(quoted, ","), "}");
}

std::string PortsJson(const box::v1::Box& box) {
  std::vector<std::string> ports;
  for (const allocator::v1::PortBinding& port : box.ports()) {
    ports.push_back(absl::StrCat(
        R"({"protocol":")", port.protocol() == allocator::v1::PROTOCOL_UDP ? "udp" : "tcp",
        R"(","container_port":)", port.container_port(), R"(,"host_port":)", port.host_port(),
        "}"));
  }
  return absl::StrCat("[", absl::StrJoin(ports, ","), "]");
}

absl::Status FleetStore::RegisterHost(const HostIdentity& host) {
  return db_
      ->Exec("SELECT berth.register_host($1, $2, $3, $4, $5::interval)",
             {host.id, host.address, host.zone, host.version,
              absl::StrCat(absl::ToInt64Milliseconds(host.host_timeout), " milliseconds")})
      .status();
}

absl::StatusOr<HeartbeatAnswer> FleetStore::Heartbeat(const box::v1::HostResponse& report,
                                                      bool synced) {
  const allocator::v1::CapacityResponse& capacity = report.capacity();
  ASSIGN_OR_RETURN(
      pg::Result result,
      db_->Exec("SELECT * FROM berth.heartbeat($1, $2, $3, $4::text[], $5, $6, $7, $8, $9, $10, "
                "$11, $12, $13, $14)",
                {host_id_, DrainStateName(report.drain_state()), synced ? "true" : "false",
                 TextArrayLiteral({report.apps().begin(), report.apps().end()}),
                 Int(capacity.boxes().total()),
                 Int(capacity.boxes().free()), Int(capacity.ttys().total()),
                 Int(capacity.ttys().free()), Int(capacity.tcp_ports().total()),
                 Int(capacity.tcp_ports().free()), Int(capacity.udp_ports().total()),
                 Int(capacity.udp_ports().free()), Int(capacity.gpu_slots().total()),
                 Int(capacity.gpu_slots().free())}));
  if (result.rows() != 1) {
    return absl::NotFoundError(absl::StrCat("host ", host_id_, " is not registered"));
  }
  HeartbeatAnswer answer;
  answer.drain_requested = result.Get(0, 0) == "t";
  answer.drain_applied = result.Get(0, 1) == "t";
  answer.status = result.Get(0, 2);
  if (!absl::SimpleAtoi(result.Get(0, 3), &answer.pending_actions)) answer.pending_actions = 0;
  answer.was_lost = result.Get(0, 4) == "t";
  return answer;
}

absl::Status FleetStore::MirrorBox(const box::v1::Box& box) {
  return db_
      ->Exec("SELECT berth.mirror_box($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12)",
             {host_id_, box.box_id(), box.app(), box.user_id(), box.session_id(),
              StateName(box.state()), PortsJson(box), IndexParam(box.tty()),
              IndexParam(box.gpu_index()),
              TimeParam(box.has_created_at(), box.created_at()),
              TimeParam(box.has_ready_at(), box.ready_at()), box.reason()})
      .status();
}

absl::Status FleetStore::BoxGone(const box::v1::BoxEvent& gone) {
  const box::v1::Box& box = gone.box();
  return db_
      ->Exec("SELECT berth.box_gone($1, $2, $3, $4, $5, $6)",
             {host_id_, box.box_id(),
              box.state() == box::v1::BOX_STATE_FAILED ? "true" : "false", box.reason(),
              Int(gone.exit_code()), gone.oom_killed() ? "true" : "false"})
      .status();
}

absl::StatusOr<int> FleetStore::ResyncHost(const std::vector<std::string>& live_box_ids) {
  ASSIGN_OR_RETURN(pg::Result result, db_->Exec("SELECT berth.resync_host($1, $2::text[])",
                                                {host_id_, TextArrayLiteral(live_box_ids)}));
  int ended = 0;
  if (result.rows() == 1) (void)absl::SimpleAtoi(result.Get(0, 0), &ended);
  return ended;
}

absl::StatusOr<std::vector<PendingAction>> FleetStore::PendingActions() {
  ASSIGN_OR_RETURN(pg::Result result,
                   db_->Exec("SELECT * FROM berth.pending_actions($1)", {host_id_}));
  std::vector<PendingAction> actions;
  for (int row = 0; row < result.rows(); ++row) {
    PendingAction& action = actions.emplace_back();
    action.box_id = result.Get(row, 0);
    action.action = result.Get(row, 1);
    action.app = result.Get(row, 2);
    action.user_id = result.Get(row, 3);
    action.session_id = result.Get(row, 4);
    action.state = result.Get(row, 5);
    if (!absl::SimpleAtod(result.Get(row, 6), &action.idle_seconds)) action.idle_seconds = 0;
  }
  return actions;
}

absl::StatusOr<bool> FleetStore::BeginCreate(const std::string& box_id) {
  ASSIGN_OR_RETURN(pg::Result result,
                   db_->Exec("SELECT berth.begin_create($1, $2)", {host_id_, box_id}));
  return result.rows() == 1 && result.Get(0, 0) == "t";
}

absl::Status FleetStore::ActionDone(const std::string& box_id, const std::string& action) {
  return db_->Exec("SELECT berth.action_done($1, $2, $3)", {host_id_, box_id, action}).status();
}

absl::Status FleetStore::ActionFailed(const std::string& box_id, const std::string& action,
                                      const std::string& reason) {
  return db_->Exec("SELECT berth.action_failed($1, $2, $3, $4)", {host_id_, box_id, action, reason})
      .status();
}

absl::Status FleetStore::SetDrainApplied(bool applied) {
  return db_->Exec("SELECT berth.set_drain_applied($1, $2)", {host_id_, applied ? "true" : "false"})
      .status();
}

absl::Status FleetStore::NeverMade(const std::string& box_id, const std::string& reason) {
  return db_
      ->Exec("SELECT berth.box_gone($1, $2, false, $3, NULL, NULL)", {host_id_, box_id, reason})
      .status();
}

}  // namespace berth::fleet
