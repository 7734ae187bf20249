#ifndef BERTH_COMMON_CLOCK_H_
#define BERTH_COMMON_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace berth::common {

// Wall-clock time, injected wherever logic depends on it so tests can control it.
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace berth::common

#endif  // BERTH_COMMON_CLOCK_H_
