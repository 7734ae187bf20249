#include "docker-svc/engine/docker_client.h"

#include <utility>

namespace berth::docker {

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (wake_) wake_();
}

bool Cancellation::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void Cancellation::SetWaker(std::function<void()> wake) {
  absl::MutexLock lock(&mu_);
  wake_ = std::move(wake);
  if (cancelled_ && wake_) wake_();
}

}  // namespace berth::docker
