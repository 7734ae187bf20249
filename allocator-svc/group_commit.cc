#include "allocator-svc/group_commit.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::allocator {

GroupCommitter::GroupCommitter(LeaseStore* store, const common::Clock* clock,
                               std::function<void(const absl::Status&)> on_store_failure)
    : store_(store),
      clock_(clock),
      on_store_failure_(std::move(on_store_failure)),
      thread_([this] { Loop(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Submit(std::vector<Mutation> mutations, Done done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) {
      refused = failure_;
    } else if (stopping_) {
      refused = absl::UnavailableError("allocator-svc is stopping");
    } else if (mutations.empty() && !in_flight_ && pending_.done.empty()) {
      // Nothing ahead of it: what the caller saw is durable already.
    } else {
      for (Mutation& mutation : mutations) pending_.mutations.push_back(std::move(mutation));
      pending_.done.push_back(std::move(done));
      return;
    }
  }
  done(refused);
}

void GroupCommitter::Loop() {
  while (true) {
    Batch batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](GroupCommitter* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->pending_.done.empty() || self->stopping_;
          },
          this));
      if (pending_.done.empty()) return;  // Stopping with nothing left to commit.
      std::swap(batch, pending_);
      in_flight_ = true;
      in_flight_since_ = clock_->Now();
    }
    absl::Status status;
    if (!batch.mutations.empty()) {
      std::vector<const Mutation*> mutations;
      mutations.reserve(batch.mutations.size());
      for (const Mutation& mutation : batch.mutations) mutations.push_back(&mutation);
      status = store_->Apply(mutations);
    }
    bool first_failure = false;
    {
      absl::MutexLock lock(&mu_);
      in_flight_ = false;
      if (status.ok()) {
        stats_.commits += batch.mutations.empty() ? 0 : 1;
        stats_.mutations += batch.mutations.size();
      } else if (failure_.ok()) {
        failure_ = absl::UnavailableError(absl::StrCat(
            "the allocator's state file could not be written (", status.ToString(),
            "); allocator-svc must restart from its durable state"));
        first_failure = true;
      }
      if (!failure_.ok()) status = failure_;
    }
    for (Done& done : batch.done) done(status);
    if (first_failure) on_store_failure_(status);
  }
}

void GroupCommitter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status GroupCommitter::Check(absl::Duration stuck_after) const {
  absl::MutexLock lock(&mu_);
  if (!failure_.ok()) return failure_;
  if (in_flight_ && clock_->Now() - in_flight_since_ > stuck_after) {
    return absl::UnavailableError(absl::StrCat("a commit to the state file has been running for ",
                                               absl::FormatDuration(clock_->Now() - in_flight_since_)));
  }
  return absl::OkStatus();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace berth::allocator
