#ifndef BERTH_ALLOCATOR_SVC_GROUP_COMMIT_H_
#define BERTH_ALLOCATOR_SVC_GROUP_COMMIT_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "allocator-svc/lease_record.h"
#include "allocator-svc/lease_store.h"
#include "common/clock.h"

namespace berth::allocator {

// How a GroupCommitter survives a full disk (see GroupCommitter).
struct FullDiskOptions {
  // See GroupCommitter; empty: a full disk is a store failure.
  std::function<absl::Status(const StoredState& durable)> resync;
  // How often a full disk is tried again.
  absl::Duration retry_interval = absl::Seconds(1);
  // Each kind of full-disk log line at most this often.
  absl::Duration log_interval = absl::Seconds(30);
};

// Makes the allocator's changes durable in batches: everything submitted while one commit is
// running goes into the next, so N concurrent requests cost one fsync, not N.
//
// Submit() is called under the lock that orders the changes (the owner's "ordering lock", the
// allocator's), so the queue order is the order the changes were made; the store applies them
// in that order. `done` runs once the submission and everything queued before it are durable -
// also for an empty submission, which is how a read waits until what it saw is durable.
// Nothing is ever acknowledged (done(OK)) that is not durable.
//
// A full disk (the store answers RESOURCE_EXHAUSTED: nothing of the batch was written) is
// survived when a `FullDiskOptions::resync` is given:
//   - the failed batch and everything queued behind it (changes made on top of it, reads that
//     saw it) fail with RESOURCE_EXHAUSTED "the state disk is full: <path> ...; changes are
//     refused until space returns";
//   - memory is then ahead of the store: every submission is refused until the owner has put
//     its memory back to the durable state. The committer loads that state and hands it to
//     `resync` on its own thread (for a failed batch: before its callers hear of the failure);
//     `resync` must replace the owner's in-memory state with it and call Resynced() while it
//     holds the ordering lock;
//   - until space returns, WritesRefused() says so and every submission carrying changes is
//     refused (its changes are in memory only, so it starts another resync); empty
//     submissions (reads) answer at once, since memory equals the durable state;
//   - every `retry_interval` the committer tries a durable no-op write; once one succeeds,
//     changes are accepted again. Without a `resync`, a full disk is a store failure.
// Lines about the full disk are logged at most once per `log_interval` each, however many
// calls are refused.
//
// Any other failed write (an I/O error) leaves memory ahead of a store that cannot be trusted:
// every caller waiting on it and every later one gets UNAVAILABLE, and `on_store_failure` runs
// once (in the daemon: exit non-zero so the service manager restarts from the durable state).
// So does a failed resync.
// Thread-safe.
class GroupCommitter {
 public:
  using Done = std::function<void(absl::Status)>;
  // Told of every write of a batch of changes to the store, successful or not, on the
  // committer's thread: how many changes it carried and how long the write (its fsync
  // included) took by the committer's clock. Must not block.
  using CommitObserver = std::function<void(size_t changes, absl::Duration took)>;

  GroupCommitter(LeaseStore* store, const common::Clock* clock,
                 std::function<void(const absl::Status&)> on_store_failure,
                 FullDiskOptions full_disk = {}, CommitObserver on_commit = nullptr);
  // Stops (see Stop()).
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // `done` runs on the committer's thread, or inline when nothing is pending or the
  // submission is refused; it must not block or call back into the code that holds the
  // ordering lock.
  void Submit(std::vector<Mutation> mutations, Done done);

  // RESOURCE_EXHAUSTED while the disk is full (a submission with changes would be refused),
  // else OK. Lets the owner refuse a change before making it in memory, with no resync; call
  // it under the ordering lock, once per change about to be made (a refusal counts towards
  // the numbers logged).
  absl::Status WritesRefused();
  // False while WritesRefused() would refuse; counts nothing.
  bool AcceptsWrites() const;
  // True from a refused change until Resynced(): memory may hold what is not durable, and
  // every submission is refused. Resynced() is called under the ordering lock, so an owner
  // can wait for this to turn false with a condition on that lock.
  bool AwaitingResync() const;

  // Called by `resync`, under the ordering lock, once the owner's memory equals the durable
  // state it was given: submissions are accepted again (reads at once; changes once space
  // returns).
  void Resynced();

  // Commits what is queued, then stops the thread. Later submissions fail with UNAVAILABLE.
  void Stop();

  // OK unless a write failed for good or a store operation (a commit, a test write of a full
  // disk, a load) has been running for longer than `stuck_after`. A full disk is OK: the
  // daemon is alive, answers reads and recovers by itself.
  absl::Status Check(absl::Duration stuck_after = absl::Seconds(30)) const;

  struct Stats {
    uint64_t commits = 0;
    uint64_t mutations = 0;
    // Submissions refused because the disk was full.
    uint64_t refused_full = 0;
    // Times memory was put back to the durable state.
    uint64_t resyncs = 0;
  };
  Stats stats() const;

 private:
  struct Batch {
    std::vector<Mutation> mutations;
    std::vector<Done> done;
  };
  void Loop();
  // Loads the durable state and hands it to the owner (see FullDiskOptions::resync).
  void Resync();
  // Tries a durable no-op write while the disk is full; leaves the full state when it works.
  void Probe();
  // Makes `status` the permanent failure; true when it is the first one.
  bool Fail(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status of a refused change while the disk is full.
  absl::Status FullStatus() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a full-disk line may be logged now (at most one per log interval per `last`).
  bool MayLog(absl::Time* last) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  LeaseStore* const store_;
  const common::Clock* const clock_;
  const std::function<void(const absl::Status&)> on_store_failure_;
  const FullDiskOptions full_disk_;
  const CommitObserver on_commit_;

  mutable absl::Mutex mu_;
  Batch pending_ ABSL_GUARDED_BY(mu_);
  // A batch is being committed: reads queue behind it.
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // When the thread began the store operation under way (a commit, a test write or a load);
  // InfiniteFuture when none is.
  absl::Time busy_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  // Why the disk is full (the store's RESOURCE_EXHAUSTED), or OK once space returned.
  absl::Status full_ ABSL_GUARDED_BY(mu_);
  // The most recent full-disk status, for refusals.
  absl::Status last_full_ ABSL_GUARDED_BY(mu_);
  // Memory may hold changes the store does not: refuse everything until Resynced().
  bool diverged_ ABSL_GUARDED_BY(mu_) = false;
  // The thread is to run Resync().
  bool resync_wanted_ ABSL_GUARDED_BY(mu_) = false;
  // Counts Resynced() calls.
  uint64_t resync_generation_ ABSL_GUARDED_BY(mu_) = 0;
  // Refusals since the last full-disk line, and when each kind of line was last logged.
  uint64_t refused_unlogged_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_in_episode_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time full_logged_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time recovery_logged_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_GROUP_COMMIT_H_
