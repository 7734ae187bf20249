#ifndef BERTH_DOCKER_SVC_BOXES_BOX_LIFECYCLE_H_
#define BERTH_DOCKER_SVC_BOXES_BOX_LIFECYCLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/box/v1/app_profile.pb.h"
#include "berth/box/v1/box.pb.h"
#include "docker-svc/boxes/box_record.pb.h"

namespace berth::docker {

// Where a box is in docker-svc's hands: the one control state of a box. (The state a client
// sees, WAITING..DYING, is its record's; it changes only through the transitions below.)
enum class BoxStage {
  kCreating,       // its create steps run; not listed, not watched
  kCreatingEnded,  // its container ended while the create ran; it ends once it is made
  kLive,           // its container runs and no step of it is under way
  kClaiming,       // an Assign writes its session_id file; no other Assign may take it
  kConfiguring,    // a SetConfig writes config.json; others with the same config wait
  kEnding,         // its stop is scheduled
  kStopping,       // its teardown runs (DYING); it leaves the table when done
};

// What the manager must do after a transition. Effects touch no state of the machine: the
// executor runs them in order, under the table's lock except kScheduleTeardown's work.
struct BoxEffect {
  enum class Kind {
    // Store `record` as the box's record; once stored, Commit() it and publish KIND_CHANGED.
    // A storage error leaves the box as it was.
    kCommitRecord,
    // Store the box's (already changed) record; a storage error is logged, not undone.
    kPersist,
    // Publish KIND_CHANGED with the box as it is now.
    kPublishChanged,
    // Run Teardown(reason, stop_grace) on a teardown worker.
    kScheduleTeardown,
  };
  Kind kind;
  std::string reason;                       // kScheduleTeardown
  std::optional<absl::Duration> stop_grace;  // kScheduleTeardown: unset removes it by force
  internal::BoxRecord record;               // kCommitRecord

  bool operator==(const BoxEffect& other) const;
};
using BoxEffects = std::vector<BoxEffect>;

// The end of a box's container, as a Docker event ("die", "oom", "destroy") tells it.
struct ContainerEnd {
  std::string action;
  std::string container_id;
  std::optional<int64_t> exit_code;  // "die"'s exitCode
};

// How a teardown request finds the box.
enum class TeardownStart {
  kStarted,          // it is DYING now: the caller tears it down
  kDeferred,         // it is being made: it ends once it is (the caller returns)
  kAwaitCreate,      // it is being made: the caller waits for the create, then asks again
  kAwaitOtherStop,   // another teardown runs: the caller waits for it
};

// The life of one box: a pure state machine. Every input (a request's step, a Docker event, a
// timer's `now`, a lease or file answer) is a method; each returns the effects to run and
// changes only this object. No I/O, no clock, no locks: the caller serializes calls (BoxManager
// holds its table's lock) and supplies the time.
//
// Invariants: the stage moves forward through creating -> live (claiming/configuring and back)
// -> ending -> stopping, never back; a stop is scheduled at most once by the machine's own
// rules (Docker's events may add one, which the teardown dedups); the record changes only
// through Commit() or the machine's own persisted transitions.
class BoxLifecycle {
 public:
  // A box whose create starts now. `profile` outlives the machine.
  BoxLifecycle(internal::BoxRecord record, const box::v1::AppProfile* profile);
  // A box a restart found running.
  static BoxLifecycle Adopted(internal::BoxRecord record, const box::v1::AppProfile* profile);

  BoxStage stage() const { return stage_; }
  const internal::BoxRecord& record() const { return record_; }
  const box::v1::Box& box() const { return record_.box(); }
  const box::v1::AppProfile& profile() const { return *profile_; }
  // Its create has finished and it has not begun its teardown: it is listed and watched.
  bool Listed() const;
  // Its container runs and its end has not begun (live, claiming, configuring or ending).
  bool Live() const;
  // Live, no step under way and no end scheduled: what its rules may still end.
  bool Endable() const;
  // A live WAITING box with no user that nothing is taking or ending: what an Assign may claim
  // and a drain stops.
  bool Unclaimed() const;
  // What the final event reports of its end (Docker's events): an OOM kill, the exit code.
  bool oom_seen() const { return oom_seen_; }
  std::optional<int64_t> exit_code_seen() const { return exit_code_seen_; }

