#include "gateway/server/stream_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::gateway {

const char* StreamCapName(StreamCap cap) {
  switch (cap) {
    case StreamCap::kMaxStreams:
      return "max_streams";
    case StreamCap::kMaxStreamsPerUser:
      return "max_streams_per_user";
    case StreamCap::kMaxBackendStreams:
      return "max_backend_streams";
  }
  return "?";
}

StreamLimiter::Slot& StreamLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::move(other.limiter_);
    owner_ = std::move(other.owner_);
  }
  return *this;
}

void StreamLimiter::Slot::Release() {
  if (limiter_ == nullptr) return;
  std::shared_ptr<StreamLimiter> limiter = std::move(limiter_);
  limiter_ = nullptr;
  limiter->Release(owner_);
}

absl::StatusOr<StreamLimiter::Slot> StreamLimiter::Acquire(const Caller& caller,
                                                           StreamCap* refused_by) {
  std::string owner = caller.backend ? "backend" : absl::StrCat("user:", caller.subject);
  const int cap = caller.backend ? limits_.backend : limits_.per_user;
  absl::MutexLock lock(&mu_);
  if (open_ >= limits_.total) {
    *refused_by = StreamCap::kMaxStreams;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the gateway already serves its ", limits_.total, " event streams; try again later"));
  }
  int& of_owner = by_owner_[owner];
  if (of_owner >= cap) {
    *refused_by = caller.backend ? StreamCap::kMaxBackendStreams : StreamCap::kMaxStreamsPerUser;
    return absl::ResourceExhaustedError(
        absl::StrCat(caller.backend ? "the backend" : "this user", " already has ", cap,
                     " event streams open, the most allowed; end one first"));
  }
  ++of_owner;
  ++open_;
  return Slot(shared_from_this(), std::move(owner));
}

int StreamLimiter::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

void StreamLimiter::Release(const std::string& owner) {
  absl::MutexLock lock(&mu_);
  --open_;
  auto it = by_owner_.find(owner);
  if (it != by_owner_.end() && --it->second <= 0) by_owner_.erase(it);
}

}  // namespace berth::gateway
