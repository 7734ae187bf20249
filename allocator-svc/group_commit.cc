#include "allocator-svc/group_commit.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace berth::allocator {

GroupCommitter::GroupCommitter(LeaseStore* store, const common::Clock* clock,
                               std::function<void(const absl::Status&)> on_store_failure,
                               FullDiskOptions full_disk, CommitObserver on_commit)
    : store_(store),
      clock_(clock),
      on_store_failure_(std::move(on_store_failure)),
      full_disk_(std::move(full_disk)),
      on_commit_(std::move(on_commit)),
      thread_([this] { Loop(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

absl::Status GroupCommitter::FullStatus() const {
  return absl::ResourceExhaustedError(
      absl::StrCat(last_full_.message(), "; changes are refused until space returns"));
}

bool GroupCommitter::MayLog(absl::Time* last) const {
  const absl::Time now = clock_->Now();
  if (now - *last < full_disk_.log_interval) return false;
  *last = now;
  return true;
}

bool GroupCommitter::Fail(const absl::Status& status) {
  if (!failure_.ok()) return false;
  failure_ = absl::UnavailableError(
      absl::StrCat("the allocator's state file could not be written (", status.ToString(),
                   "); allocator-svc must restart from its durable state"));
  return true;
}

void GroupCommitter::Submit(std::vector<Mutation> mutations, Done done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) {
      refused = failure_;
    } else if (stopping_) {
      refused = absl::UnavailableError("allocator-svc is stopping");
    } else if (diverged_ || (!full_.ok() && !mutations.empty())) {
      // Changes made on memory that is not durable, or changes that cannot become durable
      // now: refused, and the memory that holds them is put back to the durable state.
      if (!diverged_) {
        diverged_ = true;
        resync_wanted_ = true;
      }
      ++stats_.refused_full;
      ++refused_unlogged_;
      ++refused_in_episode_;
      refused = FullStatus();
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

absl::Status GroupCommitter::WritesRefused() {
  absl::MutexLock lock(&mu_);
  if (full_.ok() && !diverged_) return absl::OkStatus();
  ++stats_.refused_full;
  ++refused_unlogged_;
  ++refused_in_episode_;
  return FullStatus();
}

bool GroupCommitter::AwaitingResync() const {
  absl::MutexLock lock(&mu_);
  return diverged_;
}

bool GroupCommitter::AcceptsWrites() const {
  absl::MutexLock lock(&mu_);
  return full_.ok() && !diverged_;
}

void GroupCommitter::Resynced() {
  absl::MutexLock lock(&mu_);
  diverged_ = false;
  ++resync_generation_;
}

void GroupCommitter::Loop() {
  while (true) {
    enum class Next { kCommit, kResync, kProbe } next;
    Batch batch;
    absl::Status failed;
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition has_work(
          +[](GroupCommitter* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->pending_.done.empty() || self->stopping_ || self->resync_wanted_;
          },
          this);
      const bool waiting_for_space = !full_.ok() && !diverged_ && failure_.ok();
      if (waiting_for_space) {
        mu_.AwaitWithTimeout(has_work, full_disk_.retry_interval);
      } else {
        mu_.Await(has_work);
      }
      if (!pending_.done.empty()) {
        std::swap(batch, pending_);
        in_flight_ = true;
        failed = failure_;
        next = Next::kCommit;
      } else if (stopping_) {
        return;  // Stopping with nothing left to commit.
      } else if (resync_wanted_) {
        resync_wanted_ = false;
        if (!failure_.ok()) continue;
        next = Next::kResync;
      } else if (!full_.ok() && !diverged_ && failure_.ok()) {
        next = Next::kProbe;
      } else {
        continue;
      }
      busy_since_ = clock_->Now();
    }
    if (next == Next::kResync) {
      Resync();
      continue;
    }
    if (next == Next::kProbe) {
      Probe();
      continue;
    }

    absl::Status status = failed;
    if (status.ok() && !batch.mutations.empty()) {
      std::vector<const Mutation*> mutations;
      mutations.reserve(batch.mutations.size());
      for (const Mutation& mutation : batch.mutations) mutations.push_back(&mutation);
      const absl::Time began = clock_->Now();
      status = store_->Apply(mutations);
      if (on_commit_) on_commit_(mutations.size(), clock_->Now() - began);
    }
    bool first_failure = false;
    bool resync_now = false;
    Batch behind;  // Queued behind a batch the full disk refused.
    std::string log_line;
    {
      absl::MutexLock lock(&mu_);
      in_flight_ = false;
      busy_since_ = absl::InfiniteFuture();
      if (status.ok()) {
        stats_.commits += batch.mutations.empty() ? 0 : 1;
        stats_.mutations += batch.mutations.size();
      } else if (status.code() == absl::StatusCode::kResourceExhausted && failure_.ok() &&
                 full_disk_.resync) {
        // Nothing of the batch is durable, but memory holds it, and everything queued since
        // was made or read on top of it: all of it is refused, then memory is put back.
        full_ = status;
        last_full_ = status;
        diverged_ = true;
        resync_now = true;
        std::swap(behind, pending_);
        const uint64_t refused = batch.done.size() + behind.done.size();
        stats_.refused_full += refused;
        refused_unlogged_ += refused;
        refused_in_episode_ += refused;
        if (MayLog(&full_logged_at_)) {
          log_line = absl::StrCat(
              status.message(), "; changes are refused until space returns (tried again every ",
              absl::FormatDuration(full_disk_.retry_interval),
              "), reads are answered; changes refused so far: ", refused_in_episode_);
          refused_unlogged_ = 0;
        }
        status = FullStatus();
      } else {
        first_failure = Fail(status);
        status = failure_;
      }
    }
    if (!log_line.empty()) spdlog::error("{}", log_line);
    // Memory is put back before the callers hear of the refusal, so that a caller's next read
    // answers at once.
    if (resync_now) {
      {
        absl::MutexLock lock(&mu_);
        busy_since_ = clock_->Now();
      }
      Resync();
    }
    for (Done& done : batch.done) done(status);
    for (Done& done : behind.done) done(status);
    if (first_failure) on_store_failure_(status);
  }
}

void GroupCommitter::Resync() {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    generation = resync_generation_;
  }
  absl::StatusOr<StoredState> durable = store_->Load();
  absl::Status status = durable.ok() ? full_disk_.resync(*durable) : durable.status();
  bool first_failure = false;
  {
    absl::MutexLock lock(&mu_);
    busy_since_ = absl::InfiniteFuture();
    if (status.ok() && resync_generation_ == generation) {
      status = absl::InternalError("the resync did not call Resynced()");
    }
    if (status.ok()) {
      ++stats_.resyncs;
    } else {
      first_failure =
          Fail(absl::Status(status.code(), absl::StrCat("cannot put the allocator's memory back "
                                                        "to its durable state: ",
                                                        status.message())));
      status = failure_;
    }
  }
  if (first_failure) on_store_failure_(status);
}

void GroupCommitter::Probe() {
  absl::Status status = store_->ProbeWrite();
  bool first_failure = false;
  std::string log_line;
  bool recovered = false;
  {
    absl::MutexLock lock(&mu_);
    busy_since_ = absl::InfiniteFuture();
    if (status.ok()) {
      full_ = absl::OkStatus();
      if (MayLog(&recovery_logged_at_)) {
        recovered = true;
        log_line = absl::StrCat("the state disk has space again (", store_->path(),
                                "): changes are accepted again; ", refused_in_episode_,
                                " were refused while it was full");
      }
      refused_in_episode_ = 0;
      refused_unlogged_ = 0;
    } else if (status.code() == absl::StatusCode::kResourceExhausted) {
      last_full_ = status;
      if (refused_unlogged_ > 0 && MayLog(&full_logged_at_)) {
        log_line =
            absl::StrCat(status.message(), "; still refusing changes: ", refused_unlogged_,
                         " refused since the last such line, ", refused_in_episode_, " in all");
        refused_unlogged_ = 0;
      }
    } else {
      first_failure = Fail(status);
      status = failure_;
    }
  }
  if (!log_line.empty()) {
    if (recovered) {
      spdlog::warn("{}", log_line);
    } else {
      spdlog::error("{}", log_line);
    }
  }
  if (first_failure) on_store_failure_(status);
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
  if (clock_->Now() - busy_since_ > stuck_after) {
    return absl::UnavailableError(absl::StrCat("a write to the state file has been running for ",
                                               absl::FormatDuration(clock_->Now() - busy_since_)));
  }
  return absl::OkStatus();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace berth::allocator
