#ifndef BERTH_DOCKER_SVC_BOXES_BOX_MANAGER_H_
#define BERTH_DOCKER_SVC_BOXES_BOX_MANAGER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "common/clock.h"
#include "docker-svc/boxes/app_profiles.h"
#include "docker-svc/boxes/box_lifecycle.h"
#include "docker-svc/boxes/box_metrics.h"
#include "docker-svc/boxes/box_record.pb.h"
#include "docker-svc/boxes/box_steps.h"
#include "docker-svc/boxes/box_store.h"
#include "docker-svc/boxes/lease_client.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "docker-svc/boxes/watch_hub.h"
#include "docker-svc/boxes/worker_pool.h"
#include "docker-svc/engine/docker_client.h"
#include "docker-svc/engine/docker_event_feed.h"

namespace berth::docker {

// The file in the boxes directory that marks a draining host (kept across restarts).
inline constexpr char kDrainingMarkerFile[] = ".draining";

// What end users (not the backend) may ask of a host.
struct UserLimits {
  // Boxes one user may have at once (any state, however made); a create beyond is refused.
  int max_boxes_per_user = 3;
  // The TTL of an end user's box that asks for none, and the longest it may ask for.
  absl::Duration default_ttl = absl::Hours(1);
  absl::Duration max_ttl = absl::Hours(12);
};

// Who asks for a box: the backend (the webserver, an operator) or an end user, whose creates
// get a box id made by docker-svc and are bound by UserLimits.
enum class Requester { kBackend, kEndUser };

struct BoxManagerOptions {
  // Mapping directories live in <boxes_dir>/<box_id>/, records in <boxes_dir>/.records/.
  std::string boxes_dir;
  // How often Docker's containers and the allocator's leases are compared with the boxes.
  absl::Duration resync_interval = absl::Seconds(30);
  // How often boxes not yet ready are checked for their readiness marker.
  absl::Duration readiness_poll_interval = absl::Milliseconds(10);
  // How often TTLs and failed lease releases are looked at.
  absl::Duration tick_interval = absl::Seconds(1);
  // Threads that tear down boxes whose end was noticed by an event, a TTL or a resync.
  int teardown_threads = 4;
  // How often boxes whose app sets disk_limit_bytes have their writable layers measured.
  absl::Duration disk_check_interval = absl::Seconds(10);
  UserLimits user_limits;
  // Where the boxes' metrics go (it must outlive the manager); null: a registry of the
  // manager's own, which nobody reads.
  BoxMetrics* metrics = nullptr;
};

// Every box on the host, from its create to its end: the lease, the mapping directory, the
// container and the record on disk that lets a restart find it again (README, Restart). Each
// box's rules live in its BoxLifecycle (a pure state machine); this class feeds it requests,
// Docker's events and timers, and runs the effects it returns.
//
// Invariants: a box is listed only once its container runs; a box that ends (Stop, TTL, its
// process dying, its container removed behind Berth's back) loses its container, directory,
// record and lease before its final KIND_GONE event; a create that fails undoes every earlier
// step. Thread-safe; Docker and the allocator are never called under the table's lock (a
// box's record file is written under it, so that records follow the table in order).
class BoxManager {
 public:
  static absl::StatusOr<std::unique_ptr<BoxManager>> Create(const BoxManagerOptions& options,
                                                            const AppCatalog* catalog,
                                                            DockerClient* docker,
                                                            LeaseClient* leases,
                                                            const common::Clock* clock);
  ~BoxManager();
  BoxManager(const BoxManager&) = delete;
  BoxManager& operator=(const BoxManager&) = delete;

  // The startup reconcile (README, Restart), before serving: adopts every running box container
  // that has its record (or at least Berth's labels), undoes what crashed creates and boxes
  // that ended while docker-svc was down left behind, removes orphaned mapping directories and
  // makes the allocator's leases agree. Waits for Docker and the allocator to answer.
  absl::Status Recover();
  // Starts the Docker event stream (from just before Recover() listed the containers), the
  // readiness watch, TTLs and the periodic resync.
  void Start();
  // Stops the background work; the boxes keep running. Idempotent.
  void Shutdown();

