#include "gateway/server/metrics.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::gateway {
namespace {

// Request latencies: a cached GET answers in well under a millisecond; a create waits for
// Docker.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
  return *buckets;
}

// The reasons AuthFailureReason() gives, shown from zero.
constexpr const char* kAuthFailureReasons[] = {
    "missing",       "malformed",    "bad_algorithm",  "bad_signature",  "expired",
    "not_yet_valid", "wrong_issuer", "wrong_audience", "forbidden_scope"};

template <typename Builder>
auto& Register(Builder builder, const char* name, const char* help,
               prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

Metrics::Metrics()
    : requests_(Register(prometheus::BuildCounter(), "berth_gateway_requests_total",
                         "HTTP requests answered, by route and status.", metrics_.registry())),
      duration_(Register(prometheus::BuildHistogram(), "berth_gateway_request_duration_seconds",
                         "Time from a request's arrival to its answer.", metrics_.registry())),
      in_flight_(Register(prometheus::BuildGauge(), "berth_gateway_requests_in_flight",
                          "Requests being answered now.", metrics_.registry())
                     .Add({})),
      backend_errors_(Register(prometheus::BuildCounter(), "berth_gateway_backend_errors_total",
                               "Failed calls to the backends, by gRPC code.", metrics_.registry())),
      auth_failures_(Register(prometheus::BuildCounter(), "berth_gateway_auth_failures_total",
                              "Requests whose token was refused, by reason.", metrics_.registry())),
      connections_open_(Register(prometheus::BuildGauge(), "berth_gateway_connections_open",
                                 "TCP connections held now.", metrics_.registry())
                            .Add({})),
      connections_refused_(
          Register(prometheus::BuildCounter(), "berth_gateway_connections_refused_total",
                   "Connections closed as soon as accepted, by the cap they were over.",
                   metrics_.registry())),
      refused_over_total_(connections_refused_.Add({{"cap", "max_connections"}})),
      refused_over_per_ip_(connections_refused_.Add({{"cap", "max_connections_per_ip"}})),
      unauthenticated_timeouts_(
          Register(prometheus::BuildCounter(), "berth_gateway_unauthenticated_timeouts_total",
                   "Connections closed for sending no authenticated request in time.",
                   metrics_.registry())
              .Add({})),
      tls_handshake_errors_(
          Register(prometheus::BuildCounter(), "berth_gateway_tls_handshake_errors_total",
                   "Connections whose TLS handshake failed (not TLS, refused, hung up or timed "
                   "out).",
                   metrics_.registry())
              .Add({})),
      streams_open_(Register(prometheus::BuildGauge(), "berth_gateway_streams_open",
                             "Event streams open now.", metrics_.registry())
                        .Add({})),
      streams_refused_(Register(prometheus::BuildCounter(), "berth_gateway_streams_refused_total",
                                "Event streams refused, by the cap they were over.",
                                metrics_.registry())),
      streams_expired_(Register(prometheus::BuildCounter(), "berth_gateway_streams_expired_total",
                                "Event streams ended because their token expired.",
                                metrics_.registry())
                           .Add({})),
      readiness_checks_(
          Register(prometheus::BuildCounter(), "berth_gateway_readiness_checks_total",
                   "Checks of the backends made for /readyz (each answers the /readyz "
                   "requests of up to a second).",
                   metrics_.registry())
              .Add({})) {
  for (StreamCap cap :
       {StreamCap::kMaxStreams, StreamCap::kMaxStreamsPerUser, StreamCap::kMaxBackendStreams}) {
    streams_refused_by_cap_[static_cast<size_t>(cap)] =
        &streams_refused_.Add({{"cap", StreamCapName(cap)}});
  }
  for (const char* reason : kAuthFailureReasons) auth_failures_.Add({{"reason", reason}});
}

std::pair<prometheus::Histogram*, prometheus::Counter*> Metrics::Series(const std::string& route,
                                                                        int http_status) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = routes_.find(route);
    if (it != routes_.end()) {
      auto counter = it->second->by_status.find(http_status);
      if (counter != it->second->by_status.end()) {
        return {it->second->duration, counter->second};
      }
    }
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<RouteSeries>& series = routes_[route];
  if (series == nullptr) {
    series = std::make_unique<RouteSeries>();
    series->duration = &duration_.Add({{"route", route}}, LatencyBuckets());
  }
  prometheus::Counter*& counter = series->by_status[http_status];
  if (counter == nullptr) {
    counter = &requests_.Add({{"route", route}, {"code", absl::StrCat(http_status)}});
  }
  return {series->duration, counter};
}

void Metrics::RequestFinished(const std::string& route, int http_status, absl::Duration latency) {
  in_flight_.Decrement();
  auto [duration, requests] = Series(route, http_status);
  requests->Increment();
  duration->Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::ConnectionRefused(Refusal why) {
  (why == Refusal::kMaxConnections ? refused_over_total_ : refused_over_per_ip_).Increment();
}

void Metrics::StreamClosed(bool expired) {
  streams_open_.Decrement();
  if (expired) streams_expired_.Increment();
}

void Metrics::StreamRefused(StreamCap cap) {
  streams_refused_by_cap_[static_cast<size_t>(cap)]->Increment();
}

void Metrics::BackendError(const std::string& backend, const std::string& code) {
  backend_errors_.Add({{"backend", backend}, {"code", code}}).Increment();
}

void Metrics::AuthFailed(absl::string_view reason) {
  auth_failures_.Add({{"reason", reason.empty() ? "malformed" : std::string(reason)}}).Increment();
}

}  // namespace berth::gateway