  // ---- Create ----
  // The create steps learnt the container's id (Docker events about it count from now on).
  void SetContainerId(const std::string& container_id);
  // The create steps found the mapping directory.
  void SetMappingDir(const std::string& mapping_dir, const std::string& volume);
  // The create steps finished with `made` (stored already). An end noticed meanwhile ends it
  // now; a WAITING box made while the host drains is stopped.
  BoxEffects OnCreated(internal::BoxRecord made, bool draining);

  // ---- Ends ----
  // A Docker event about a container. Events of another container (an older box of the id)
  // change nothing.
  BoxEffects OnContainerEnded(const ContainerEnd& end);
  // A rule ends the box (drain, the sweeper, a shutdown request, a broken directory, disk use):
  // once, with its profile's stop grace unless `stop_grace` is given. Nothing unless Endable()
  // or a step is under way.
  BoxEffects RequestEnd(const std::string& reason,
                        std::optional<absl::Duration> stop_grace = std::nullopt);
  // A teardown asks to begin. kStarted: the box is DYING with `reason` (effects: publish).
  TeardownStart BeginTeardown(const std::string& reason, bool wait_for_create,
                              BoxEffects* effects);

  // ---- Timers (the caller's clock) ----
  // The TTL and the sweeper: a box past its TTL, assigned without a config past its app's
  // config timeout, or CONNECTING past its readiness timeout plus `sweep_slack`, is stopped.
  BoxEffects OnTick(absl::Time now, absl::Duration sweep_slack);
  // Its readiness marker was found at `now`.
  BoxEffects OnReady(absl::Time now);
  // Whether it still waits for its readiness marker.
  bool AwaitsReadiness() const;

  // ---- Sessions ----
  // An Assign takes the box: OK and claiming, or ABORTED (not WAITING for a user).
  absl::Status BeginClaim();
  // The claim's session_id file could not be written; `box_broke_it`: the box made its
  // directory unwritable, so it ends.
  BoxEffects AbandonClaim(bool box_broke_it);
  // The session_id file is written: the ALLOCATED record to commit, or ABORTED when the box
  // ended meanwhile. The box is no longer claiming either way.
  absl::StatusOr<internal::BoxRecord> FinishClaim(const box::v1::AssignRequest& request,
                                                  absl::Time now);
  // The record of a cold-created box that records the assign which made it (nullopt: already).
  std::optional<internal::BoxRecord> RecordAssign(const box::v1::AssignRequest& request) const;

  // A SetConfig may look at the box: it ended, or it has a user and no config is being written.
  bool ConfigSettled() const;
  // What a SetConfig of config digest `digest` does once settled: an error (another config:
  // ALREADY_EXISTS), or whether it writes config.json (true: the box is configuring now) with
  // the record to commit first when the digest is new.
  struct ConfigPlan {
    bool write = false;
    std::optional<internal::BoxRecord> commit_first;
  };
  absl::StatusOr<ConfigPlan> PlanConfig(const std::string& digest, absl::Time now);
  // The plan's commit_first could not be stored: the box is no longer configuring.
  void AbandonConfig();
  // config.json was written (or failed: `written`). Effects: the CONNECTING (or RUNNING) record
  // to commit, or the end of a box whose directory cannot be written.
  BoxEffects FinishConfig(const absl::Status& written, absl::Time now);

  // Replaces the record with Stamped(next, now) (stored already).
  void Commit(internal::BoxRecord next, absl::Time now);
  // `next` with state_since set to `now` when its state differs from the box's, or it has none.
  internal::BoxRecord Stamped(internal::BoxRecord next, absl::Time now) const;
  // The record with `next`'s state, state_since set at `now` when the state changes.
  internal::BoxRecord WithState(box::v1::BoxState state, absl::Time now) const;

 private:
  BoxLifecycle(internal::BoxRecord record, const box::v1::AppProfile* profile, BoxStage stage);
  BoxEffects ScheduleEnd(const std::string& reason, std::optional<absl::Duration> stop_grace);
  std::optional<std::string> TimerEnd(absl::Time now, absl::Duration sweep_slack) const;

  internal::BoxRecord record_;
  const box::v1::AppProfile* profile_;
  BoxStage stage_;
  // kCreatingEnded's reason.
  std::string end_while_creating_;
  bool oom_seen_ = false;
  std::optional<int64_t> exit_code_seen_;
};

const char* BoxStageName(BoxStage stage);

// The state a box has once it is ready: RUNNING when its client config was delivered
// (CONNECTING) or its create asked to wait for it; otherwise it keeps its state (a WAITING or
// ALLOCATED box may be ready before its client connects) and only ready_at tells.
box::v1::BoxState ReadyState(const internal::BoxRecord& record);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_BOX_LIFECYCLE_H_
