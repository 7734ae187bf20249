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

// Makes the allocator's changes durable in batches: everything submitted while one commit is
// running goes into the next, so N concurrent requests cost one fsync, not N.
//
// Submit() is called under the lock that orders the changes (the allocator's), so the queue
// order is the order the changes were made; the store applies them in that order. `done`
// runs once the submission and everything queued before it are durable - also for an empty
// submission, which is how a read waits until what it saw is durable.
//
// A failed commit leaves memory ahead of the store, which no retry can repair: every caller
// waiting on it and every later one gets UNAVAILABLE, and `on_store_failure` runs once (in
// the daemon: exit non-zero so the service manager restarts from the durable state).
// Thread-safe.
class GroupCommitter {
 public:
  using Done = std::function<void(absl::Status)>;

  GroupCommitter(LeaseStore* store, const common::Clock* clock,
                 std::function<void(const absl::Status&)> on_store_failure);
  // Stops (see Stop()).
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // `done` runs on the committer's thread, or inline when nothing is pending; it must not
  // block or call back into the code that holds the ordering lock.
  void Submit(std::vector<Mutation> mutations, Done done);

  // Commits what is queued, then stops the thread. Later submissions fail with UNAVAILABLE.
  void Stop();

  // OK unless a commit failed or one has been running for longer than `stuck_after`.
  absl::Status Check(absl::Duration stuck_after = absl::Seconds(30)) const;

  struct Stats {
    uint64_t commits = 0;
    uint64_t mutations = 0;
  };
  Stats stats() const;

 private:
  struct Batch {
    std::vector<Mutation> mutations;
    std::vector<Done> done;
  };
  void Loop();

  LeaseStore* const store_;
  const common::Clock* const clock_;
  const std::function<void(const absl::Status&)> on_store_failure_;

  mutable absl::Mutex mu_;
  Batch pending_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time in_flight_since_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_GROUP_COMMIT_H_
