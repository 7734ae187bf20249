#ifndef BERTH_DOCKER_SVC_BOXES_BOX_STEPS_H_
#define BERTH_DOCKER_SVC_BOXES_BOX_STEPS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "berth/box/v1/app_profile.pb.h"
#include "berth/box/v1/box.pb.h"
#include "docker-svc/boxes/box_record.pb.h"

namespace berth::docker {

// One I/O step of a box's create, as an effect: what the executor runs next. Each names what
// it needs from the record the steps carry.
enum class CreateStep {
  kRecordIntent,       // store the record (a crash from here on is undone by the restart)
  kReserve,            // Reserve the lease of the box's profile
  kCreateContainer,    // docker create, from the profile and the record
  kBind,               // Bind the lease to the container
  kStart,              // docker start
  kFindMappingDir,     // inspect the container for its mapping volume
  kWriteMappingFiles,  // write the start-up files into the mapping directory
  kRecordMade,         // store the record of the made box
};
const char* CreateStepName(CreateStep step);

// What a step's I/O answered.
struct CreateStepResult {
  absl::Status status;
  allocator::v1::Lease lease;  // kReserve
  std::string container_id;    // kCreateContainer
  std::string mapping_dir;     // kFindMappingDir: the volume's host path
  std::string mapping_volume;  // kFindMappingDir: the volume's name (empty: not a volume)
};

// What a failed create leaves to undo, in this order.
struct CreateUndo {
  // Remove the container (forced, with its volumes): `container_id`, or when empty and
  // `find_by_name`, the container of the box's name if Docker made it after all (its answer
  // was lost) and it is this docker-svc's.
  bool remove_container = false;
  std::string container_id;
  bool find_by_name = false;
  // Release the lease (a Reserve that failed may still have been granted).
  bool release_lease = false;
  bool delete_record = false;
};

// The create of one box as a pure machine: the steps in order, each step's result folded into
// the record, the error a failed step makes ("create box <id>: <step>: <cause>", the cause's
// code kept) and what it leaves to undo. No I/O, no clock (the time is given).
class CreateSteps {
 public:
  CreateSteps(internal::BoxRecord record, const box::v1::AppProfile* profile);

  CreateStep step() const { return step_; }
  const internal::BoxRecord& record() const { return record_; }
  // Takes the current step's result at `now`. The next step; nullopt once the box is made (the
  // record is then the made box: started, WAITING or ALLOCATED, ready at once without a
  // marker); or the step's error, with undo() saying what to undo.
  absl::StatusOr<std::optional<CreateStep>> Advance(const CreateStepResult& result,
                                                    absl::Time now);
  CreateUndo undo() const;

 private:
  absl::Status StepError(const absl::Status& cause) const;
  void Made(absl::Time now);

  internal::BoxRecord record_;
  const box::v1::AppProfile* profile_;
  CreateStep step_ = CreateStep::kRecordIntent;
  bool recorded_ = false;
  bool reserve_attempted_ = false;
  bool create_attempted_ = false;
};

// One step of a box's teardown, after its BoxLifecycle::BeginTeardown.
enum class TeardownStep {
  kStopContainer,     // docker stop with the grace (skipped when the stop has none)
  kInspectEnd,        // inspect the container for its exit code, OOM kill and run time
  kRemoveContainer,   // docker rm -f -v, retried until gone (the ports and TTY wait on it)
  kRemoveMappingDir,  // the volume (or a legacy directory) Docker did not take with it
  kDeleteRecord,      // best effort: a left record is undone by the restart
  kRelease,           // Release the lease, retried until it is; then the box is gone
};
const char* TeardownStepName(TeardownStep step);

// What a teardown step's I/O answered.
struct TeardownStepResult {
  absl::Status status;
  // kInspectEnd, when it succeeded: what Docker says of the ended container.
  std::optional<int64_t> exit_code;
  bool oom_killed = false;
  absl::Time started_at = absl::InfinitePast();
  absl::Time finished_at = absl::InfinitePast();
  bool running = false;
};

// The teardown of one box as a pure machine: its steps in order, what to retry, and the final
// event (reason, exit code, OOM kill, run time) from the box's record, Docker's answers and
// the facts its events gave.
class TeardownSteps {
 public:
  // `before`: the box as it was when its teardown began; `stop_grace` unset skips the stop.
  // `exit_code_seen`/`oom_seen`: what Docker's events told of the box.
  TeardownSteps(box::v1::Box before, std::string reason, std::optional<absl::Duration> stop_grace,
                std::optional<int64_t> exit_code_seen, bool oom_seen);

  TeardownStep step() const { return step_; }
  // Takes the current step's result at `now`: the next step, or nullopt once the lease is
  // released (the box is gone: final_event()). A result the step must retry (Docker or the
  // allocator failing) keeps the step; `retry` says so.
  std::optional<TeardownStep> Advance(const TeardownStepResult& result, absl::Time now,
                                      bool* retry);
  // The KIND_GONE event's end fields and the box with its final reason.
  box::v1::BoxEvent final_event() const;

 private:
  box::v1::Box box_;
  std::string reason_;
  std::optional<absl::Duration> stop_grace_;
  TeardownStep step_;
  box::v1::BoxEvent end_;
  bool removed_by_others_ = false;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_BOX_STEPS_H_
