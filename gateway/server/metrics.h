#ifndef BERTH_GATEWAY_SERVER_METRICS_H_
#define BERTH_GATEWAY_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/http/connection_limiter.h"
#include "gateway/server/stream_limiter.h"

namespace berth::gateway {

// The gateway's Prometheus metrics, rendered in the text exposition format:
//   berth_gateway_requests_total{route,code}               counter
//   berth_gateway_request_duration_seconds{route}          histogram
//   berth_gateway_requests_in_flight                       gauge
//   berth_gateway_backend_errors_total{backend,code}       counter (gRPC code names)
//   berth_gateway_connections_open                         gauge
//   berth_gateway_connections_refused_total{cap}           counter (max_connections,
//                                                          max_connections_per_ip)
//   berth_gateway_unauthenticated_timeouts_total           counter
//   berth_gateway_streams_open                             gauge (GET /v1/events)
//   berth_gateway_streams_refused_total{cap}               counter (max_streams,
//                                                          max_streams_per_user,
//                                                          max_backend_streams)
//   berth_gateway_streams_expired_total                    counter (ended at the token's exp)
//   berth_gateway_readiness_checks_total                   counter (backend checks of /readyz)
// `route` is the route's template ("GET /v1/boxes/{box_id}"), never the raw path, so that the
// label set stays small. Thread-safe.
class Metrics final : public ConnectionObserver {
 public:
  void RequestStarted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void RequestFinished(const std::string& route, int http_status, absl::Duration latency);
  void BackendError(const std::string& backend, const std::string& code);

  // ConnectionObserver:
  void ConnectionOpened() override { connections_open_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() override { connections_open_.fetch_sub(1, std::memory_order_relaxed); }
  void ConnectionRefused(Refusal why) override;
  void UnauthenticatedConnectionTimedOut() override {
    unauthenticated_timeouts_.fetch_add(1, std::memory_order_relaxed);
  }

  void StreamOpened() { streams_open_.fetch_add(1, std::memory_order_relaxed); }
  // `expired`: ended because its token's exp passed.
  void StreamClosed(bool expired);
  void StreamRefused(StreamCap cap);

  // /readyz asked the backends (once for all the /readyz requests it answers).
  void ReadinessChecked() { readiness_checks_.fetch_add(1, std::memory_order_relaxed); }

  std::string Render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };

  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> connections_open_{0};
  std::atomic<uint64_t> refused_over_total_{0};
  std::atomic<uint64_t> refused_over_per_ip_{0};
  std::atomic<uint64_t> unauthenticated_timeouts_{0};
  std::atomic<int64_t> streams_open_{0};
  std::array<std::atomic<uint64_t>, 3> streams_refused_{};  // by StreamCap
  std::atomic<uint64_t> streams_expired_{0};
  std::atomic<uint64_t> readiness_checks_{0};
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Histogram> latency_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> backend_errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_METRICS_H_