  // Errors: INVALID_ARGUMENT (request), ALREADY_EXISTS (the box id is taken by another
  // request), FAILED_PRECONDITION (the image is missing), RESOURCE_EXHAUSTED (host full),
  // UNAVAILABLE/DEADLINE_EXCEEDED (Docker or the allocator unreachable), and for
  // wait_for_ready DEADLINE_EXCEEDED (not ready in time; the box is stopped) or ABORTED (the
  // box ended first). Messages name the step that failed.
  // An end user's create (its user_id is the user's) may not name a box id (INVALID_ARGUMENT:
  // one is made, so that no user can take the id of another's box), gets the default TTL when
  // it asks for none and at most max_ttl (INVALID_ARGUMENT beyond), and RESOURCE_EXHAUSTED when
  // the user has max_boxes_per_user boxes already.
  absl::StatusOr<box::v1::CreateResponse> CreateBox(const box::v1::CreateRequest& request,
                                                    Requester requester = Requester::kBackend);
  // NOT_FOUND unless the box's container runs.
  absl::StatusOr<box::v1::Box> GetBox(const std::string& box_id) const;
  std::vector<box::v1::Box> ListBoxes(const box::v1::ListRequest& request) const;
  // SIGTERM, the profile's stop grace, SIGKILL, then cleanup; returns once the box is gone,
  // with the box as it was when the stop began. A box already stopping is waited for.
  // NOT_FOUND for a box that does not exist; INVALID_ARGUMENT for a reason of over 200
  // characters or with characters other than printable ASCII (it reaches logs and events).
  absl::StatusOr<box::v1::Box> StopBox(const std::string& box_id, const std::string& reason);

  // A watcher that first gets a KIND_SNAPSHOT event per box and KIND_SNAPSHOT_DONE, then every
  // change. Unwatch it when done.
  std::shared_ptr<WatchHub::Watcher> Watch();
  void Unwatch(const std::shared_ptr<WatchHub::Watcher>& watcher);

  // ---- Sessions (box_sessions.cc) ----
  // Hands a WAITING box to a user (its session_id file written, then ALLOCATED), or creates one
  // for the user when none of the app waits (its id derived from app, user and session, so that
  // a retry finds it). Repeating the same request returns the same box.
  // Errors: INVALID_ARGUMENT, NOT_FOUND (box_id unknown), ABORTED (box_id is not WAITING, or it
  // ended meanwhile), UNAVAILABLE "draining", and CreateBox's for the cold path.
  // A WAITING box whose mapping directory the box made unwritable is stopped, and the assign
  // (of an app, not a named box) takes another, a few times at most.
  absl::StatusOr<box::v1::AssignResponse> AssignBox(const box::v1::AssignRequest& request);
  // Delivers a client's config.json (see SetConfigRequest): waits up to `assignment_wait` for
  // the box to be ALLOCATED to `caller_user` (nullopt: the backend, any user), writes the file,
  // CONNECTING, then waits for the box's readiness marker (its app's readiness timeout):
  // RUNNING. The same config again answers the same; another one is ALREADY_EXISTS. A box of
  // another user is NOT_FOUND. Not assigned in time: DEADLINE_EXCEEDED, nothing changed; not
  // ready in time: DEADLINE_EXCEEDED, the box stopped ("not ready after its config"). Once
  // `caller_gone` (when set; asked every 250 ms while waiting) says the caller went away, the
  // waits end with CANCELLED; the box goes on as if the call had answered (the sweeper stops
  // it if it is never configured or never ready).
  absl::StatusOr<box::v1::SetConfigResponse> SetConfig(
      const box::v1::SetConfigRequest& request, const std::optional<std::string>& caller_user,
      absl::Duration assignment_wait, const std::function<bool()>& caller_gone = nullptr);
  // Draining refuses new boxes (CreateBox and AssignBox: UNAVAILABLE "draining") and stops
  // every WAITING box, also one whose create was under way and those a restart adopts; boxes
  // with a user run on. Kept across restarts. Both are idempotent.
  box::v1::DrainResponse Drain();
  box::v1::DrainResponse Undrain();
  box::v1::DrainState drain_state() const;
  size_t box_count() const;
  // What the table holds now, for the metrics' gauges.
  BoxCensus Census() const;
  // The catalog's app names, sorted.
  std::vector<std::string> app_names() const { return catalog_->names(); }

  // Compares Docker's containers and the allocator's leases with the boxes and repairs any
  // drift. Runs every resync_interval and after the event stream reconnects.
  void Resync();

  // OK while the background work makes progress (for the systemd watchdog).
  absl::Status Liveness() const;

