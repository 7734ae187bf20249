#include "gateway/server/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace berth::gateway {
namespace {

// A label value with \, " and newlines escaped, as the text format requires.
std::string Label(const std::string& value) {
  return absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

}  // namespace

void Metrics::RequestFinished(const std::string& route, int http_status, absl::Duration latency) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  const double seconds = absl::ToDoubleSeconds(latency);
  absl::MutexLock lock(&mu_);
  ++requests_[{route, http_status}];
  Histogram& histogram = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++histogram.counts[i];
  }
  ++histogram.count;
  histogram.sum += seconds;
}

void Metrics::ConnectionRefused(Refusal why) {
  (why == Refusal::kMaxConnections ? refused_over_total_ : refused_over_per_ip_)
      .fetch_add(1, std::memory_order_relaxed);
}

void Metrics::StreamClosed(bool expired) {
  streams_open_.fetch_sub(1, std::memory_order_relaxed);
  if (expired) streams_expired_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::StreamRefused(StreamCap cap) {
  streams_refused_[static_cast<size_t>(cap)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::BackendError(const std::string& backend, const std::string& code) {
  absl::MutexLock lock(&mu_);
  ++backend_errors_[{backend, code}];
}

std::string Metrics::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out,
                  "# HELP berth_gateway_requests_total HTTP requests answered, by route and "
                  "status.\n# TYPE berth_gateway_requests_total counter\n");
  for (const auto& [key, count] : requests_) {
    absl::StrAppend(&out, "berth_gateway_requests_total{route=\"", Label(key.first),
                    "\",code=\"", key.second, "\"} ", count, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP berth_gateway_request_duration_seconds Time from a request's arrival "
                  "to its answer.\n# TYPE berth_gateway_request_duration_seconds histogram\n");
  for (const auto& [route, histogram] : latency_) {
    const std::string label = Label(route);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      absl::StrAppend(&out, "berth_gateway_request_duration_seconds_bucket{route=\"", label,
                      "\",le=\"", kBuckets[i], "\"} ", histogram.counts[i], "\n");
    }
    absl::StrAppend(&out, "berth_gateway_request_duration_seconds_bucket{route=\"", label,
                    "\",le=\"+Inf\"} ", histogram.count, "\n");
    absl::StrAppend(&out, "berth_gateway_request_duration_seconds_sum{route=\"", label, "\"} ",
                    histogram.sum, "\n");
    absl::StrAppend(&out, "berth_gateway_request_duration_seconds_count{route=\"", label, "\"} ",
                    histogram.count, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP berth_gateway_requests_in_flight Requests being answered now.\n"
                  "# TYPE berth_gateway_requests_in_flight gauge\nberth_gateway_requests_in_flight ",
                  in_flight_.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(&out,
                  "# HELP berth_gateway_backend_errors_total Failed calls to the backends, by "
                  "gRPC code.\n# TYPE berth_gateway_backend_errors_total counter\n");
  for (const auto& [key, count] : backend_errors_) {
    absl::StrAppend(&out, "berth_gateway_backend_errors_total{backend=\"", Label(key.first),
                    "\",code=\"", Label(key.second), "\"} ", count, "\n");
  }
  constexpr auto kRelaxed = std::memory_order_relaxed;
  absl::StrAppend(
      &out,
      "# HELP berth_gateway_connections_open TCP connections held now.\n"
      "# TYPE berth_gateway_connections_open gauge\nberth_gateway_connections_open ",
      connections_open_.load(kRelaxed), "\n",
      "# HELP berth_gateway_connections_refused_total Connections closed as soon as accepted, "
      "by the cap they were over.\n# TYPE berth_gateway_connections_refused_total counter\n"
      "berth_gateway_connections_refused_total{cap=\"max_connections\"} ",
      refused_over_total_.load(kRelaxed), "\n",
      "berth_gateway_connections_refused_total{cap=\"max_connections_per_ip\"} ",
      refused_over_per_ip_.load(kRelaxed), "\n");
  absl::StrAppend(
      &out,
      "# HELP berth_gateway_unauthenticated_timeouts_total Connections closed for sending no "
      "authenticated request in time.\n"
      "# TYPE berth_gateway_unauthenticated_timeouts_total counter\n"
      "berth_gateway_unauthenticated_timeouts_total ",
      unauthenticated_timeouts_.load(kRelaxed), "\n");
  absl::StrAppend(
      &out,
      "# HELP berth_gateway_streams_open Event streams open now.\n"
      "# TYPE berth_gateway_streams_open gauge\nberth_gateway_streams_open ",
      streams_open_.load(kRelaxed), "\n",
      "# HELP berth_gateway_streams_refused_total Event streams refused, by the cap they were "
      "over.\n# TYPE berth_gateway_streams_refused_total counter\n");
  for (StreamCap cap : {StreamCap::kMaxStreams, StreamCap::kMaxStreamsPerUser,
                        StreamCap::kMaxBackendStreams}) {
    absl::StrAppend(&out, "berth_gateway_streams_refused_total{cap=\"", StreamCapName(cap),
                    "\"} ", streams_refused_[static_cast<size_t>(cap)].load(kRelaxed), "\n");
  }
  absl::StrAppend(
      &out,
      "# HELP berth_gateway_streams_expired_total Event streams ended because their token "
      "expired.\n# TYPE berth_gateway_streams_expired_total counter\n"
      "berth_gateway_streams_expired_total ",
      streams_expired_.load(kRelaxed), "\n");
  absl::StrAppend(
      &out,
      "# HELP berth_gateway_readiness_checks_total Checks of the backends made for /readyz "
      "(each answers the /readyz requests of up to a second).\n"
      "# TYPE berth_gateway_readiness_checks_total counter\n"
      "berth_gateway_readiness_checks_total ",
      readiness_checks_.load(kRelaxed), "\n");
  return out;
}

}  // namespace berth::gateway
