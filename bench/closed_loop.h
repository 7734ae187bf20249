#ifndef BERTH_BENCH_CLOSED_LOOP_H_
#define BERTH_BENCH_CLOSED_LOOP_H_

// Closed-loop gRPC callers on the callback API (stub->async()) and what goes with them, shared by
// the load generators allocator_load and gateway_load: their window, the no-op caller, their
// channels, the lists of N they sweep and the summary of their latencies. The number of callers
// is not bounded by client threads: every caller runs on gRPC's callback threads once started.
// Every loop stops by itself at the end of its window and every call carries a deadline.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace berth::bench {

// The shared clock of one measurement and the count of its callers that have stopped.
//
// Contract: calls that start before `measure_start` are warm-up (not measured); no caller starts
// an iteration at or after `measure_end`. Each of the `callers` callers calls CallerDone()
// exactly once, when its loop has stopped; after WaitAllDone() returned true no caller touches
// the window or its own results again, so both may be read and then destroyed. Thread-safe.
class Window {
 public:
  using Clock = std::chrono::steady_clock;

  // The measured part starts `lead_in` from now (the callers' warm-up) and lasts `duration`.
  Window(absl::Duration lead_in, absl::Duration duration, int callers);
  const Clock::time_point measure_start;
  const Clock::time_point measure_end;

  void CallerDone();
  // True once all callers are done; false if `timeout` passed first.
  bool WaitAllDone(absl::Duration timeout);

 private:
  const int callers_;
  absl::Mutex mu_;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
};

// One caller: a closed loop of iterations, each a fixed sequence of `steps` calls, every call
// started from the previous one's callback, so one call at a time.
//
// Contract: a subclass implements StartStep(), which starts call `step` of iteration
// `iteration` (counted from 1) on `context` and makes `done` run exactly once with the call's
// status (a subclass may turn an OK status into an error after checking the response). A failed
// call ends its iteration; the next iteration starts with step 0. Every call has a deadline of
// kCallTimeout. Once Start() was called the caller runs on gRPC's callback threads until it
// sees the window's end, then calls Window::CallerDone(); its results may be read only after
// Window::WaitAllDone() returned true, and the caller must outlive that.
//
// Results:
//   latency_ns(step)  latencies of the successful calls of `step` that started at or after
//                     measure_start (with Record::kInsideWindow: and ended by measure_end).
//   completed()       iterations that started at or after measure_start and whose last call
//                     ended by measure_end.
//   errors(step)      failed calls of `step`, warm-up included.
//   first_error()     "<code> <message>" of the first failed call ("" if none), and
//   first_error_step()  its step (-1 if none).
class Caller {
 public:
  using Clock = Window::Clock;
  using Done = std::function<void(grpc::Status)>;

  static constexpr std::chrono::seconds kCallTimeout{30};

  // Which successful calls of the window have their latency recorded. In a closed loop only
  // a caller's last call can end after measure_end.
  enum class Record {
    kStartedInWindow,  // every call started at or after measure_start
    kInsideWindow,     // of those, the calls that also ended by measure_end
  };

  // `expected_calls`: latencies per step to reserve room for up front (so that the measured
  // window seldom grows a vector).
  Caller(Window* window, int steps, Record record, size_t expected_calls);
  virtual ~Caller() = default;
  Caller(const Caller&) = delete;
  Caller& operator=(const Caller&) = delete;

  void Start() { Next(); }

  const std::vector<int64_t>& latency_ns(int step) const { return latency_ns_[step]; }
  uint64_t errors(int step) const { return errors_[step]; }
  uint64_t completed() const { return completed_; }
  const std::string& first_error() const { return first_error_; }
  int first_error_step() const { return first_error_step_; }

 protected:
  // Starts call `step` of iteration `iteration` with `context`; `done` must run exactly once.
  virtual void StartStep(int step, uint64_t iteration, grpc::ClientContext* context, Done done) = 0;

 private:
  void Next();
  void OnDone(const grpc::Status& status);

  Window* const window_;
  const int steps_;
  const Record record_;
  std::unique_ptr<grpc::ClientContext> contexts_[2];
  uint64_t call_seq_ = 0;
  int step_ = 0;
  uint64_t iteration_ = 0;
  Clock::time_point iteration_start_;
  Clock::time_point call_start_;
  std::vector<std::vector<int64_t>> latency_ns_;
  std::vector<uint64_t> errors_;
  uint64_t completed_ = 0;
  std::string first_error_;
  int first_error_step_ = -1;
};

// The no-op workload, the ceiling of the gRPC stack, the socket and the client with no service
// work: one grpc.health.v1.Health/Check an iteration on `stub`, which must outlive the caller.
class NoopCaller final : public Caller {
 public:
  NoopCaller(Window* window, grpc::health::v1::Health::Stub* stub, Record record,
             size_t expected_calls)
      : Caller(window, 1, record, expected_calls), stub_(stub) {}

 protected:
  void StartStep(int step, uint64_t iteration, grpc::ClientContext* context, Done done) override;

 private:
  grpc::health::v1::Health::Stub* const stub_;
  grpc::health::v1::HealthCheckRequest request_;
  grpc::health::v1::HealthCheckResponse response_;
};

// A channel to `address` with a connection of its own, connected; an error ("cannot connect to
// <address>") if it did not connect within 10 s. Without a local subchannel pool, channels to the
// same target with the same arguments share one connection and "several channels" means nothing.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectChannel(const std::string& address);

// The comma-separated positive integers of flag --`flag` (the sweep's numbers of callers,
// channels, connections); an error naming the flag if one is not a positive integer or there
// is none.
absl::StatusOr<std::vector<int>> ParseIntList(const std::string& text, const char* flag);

// Nearest-rank percentiles, maximum and mean of a set of latencies, all in one unit.
struct LatencySummary {
  size_t count = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// Summarizes latencies `ns` given in nanoseconds, in units of `ns_per_unit` nanoseconds (1e3
// for microseconds, 1e6 for milliseconds). All zero when `ns` is empty.
LatencySummary SummarizeLatencies(std::vector<int64_t> ns, double ns_per_unit);

// The median of `v` (the mean of the two middle values for an even count); 0 when empty.
double Median(std::vector<double> v);

}  // namespace berth::bench

#endif  // BERTH_BENCH_CLOSED_LOOP_H_
