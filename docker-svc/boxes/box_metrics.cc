#include "docker-svc/boxes/box_metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace berth::docker {
namespace {

using box::v1::BoxState;

// A box's steps take from a fraction of a second (create) to minutes (an app's readiness, a
// stop's grace).
const prometheus::Histogram::BucketBoundaries& SecondsBuckets() {
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return *buckets;
}

// The states a made box is in.
constexpr BoxState kStates[] = {box::v1::BOX_STATE_WAITING, box::v1::BOX_STATE_ALLOCATED,
                                box::v1::BOX_STATE_CONNECTING, box::v1::BOX_STATE_RUNNING,
                                box::v1::BOX_STATE_DYING};

// "running" for BOX_STATE_RUNNING.
std::string StateLabel(BoxState state) {
  absl::string_view name = box::v1::BoxState_Name(state);
  absl::ConsumePrefix(&name, "BOX_STATE_");
  return absl::AsciiStrToLower(name);
}

// Every label StopReasonLabel() gives, and every operation ObservedDockerClient names.
constexpr const char* kStopReasons[] = {"requested",
                                        "ttl",
                                        "died",
                                        "oom",
                                        "removed",
                                        "disk",
                                        "drain",
                                        "unready",
                                        "config_timeout",
                                        "box_shutdown",
                                        "broken_mapping_dir",
                                        "detached",
                                        "other"};
constexpr const char* kDockerOperations[] = {
    "ping",    "version", "create",     "start",        "stop",          "kill",  "remove",
    "inspect", "list",    "list_sizes", "list_volumes", "remove_volume", "events"};

}  // namespace

BoxMetrics::BoxMetrics(prometheus::Registry& registry)
    : boxes_(prometheus::BuildGauge()
                 .Name("berth_boxes")
                 .Help("Boxes on this host by app and state (once their create is done).")
                 .Register(registry)),
      create_seconds_(prometheus::BuildHistogram()
                          .Name("berth_box_create_seconds")
                          .Help("Time a create took to make its box (lease, container, start, "
                                "mapping files), by app.")
                          .Register(registry)),
      ready_seconds_(prometheus::BuildHistogram()
                         .Name("berth_box_ready_seconds")
                         .Help("Time from a box's create to its readiness marker, by app.")
                         .Register(registry)),
      stop_seconds_(prometheus::BuildHistogram()
                        .Name("berth_box_stop_seconds")
                        .Help("Time a box's teardown took (stop grace included), by app.")
                        .Register(registry)),
      ready_failures_(prometheus::BuildCounter()
                          .Name("berth_box_ready_failures_total")
                          .Help("Boxes stopped because they did not become ready in time, by "
                                "app.")
                          .Register(registry)),
      stops_(prometheus::BuildCounter()
                 .Name("berth_box_stops_total")
                 .Help("Box teardowns begun, by reason (requested: a caller's stop).")
                 .Register(registry)),
      assigns_(prometheus::BuildCounter()
                   .Name("berth_box_assigns_total")
                   .Help("Sessions assigned, by app and whether the box came from the warm "
                         "pool.")
                   .Register(registry)),
      api_errors_(prometheus::BuildCounter()
                      .Name("berth_docker_api_errors_total")
                      .Help("Calls of the Docker engine that failed, by operation.")
                      .Register(registry)),
      event_stream_up_(prometheus::BuildGauge()
                           .Name("berth_docker_event_stream_up")
                           .Help("1 while the Docker event stream is open, else 0.")
                           .Register(registry)
                           .Add({})),
      event_stream_reconnects_(prometheus::BuildCounter()
                                   .Name("berth_docker_event_stream_reconnects_total")
                                   .Help("Times the Docker event stream was resumed after it "
                                         "broke.")
                                   .Register(registry)
                                   .Add({})),
      resync_repairs_(prometheus::BuildCounter()
                          .Name("berth_docker_resync_repairs_total")
                          .Help("Drift the periodic resync repaired: boxes ended, containers "
                                "and volumes removed, leases reconciled.")
                          .Register(registry)
                          .Add({})),
      warm_pool_target_(prometheus::BuildGauge()
                            .Name("berth_warm_pool_target")
                            .Help("WAITING boxes the warm pool keeps of an app.")
                            .Register(registry)),
      warm_pool_waiting_(prometheus::BuildGauge()
                             .Name("berth_warm_pool_waiting")
                             .Help("WAITING boxes without a user of an app now.")
                             .Register(registry)),
      host_draining_(prometheus::BuildGauge()
                         .Name("berth_host_draining")
                         .Help("1 while the host drains or is drained, 0 while it serves.")
                         .Register(registry)
                         .Add({})) {
  for (const char* reason : kStopReasons) stops_.Add({{"reason", reason}});
  for (const char* operation : kDockerOperations) api_errors_.Add({{"operation", operation}});
}

