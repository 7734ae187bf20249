#ifndef BERTH_TESTS_PROMETHEUS_SERVER_H_
#define BERTH_TESTS_PROMETHEUS_SERVER_H_

// A real Prometheus server (Debian's `prometheus`, 2.42) as a child process of a test, run with
// the shipped deploy/prometheus/ files, and its HTTP API read through the curl CLI.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {

// Where the daemons of a test serve their metrics ("HOST:PORT" each, as --metrics_listen).
struct ScrapeTargets {
  std::string allocator;
  std::string docker;
  std::string gateway;
};

// The shipped deploy/prometheus/berth.yml with only its targets (the ports of the shipped flag
// files) replaced by `targets`. Fails when a shipped target does not occur exactly once.
absl::StatusOr<std::string> BerthScrapeConfigFor(const ScrapeTargets& targets);

// One sample of an instant vector.
struct PromSample {
  std::map<std::string, std::string> labels;  // __name__ included when the result has one
  double value = 0;
};
// "name{a="1",b="2"} 3" per sample, for failure messages.
std::string DescribeSamples(const std::vector<PromSample>& samples);

class PrometheusServer {
 public:
  // Writes `config` as berth.yml into `dir`, next to a copy of the shipped berth-rules.yml (which
  // it names), and starts `prometheus` on it on a free loopback port with its storage in
  // `dir`/data and its log in `dir`/prometheus.log; returns once /-/ready answers 200.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::string& dir, const std::string& config,
      absl::Duration timeout = absl::Seconds(60));
  ~PrometheusServer();  // SIGKILLs the server when it still runs
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::string base_url() const;
  std::string Log() const;

  // GET `path` of the HTTP API ("/api/v1/rules"); the body of a 200, else an error with it.
  absl::StatusOr<std::string> Get(const std::string& path) const;
  // An instant query at the current time (/api/v1/query); fails unless it is a vector.
  absl::StatusOr<std::vector<PromSample>> Query(const std::string& promql) const;

 private:
  PrometheusServer() = default;
  uint16_t port_ = 0;
  std::string log_path_;
  std::unique_ptr<DaemonProcess> process_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_PROMETHEUS_SERVER_H_
