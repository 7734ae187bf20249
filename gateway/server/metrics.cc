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
  return out;
}

}  // namespace berth::gateway
