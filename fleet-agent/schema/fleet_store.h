#ifndef BERTH_FLEET_AGENT_SCHEMA_FLEET_STORE_H_
#define BERTH_FLEET_AGENT_SCHEMA_FLEET_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "fleet-agent/pg/pg_connection.h"

namespace berth::fleet {

// What a host's agent registers (deploy/sql: berth.register_host).
struct HostIdentity {
  std::string id;
  std::string address;
  std::string zone;
  std::string version;
  absl::Duration host_timeout;
};

// What a heartbeat answers (berth.heartbeat).
struct HeartbeatAnswer {
  bool drain_requested = false;
  // The agent drained docker-svc for the fleet (SetDrainApplied).
  bool drain_applied = false;
  std::string status;
  int pending_actions = 0;
  bool was_lost = false;
};

// A row that waits for its host (berth.pending_actions).
struct PendingAction {
  std::string box_id;
  std::string action;  // CREATE, CREATING, ASSIGN or STOP
  std::string app;
  std::string user_id;
  std::string session_id;
  std::string state;  // the row's: PENDING until the mirror saw the box
  double idle_seconds = 0;  // since the row last changed
};

// The agent's calls of the berth schema, one statement each, for one host, over a connection
// the caller owns (and replaces when it breaks). Errors are pg::Connection::Exec's.
class FleetStore {
 public:
  FleetStore(pg::Connection* connection, std::string host_id)
      : db_(connection), host_id_(std::move(host_id)) {}

  // Inserts or refreshes the host's row (PRE_CONNECTION, or DRAINING when a drain is asked).
  absl::Status RegisterHost(const HostIdentity& host);
  // Stores docker-svc's Host report; `synced`: the mirror of the boxes is complete.
  // NOT_FOUND when the host's row is gone (register again).
  absl::StatusOr<HeartbeatAnswer> Heartbeat(const box::v1::HostResponse& report, bool synced);
  absl::Status MirrorBox(const box::v1::Box& box);
  absl::Status BoxGone(const box::v1::BoxEvent& gone);
  // Ends the rows of boxes docker-svc no longer has; returns how many.
  absl::StatusOr<int> ResyncHost(const std::vector<std::string>& live_box_ids);
  absl::StatusOr<std::vector<PendingAction>> PendingActions();
  // CREATE -> CREATING; false when the row asks for it no more.
  absl::StatusOr<bool> BeginCreate(const std::string& box_id);
  absl::Status ActionDone(const std::string& box_id, const std::string& action);
  absl::Status ActionFailed(const std::string& box_id, const std::string& action,
                            const std::string& reason);
  absl::Status SetDrainApplied(bool applied);
  // A box that was never made is gone (a STOP of a row whose create had not begun).
  absl::Status NeverMade(const std::string& box_id, const std::string& reason);

 private:
  pg::Connection* const db_;
  const std::string host_id_;
};

// "WAITING" for BOX_STATE_WAITING, and so on.
std::string StateName(box::v1::BoxState state);
// The DrainState as berth.heartbeat takes it: SERVING, DRAINING or DRAINED.
std::string DrainStateName(box::v1::DrainState state);
// A box's ports as berth.boxes.ports holds them.
std::string PortsJson(const box::v1::Box& box);
// A text[] literal of `values`, each element quoted (so that "null" stays a string).
std::string TextArrayLiteral(const std::vector<std::string>& values);

}  // namespace berth::fleet

#endif  // BERTH_FLEET_AGENT_SCHEMA_FLEET_STORE_H_
