#include "bench/closed_loop.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace berth::bench {

Window::Window(absl::Duration lead_in, absl::Duration duration, int callers)
    : measure_start(Clock::now() + absl::ToChronoNanoseconds(lead_in)),
      measure_end(measure_start + absl::ToChronoNanoseconds(duration)),
      callers_(callers) {}

void Window::CallerDone() {
  absl::MutexLock lock(&mu_);
  ++done_;
}

bool Window::WaitAllDone(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ == callers_; };
  return mu_.AwaitWithTimeout(absl::Condition(&all_done), timeout);
}

Caller::Caller(Window* window, int steps, Record record, size_t expected_calls)
    : window_(window), steps_(steps), record_(record), latency_ns_(steps), errors_(steps, 0) {
  for (auto& v : latency_ns_) v.reserve(expected_calls);
}

void Caller::Next() {
  const Clock::time_point now = Clock::now();
  if (step_ == 0) {
    if (now >= window_->measure_end) {
      window_->CallerDone();
      return;
    }
    ++iteration_;
    iteration_start_ = now;
  }
  // Two contexts used in turn, so a context is never destroyed inside its own callback.
  std::unique_ptr<grpc::ClientContext>& context = contexts_[call_seq_++ & 1];
  context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  call_start_ = now;
  StartStep(step_, iteration_, context.get(), [this](grpc::Status status) { OnDone(status); });
}

void Caller::OnDone(const grpc::Status& status) {
  const Clock::time_point end = Clock::now();
  if (status.ok()) {
    if (call_start_ >= window_->measure_start &&
        (record_ == Record::kStartedInWindow || end <= window_->measure_end)) {
      latency_ns_[step_].push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(end - call_start_).count());
    }
    if (++step_ == steps_) {
      step_ = 0;
      if (iteration_start_ >= window_->measure_start && end <= window_->measure_end) {
        ++completed_;
      }
    }
  } else {
    ++errors_[step_];
    if (first_error_step_ < 0) {
      first_error_step_ = step_;
      first_error_ = absl::StrCat(status.error_code(), " ", status.error_message());
    }
    step_ = 0;
  }
  Next();
}

void NoopCaller::StartStep(int, uint64_t, grpc::ClientContext* context, Done done) {
  stub_->async()->Check(context, &request_, &response_, std::move(done));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  return channel;
}

absl::StatusOr<std::vector<int>> ParseIntList(const std::string& text, const char* flag) {
  std::vector<int> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int value = 0;
    if (!absl::SimpleAtoi(part, &value) || value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": \"", part, "\" is not a positive integer"));
    }
    values.push_back(value);
  }
  if (values.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  return values;
}

LatencySummary SummarizeLatencies(std::vector<int64_t> ns, double ns_per_unit) {
  LatencySummary s;
  s.count = ns.size();
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double p) {
    size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(ns.size())));
    rank = std::clamp<size_t>(rank, 1, ns.size());
    return static_cast<double>(ns[rank - 1]) / ns_per_unit;
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.max = static_cast<double>(ns.back()) / ns_per_unit;
  long double sum = 0;
  for (int64_t v : ns) sum += v;
  s.mean = static_cast<double>(sum / ns.size()) / ns_per_unit;
  return s;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace berth::bench
