#ifndef BERTH_DOCKER_SVC_BOXES_BOX_METRICS_H_
#define BERTH_DOCKER_SVC_BOXES_BOX_METRICS_H_

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace berth::docker {

// What the box table holds at one moment (BoxManager::Census()).
struct BoxCensus {
  // Boxes by app and state (once made: a box whose create runs has no state yet).
  std::map<std::pair<std::string, box::v1::BoxState>, int> boxes;
  // WAITING boxes without a user, by app: what an assign takes from the warm pool.
  std::map<std::string, int> waiting;
  // Draining or drained.
  bool draining = false;
};

// docker-svc's Prometheus metrics (README, Metrics), registered in `registry`:
//   berth_boxes{app,state}                        gauge  state: waiting, allocated, connecting,
//                                                        running, dying
//   berth_box_create_seconds{app}                 histogram  a create's steps, made boxes only
//   berth_box_ready_seconds{app}                  histogram  from created_at to its readiness
//   berth_box_stop_seconds{app}                   histogram  a teardown, from its start to gone
//   berth_box_ready_failures_total{app}           counter  boxes stopped for not being ready
//   berth_box_stops_total{reason}                 counter  teardowns begun (StopReasonLabel)
//   berth_box_assigns_total{app,from_pool}        counter  sessions assigned, true/false
//   berth_docker_api_errors_total{operation}      counter  failed engine calls (NOT_FOUND is an
//                                                          answer, not an error)
//   berth_docker_event_stream_up                  gauge  1 while the event stream is open
//   berth_docker_event_stream_reconnects_total    counter  the stream resumed after a break
//   berth_docker_resync_repairs_total             counter  drift a resync repaired
//   berth_warm_pool_target{app}, berth_warm_pool_waiting{app}  gauges
//   berth_host_draining                           gauge  1 while draining or drained
// Labels are bounded: apps are the catalog's (and those of boxes a restart adopted), never a
// box, user or session id. Thread-safe.
class BoxMetrics {
 public:
  explicit BoxMetrics(prometheus::Registry& registry);
  BoxMetrics(const BoxMetrics&) = delete;
  BoxMetrics& operator=(const BoxMetrics&) = delete;

  // Makes every per-app series of `apps` (at zero), so that they show before their first event.
  void AddApps(const std::vector<std::string>& apps);

  void Created(const std::string& app, absl::Duration took);
  void Ready(const std::string& app, absl::Duration took);
  // A teardown began; `reason_label` is StopReasonLabel()'s.
  void StopBegan(const std::string& app, const char* reason_label);
  void Stopped(const std::string& app, absl::Duration took);
  void Assigned(const std::string& app, bool from_pool);
  // A call of the engine failed (`operation`: ObservedDockerClient's names).
  void DockerApiFailed(const char* operation);
  void EventStreamUp(bool up);
  void EventStreamReconnected();
  void Repaired(int repairs);
  void SetWarmPoolTarget(const std::string& app, int target);
  // The gauges of the box table (a scrape hook sets them): every (app, state) seen before and
  // not in `census` goes to 0.
  void SetCensus(const BoxCensus& census);

 private:
  // The series of each app, made once.
  struct AppSeries {
    prometheus::Histogram* create = nullptr;
    prometheus::Histogram* ready = nullptr;
    prometheus::Histogram* stop = nullptr;
    prometheus::Counter* ready_failures = nullptr;
    prometheus::Counter* from_pool = nullptr;
    prometheus::Counter* cold = nullptr;
    prometheus::Gauge* waiting = nullptr;
    prometheus::Gauge* target = nullptr;
    std::map<box::v1::BoxState, prometheus::Gauge*> boxes;
  };
  AppSeries& App(const std::string& app) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  prometheus::Family<prometheus::Gauge>& boxes_;
  prometheus::Family<prometheus::Histogram>& create_seconds_;
  prometheus::Family<prometheus::Histogram>& ready_seconds_;
  prometheus::Family<prometheus::Histogram>& stop_seconds_;
  prometheus::Family<prometheus::Counter>& ready_failures_;
  prometheus::Family<prometheus::Counter>& stops_;
  prometheus::Family<prometheus::Counter>& assigns_;
  prometheus::Family<prometheus::Counter>& api_errors_;
  prometheus::Gauge& event_stream_up_;
  prometheus::Counter& event_stream_reconnects_;
  prometheus::Counter& resync_repairs_;
  prometheus::Family<prometheus::Gauge>& warm_pool_target_;
  prometheus::Family<prometheus::Gauge>& warm_pool_waiting_;
  prometheus::Gauge& host_draining_;

  absl::Mutex mu_;
  std::map<std::string, AppSeries> apps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_BOX_METRICS_H_