  // How many calls wait on a box now (a stop on another stop or on the create, a create on a
  // create of the same id, a config on its box's assignment or readiness).
  int waiting_calls() const;
  // Waits until waiting_calls() is at least `count`; whether it was within `timeout`. For tests
  // that must know a call waits before they go on.
  bool AwaitWaitingCalls(int count, absl::Duration timeout) const;

 private:
  // One box: its state machine, and the profile of a box adopted after its app's profile was
  // removed (what the machine's profile points to then). Guarded by mu_.
  struct Entry {
    explicit Entry(BoxLifecycle lifecycle) : life(std::move(lifecycle)) {}
    BoxLifecycle life;
    std::shared_ptr<const box::v1::AppProfile> retired_profile;
  };

  // A SetConfig call under way.
  struct ConfigCall {
    std::string box_id;
    std::optional<std::string> caller_user;
    std::function<bool()> caller_gone;
    std::shared_ptr<Entry> entry;
    bool CallerGone() const { return caller_gone != nullptr && caller_gone(); }
  };

  BoxManager(const BoxManagerOptions& options, const AppCatalog* catalog, DockerClient* docker,
             LeaseClient* leases, const common::Clock* clock, BoxStore store);

  // ---- The executor: runs a box's effects (box_background.cc) ----
  // With mu_ held: runs `effects` in order; stops at (and returns) a commit that fails.
  absl::Status ApplyEffects(const std::string& box_id, Entry& entry, BoxEffects effects)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With mu_ held: stores `next` as the box's record (state_since set when its state changed)
  // and publishes the change; on a storage error nothing changes and the error is returned.
  absl::Status CommitRecord(const std::string& box_id, Entry& entry, internal::BoxRecord next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With mu_ held: a rule ends the box (once; see BoxLifecycle::RequestEnd).
  void RequestEnd(const std::string& box_id, Entry& entry, const std::string& reason,
                  std::optional<absl::Duration> stop_grace = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Create (box_create.cc) ----
  // Under mu_: the box of the same id answers (nullopt: a new entry is in *entry, creating),
  // or the create is refused (shutting down, draining, the user's quota).
  absl::StatusOr<std::optional<box::v1::CreateResponse>> AdmitCreate(
      const box::v1::CreateRequest& request, const box::v1::AppProfile& profile,
      bool by_end_user, std::shared_ptr<Entry>* entry) ABSL_LOCKS_EXCLUDED(mu_);
  // With mu_ held: the listed box of `box_id` (null: none), once no create of the id and no
  // release of an earlier lease of it is under way.
  absl::StatusOr<std::shared_ptr<Entry>> AwaitSettledBoxOfId(const std::string& box_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckUserQuota(const std::string& user_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs the create steps of an admitted entry: the box made, or every step undone.
  absl::StatusOr<box::v1::Box> MakeBox(const box::v1::AppProfile& profile,
                                       const std::shared_ptr<Entry>& entry);
  // Runs `steps` (BoxLifecycle's create steps) one effect at a time, each outside the table's
  // lock; the box's container and mapping directory are set on its entry as they are known.
  absl::Status RunCreateSteps(const box::v1::AppProfile& profile,
                              const std::shared_ptr<Entry>& entry, CreateSteps& steps);
  // One create step's I/O, and its answer.
  CreateStepResult RunCreateStep(CreateStep step, const box::v1::AppProfile& profile,
                                 const internal::BoxRecord& record);
  CreateStepResult FindMappingVolume(const std::string& container_id,
                                     const box::v1::AppProfile& profile);
  void UndoCreate(const std::string& box_id, const CreateUndo& undo);
  absl::Status WaitUntilReady(const std::string& box_id, const box::v1::AppProfile& profile,
                              box::v1::Box* box);

  // ---- Ends (box_teardown.cc) ----
  // Ends a box: `stop_grace` set stops it first (SIGTERM, grace, SIGKILL); then removes its
  // container, directory, record and lease, in that order, and publishes KIND_GONE. Docker or
  // the allocator failing is retried with backoff until it works (the box stays DYING, its
  // resources held) or docker-svc stops (the restart finishes the job). Returns the box as it
  // was before, or waits for and returns the teardown already under way.
  // `by_caller`: the reason is a caller's (StopBox), not one of docker-svc's rules.
  absl::StatusOr<box::v1::Box> Teardown(const std::string& box_id, const std::string& reason,
                                        std::optional<absl::Duration> stop_grace,
                                        bool wait_for_create, bool by_caller = false);
  // The entry whose teardown the caller now runs, or null when there is none to run (deferred
  // to its create, or another teardown ended it); *before is the box as it was.
  absl::StatusOr<std::shared_ptr<Entry>> BeginTeardown(const std::string& box_id,
                                                       const std::string& reason,
                                                       bool wait_for_create,
                                                       box::v1::Box* before)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One teardown step's I/O, and its answer.
  TeardownStepResult RunTeardownStep(TeardownStep step, const internal::BoxRecord& record,
                                     std::optional<absl::Duration> stop_grace,
                                     const TeardownSteps& steps);
  // Releases the lease, then drops the box and publishes `gone` (KIND_GONE); the allocator's
  // error, with nothing changed, when the release fails.
  absl::Status ReleaseAndDrop(const std::string& box_id, const box::v1::BoxEvent& gone);
  void ScheduleTeardown(const std::string& box_id, const std::string& reason,
                        std::optional<absl::Duration> stop_grace);
  // Releases a lease (true), or queues the release for the next tick when the allocator fails.
  bool ReleaseLease(const std::string& box_id);
  // Sleeps up to `duration`; false when docker-svc is stopping.
  bool SleepUnlessStopping(absl::Duration duration) ABSL_LOCKS_EXCLUDED(mu_);

  // ---- Background (box_background.cc, box_disk.cc) ----
  void OnDockerEvent(const Event& event);
  void ReadinessLoop();
  // Every disk_check_interval: stops boxes whose writable layer outgrew their app's
  // disk_limit_bytes (reason "disk").
  void DiskLoop();
  void CheckDiskUse();
  void TickLoop();
  // TTLs and the sweeper (each box's timers), then the queued lease releases.
  void Tick();
  void RetryPendingReleases(std::set<std::string> releases);
  void MarkReady(const std::string& box_id);
  // Stops boxes that asked to be stopped (a `shutdown` file in their mapping directory).
  void CheckShutdownRequests();

  // ---- Sessions (box_sessions.cc) ----
  absl::StatusOr<box::v1::AssignResponse> AssignBox(const box::v1::AssignRequest& request,
                                                    int retries_left);
  // Under mu_: the box assigned already (in *response), a box claimed for the assign (request
  // names it then), or null for the cold path.
  absl::StatusOr<std::shared_ptr<Entry>> ClaimForAssign(box::v1::AssignRequest& request,
                                                        box::v1::AssignResponse* response)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the claimed box's session_id file and makes it ALLOCATED. FAILED_PRECONDITION: the
  // box broke its directory (it is ending).
  absl::StatusOr<box::v1::AssignResponse> AssignClaimed(const box::v1::AssignRequest& request,
                                                        const std::shared_ptr<Entry>& claimed);
  absl::StatusOr<box::v1::AssignResponse> AssignCold(box::v1::AssignRequest request);
  // Waits for the box to be assigned to the caller, then plans its config: whether to write
  // config.json (the digest stored first).
  absl::StatusOr<bool> AwaitAssignedAndPlan(ConfigCall& call, const std::string& app,
                                            const std::string& digest, absl::Time give_up,
                                            absl::Duration assignment_wait)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status WriteClientConfig(const ConfigCall& call, const std::string& config,
                                 const std::string& ip) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<box::v1::SetConfigResponse> AwaitRunning(const ConfigCall& call)
      ABSL_LOCKS_EXCLUDED(mu_);
  // With mu_ held: waits for `condition`, counted in waiting_calls().
  void AwaitCounted(const absl::Condition& condition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With mu_ held: waits for `condition` until `deadline` (the clock's time), giving up early
  // once `caller_gone` (when set) says so; counted in waiting_calls(). Whether `condition`
  // holds.
  bool AwaitForCaller(const absl::Condition& condition, absl::Time deadline,
                      const std::function<bool()>& caller_gone) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With mu_ held: the box a repeated assign asks for, if it was assigned already.
  std::shared_ptr<Entry> FindAssigned(const box::v1::AssignRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // With mu_ held: the WAITING box of `app` to assign (a ready one first, then the oldest).
  std::shared_ptr<Entry> PickWaiting(const std::string& app) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetDraining(bool draining);

  // ---- Recovery and resync (box_recovery.cc) ----
  enum class Recovered { kAdopted, kRemoved, kSkipped };
  // Adopts the box of a listed container, or removes what an ended box left (its record, if
  // any, is taken out of `records`).
  Recovered RecoverContainer(const ContainerSummary& summary,
                             std::map<std::string, internal::BoxRecord>& records);
  // Reconciles the allocator's leases with the boxes, retrying until the allocator answers.
  void ReconcileLeasesUntilAnswered();
  // How many leases the allocator released, made or bound to agree with the boxes.
  absl::StatusOr<int> ReconcileLeases() ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a container (forced, with its volumes: the mapping directory) and the box's record:
  // what a box that is not adopted at recovery left behind. Its lease goes with the reconcile
  // that follows.
  void RemoveLeftovers(const std::string& box_id, const std::string& container_id);
  // Of `running` (box id, directory: boxes whose containers run), ends those whose mapping
  // directory a restart of the Docker engine unmounted from the host, unless they are RUNNING
  // (their session is made; they run on without it).
  // `running`: (box id, container id, directory) of boxes whose containers run.
  // How many it ended.
  int EndBoxesWithDetachedDirectories(
      const std::vector<std::tuple<std::string, std::string, MappingDir>>& running);
  // Removes the mapping volumes of this docker-svc that no container uses (one was removed
  // without its volumes, or Docker kept it).
  // How many it removed.
  int RemoveUnusedMappingVolumes();
  // Removes, once at start, the directories in boxes_dir of the layout before mapping
  // directories were volumes that no adopted box uses, never following a link.
  void RemoveUnusedLegacyMappingDirs();
  // Removes the volume that was the box's mapping directory, if Docker did not with its
  // container; failures are left to the resync's sweep of unused volumes.
  void RemoveMappingVolume(const std::string& box_id, const std::string& volume);
  // The legacy mapping directory <boxes_dir>/<box_id> of a box made before mapping directories
  // were volumes, if `mapping_dir` is that; a no-op otherwise.
  void RemoveLegacyMappingDir(const std::string& box_id, const std::string& mapping_dir);
  std::optional<internal::BoxRecord> RecordFromContainer(const std::string& box_id,
                                                         const ContainerInfo& info) const;
  void Adopt(internal::BoxRecord record) ABSL_LOCKS_EXCLUDED(mu_);
  // The box's mapping directory as its record names it.
  static MappingDir DirOf(const internal::BoxRecord& record);
  // Where in the box its mapping directory is mounted (its profile's mappings_dir).
  std::string MappingsDirOf(const internal::BoxRecord& record) const;
  // The label filter of this docker-svc's box containers.
  std::vector<std::string> OwnedBoxesFilter() const;

  // With mu_ held.
  void Publish(box::v1::BoxEvent::Kind kind, const box::v1::Box& box,
               const box::v1::BoxEvent* end = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BoxManagerOptions options_;
  // options_.metrics, or own_metrics_ (in own_registry_) when it is null.
  std::unique_ptr<prometheus::Registry> own_registry_;
  std::unique_ptr<BoxMetrics> own_metrics_;
  BoxMetrics* const metrics_;
  const AppCatalog* const catalog_;
  DockerClient* const docker_;
  LeaseClient* const leases_;
  const common::Clock* const clock_;
  const BoxStore store_;
  WatchHub hub_;

  // Held shared by every step that changes a lease together with a box (create, the release
  // at a box's end) and exclusively by the allocator reconcile, so that the reconcile sees
  // boxes and leases agree and never releases the lease of a box being made.
  absl::Mutex lifecycle_mu_;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(lifecycle_mu_);
  std::map<std::string, std::shared_ptr<Entry>> boxes_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> pending_releases_ ABSL_GUARDED_BY(mu_);
  // Ids whose queued release the tick is making now; a create of one waits for it.
  std::set<std::string> releasing_ ABSL_GUARDED_BY(mu_);
  // Boxes whose detached mapping directory was reported (once each).
  std::set<std::string> detached_reported_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool resync_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Serializes Drain and Undrain, so that the marker file and draining_ agree.
  absl::Mutex drain_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  int readiness_rounds_ = 0;  // ReadinessLoop's own.

  absl::Time events_since_ = absl::InfinitePast();
  std::atomic<int64_t> last_tick_unix_nanos_{0};
  std::unique_ptr<WorkerPool> teardowns_;
  std::unique_ptr<DockerEventFeed> event_feed_;
  std::thread readiness_thread_;
  std::thread tick_thread_;
  std::thread disk_thread_;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_BOX_MANAGER_H_