BoxMetrics::AppSeries& BoxMetrics::App(const std::string& app) {
  auto [it, added] = apps_.try_emplace(app);
  AppSeries& series = it->second;
  if (!added) return series;
  const prometheus::Labels labels = {{"app", app}};
  series.create = &create_seconds_.Add(labels, SecondsBuckets());
  series.ready = &ready_seconds_.Add(labels, SecondsBuckets());
  series.stop = &stop_seconds_.Add(labels, SecondsBuckets());
  series.ready_failures = &ready_failures_.Add(labels);
  series.from_pool = &assigns_.Add({{"app", app}, {"from_pool", "true"}});
  series.cold = &assigns_.Add({{"app", app}, {"from_pool", "false"}});
  series.waiting = &warm_pool_waiting_.Add(labels);
  series.target = &warm_pool_target_.Add(labels);
  for (BoxState state : kStates) {
    series.boxes[state] = &boxes_.Add({{"app", app}, {"state", StateLabel(state)}});
  }
  return series;
}

void BoxMetrics::AddApps(const std::vector<std::string>& apps) {
  absl::MutexLock lock(&mu_);
  for (const std::string& app : apps) App(app);
}

void BoxMetrics::Created(const std::string& app, absl::Duration took) {
  absl::MutexLock lock(&mu_);
  App(app).create->Observe(absl::ToDoubleSeconds(took));
}

void BoxMetrics::Ready(const std::string& app, absl::Duration took) {
  absl::MutexLock lock(&mu_);
  App(app).ready->Observe(absl::ToDoubleSeconds(took));
}

void BoxMetrics::StopBegan(const std::string& app, const char* reason_label) {
  stops_.Add({{"reason", reason_label}}).Increment();
  if (absl::string_view(reason_label) != "unready") return;
  absl::MutexLock lock(&mu_);
  App(app).ready_failures->Increment();
}

void BoxMetrics::Stopped(const std::string& app, absl::Duration took) {
  absl::MutexLock lock(&mu_);
  App(app).stop->Observe(absl::ToDoubleSeconds(took));
}

void BoxMetrics::Assigned(const std::string& app, bool from_pool) {
  absl::MutexLock lock(&mu_);
  AppSeries& series = App(app);
  (from_pool ? series.from_pool : series.cold)->Increment();
}

void BoxMetrics::DockerApiFailed(const char* operation) {
  api_errors_.Add({{"operation", operation}}).Increment();
}

void BoxMetrics::EventStreamUp(bool up) { event_stream_up_.Set(up ? 1 : 0); }

void BoxMetrics::EventStreamReconnected() { event_stream_reconnects_.Increment(); }

void BoxMetrics::Repaired(int repairs) {
  if (repairs > 0) resync_repairs_.Increment(repairs);
}

void BoxMetrics::SetWarmPoolTarget(const std::string& app, int target) {
  absl::MutexLock lock(&mu_);
  App(app).target->Set(target);
}

void BoxMetrics::SetCensus(const BoxCensus& census) {
  absl::MutexLock lock(&mu_);
  for (auto& [app, series] : apps_) {
    for (auto& [state, gauge] : series.boxes) gauge->Set(0);
    series.waiting->Set(0);
  }
  for (const auto& [key, count] : census.boxes) {
    AppSeries& series = App(key.first);
    auto gauge = series.boxes.find(key.second);
    if (gauge != series.boxes.end()) gauge->second->Set(count);
  }
  for (const auto& [app, count] : census.waiting) App(app).waiting->Set(count);
  host_draining_.Set(census.draining ? 1 : 0);
}

}  // namespace berth::docker
