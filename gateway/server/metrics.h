#ifndef BERTH_GATEWAY_SERVER_METRICS_H_
#define BERTH_GATEWAY_SERVER_METRICS_H_

#include <array>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "gateway/http/connection_limiter.h"
#include "gateway/server/stream_limiter.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace berth::gateway {

// The gateway's Prometheus metrics, in a common::Metrics registry (served on the HTTPS port's
// /metrics and on --metrics_listen):
//   berth_gateway_requests_total{route,code}               counter
//   berth_gateway_request_duration_seconds{route}          histogram
//   berth_gateway_requests_in_flight                       gauge
//   berth_gateway_backend_errors_total{backend,code}       counter (gRPC code names)
//   berth_gateway_connections_open                         gauge
//   berth_gateway_connections_refused_total{cap}           counter (max_connections,
//                                                          max_connections_per_ip)
//   berth_gateway_unauthenticated_timeouts_total           counter
//   berth_gateway_tls_handshake_errors_total               counter
//   berth_gateway_auth_failures_total{reason}              counter (AuthFailureReason())
//   berth_gateway_streams_open                             gauge (GET /v1/events)
//   berth_gateway_streams_refused_total{cap}               counter (max_streams,
//                                                          max_streams_per_user,
//                                                          max_backend_streams)
//   berth_gateway_streams_expired_total                    counter (ended at the token's exp)
//   berth_gateway_readiness_checks_total                   counter (backend checks of /readyz)
// `route` is the route's template ("GET /v1/boxes/{box_id}"), never the raw path, so that the
// label set stays small. A request costs a shared lock and a hash lookup of its route and
// status (once their series exist) and atomic adds. Thread-safe.
class Metrics final : public ConnectionObserver {
 public:
  Metrics();

  void RequestStarted() { in_flight_.Increment(); }
  void RequestFinished(const std::string& route, int http_status, absl::Duration latency);
  void BackendError(const std::string& backend, const std::string& code);
  // A request's token was refused; `reason` is AuthFailureReason()'s ("" counts as malformed).
  void AuthFailed(absl::string_view reason);

  // ConnectionObserver:
  void ConnectionOpened() override { connections_open_.Increment(); }
  void ConnectionClosed() override { connections_open_.Decrement(); }
  void ConnectionRefused(Refusal why) override;
  void UnauthenticatedConnectionTimedOut() override { unauthenticated_timeouts_.Increment(); }
  void TlsHandshakeFailed() override { tls_handshake_errors_.Increment(); }

  void StreamOpened() { streams_open_.Increment(); }
  // `expired`: ended because its token's exp passed.
  void StreamClosed(bool expired);
  void StreamRefused(StreamCap cap);

  // /readyz asked the backends (once for all the /readyz requests it answers).
  void ReadinessChecked() { readiness_checks_.Increment(); }

  // Every metric in the text exposition format.
  std::string Render() const { return metrics_.Serialize(); }
  // The registry, to serve on --metrics_listen too.
  common::Metrics& exposition() { return metrics_; }

 private:
  // A route's series: its latency histogram and its counters by HTTP status.
  struct RouteSeries {
    prometheus::Histogram* duration = nullptr;
    absl::flat_hash_map<int, prometheus::Counter*> by_status;
  };
  // The histogram and counter of `route` and `http_status`, made on first use.
  std::pair<prometheus::Histogram*, prometheus::Counter*> Series(const std::string& route,
                                                                 int http_status);

  common::Metrics metrics_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Gauge& in_flight_;
  prometheus::Family<prometheus::Counter>& backend_errors_;
  prometheus::Family<prometheus::Counter>& auth_failures_;
  prometheus::Gauge& connections_open_;
  prometheus::Family<prometheus::Counter>& connections_refused_;
  prometheus::Counter& refused_over_total_;
  prometheus::Counter& refused_over_per_ip_;
  prometheus::Counter& unauthenticated_timeouts_;
  prometheus::Counter& tls_handshake_errors_;
  prometheus::Gauge& streams_open_;
  prometheus::Family<prometheus::Counter>& streams_refused_;
  std::array<prometheus::Counter*, 3> streams_refused_by_cap_{};  // by StreamCap
  prometheus::Counter& streams_expired_;
  prometheus::Counter& readiness_checks_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<RouteSeries>> routes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_METRICS_H_
