#ifndef BERTH_COMMON_METRICS_H_
#define BERTH_COMMON_METRICS_H_

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace berth::common {

// A daemon's Prometheus metrics: one prometheus::Registry in which the daemon's parts register
// their metric families, served as the text exposition format 0.0.4 over plain HTTP
// (`GET /metrics` on --metrics_listen, by prometheus-cpp's Exposer) and rendered by
// Serialize() for whoever serves it otherwise (the gateway's HTTPS /metrics).
//
// A value that is cheaper to compute when asked than to keep up to date (how many boxes a
// table holds by state, say) is set by a scrape hook: a function that runs before each
// collection and sets gauges of the registry. Hooks run one at a time, on the thread that
// collects (an HTTP server thread, or Serialize()'s caller), so they may take the locks of
// what they count; they must not call back into this object.
// Thread-safe.
class Metrics {
 public:
  Metrics();
  // Stops serving before anything else goes.
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }

  // Serves `GET /metrics` on `listen` ("IPV4:PORT", see ValidateMetricsListen) on threads of
  // its own until destruction; "" serves nothing. INVALID_ARGUMENT for a malformed value,
  // UNAVAILABLE (saying why, e.g. the address is in use) when it cannot listen there,
  // FAILED_PRECONDITION when it serves already.
  absl::Status Serve(const std::string& listen);
  // The TCP port served; 0 when not serving.
  int port() const;

  // Every metric in the text exposition format 0.0.4, the scrape hooks run first.
  std::string Serialize() const;

  // Keeps a scrape hook registered while it lives; its destructor waits for a run of the hook
  // under way. Move-only.
  class ScrapeHook {
   public:
    ScrapeHook() = default;
    ScrapeHook(ScrapeHook&& other) noexcept;
    ScrapeHook& operator=(ScrapeHook&& other) noexcept;
    ~ScrapeHook() { Reset(); }
    // Unregisters the hook (a no-op when it holds none).
    void Reset();

   private:
    friend class Metrics;
    ScrapeHook(Metrics* metrics, uint64_t id) : metrics_(metrics), id_(id) {}
    Metrics* metrics_ = nullptr;
    uint64_t id_ = 0;
  };
  // Runs `update` before every collection until the returned hook is destroyed, which must
  // happen before this object's destruction.
  [[nodiscard]] ScrapeHook OnScrape(std::function<void()> update);

 private:
  class Collector;
  // Runs the hooks, then collects the registry.
  std::vector<prometheus::MetricFamily> Collect() const;
  void RemoveHook(uint64_t id);

  const std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex hooks_mu_;
  std::map<uint64_t, std::function<void()>> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  uint64_t next_hook_id_ ABSL_GUARDED_BY(hooks_mu_) = 1;
  // What the Exposer collects: this object's Collect().
  const std::shared_ptr<Collector> collector_;
  mutable absl::Mutex exposer_mu_;
  sockaddr_in served_ ABSL_GUARDED_BY(exposer_mu_) = {};
  // Last: destroyed (its threads stopped) first.
  std::unique_ptr<prometheus::Exposer> exposer_ ABSL_GUARDED_BY(exposer_mu_);
};

// Checks a --metrics_listen value: "" (metrics are not served) or "IPV4:PORT" with a dotted
// IPv4 address (127.0.0.1 for this host only, 0.0.0.0 for every interface) and a port in
// 1-65535. INVALID_ARGUMENT naming the flag and saying what is wrong.
absl::Status ValidateMetricsListen(const std::string& value);

}  // namespace berth::common

#endif  // BERTH_COMMON_METRICS_H_
