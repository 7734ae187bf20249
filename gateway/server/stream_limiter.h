#ifndef BERTH_GATEWAY_SERVER_STREAM_LIMITER_H_
#define BERTH_GATEWAY_SERVER_STREAM_LIMITER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/auth/jwt_verifier.h"

namespace berth::gateway {

// How many event streams (GET /v1/events) may be open at once. Each one holds a docker-svc
// thread for as long as it runs.
struct StreamLimits {
  int per_user = 4;  // for each end user (token subject)
  int backend = 16;  // for every backend token together
  int total = 128;   // for everyone (docker-svc serves 256 watches, operators' too)
};

// The limit a stream was refused by, named as its flag.
enum class StreamCap { kMaxStreams, kMaxStreamsPerUser, kMaxBackendStreams };
const char* StreamCapName(StreamCap cap);

// Counts open event streams against StreamLimits. Thread-safe.
class StreamLimiter : public std::enable_shared_from_this<StreamLimiter> {
 public:
  // Holds one stream's place until destroyed. Move-only.
  class Slot {
   public:
    Slot(Slot&& other) noexcept = default;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }
    void Release();

   private:
    friend class StreamLimiter;
    Slot(std::shared_ptr<StreamLimiter> limiter, std::string owner)
        : limiter_(std::move(limiter)), owner_(std::move(owner)) {}
    std::shared_ptr<StreamLimiter> limiter_;  // null once moved from
    std::string owner_;
  };

  explicit StreamLimiter(StreamLimits limits) : limits_(limits) {}

  // A place for one more stream of `caller`, or RESOURCE_EXHAUSTED saying which limit it is
  // over (also set in `*refused_by`).
  absl::StatusOr<Slot> Acquire(const Caller& caller, StreamCap* refused_by);

  int open() const;

 private:
  void Release(const std::string& owner);

  const StreamLimits limits_;
  mutable absl::Mutex mu_;
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  // Streams by owner: "user:<sub>", or "backend" for every backend token.
  absl::flat_hash_map<std::string, int> by_owner_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_STREAM_LIMITER_H_
