// session_load: how much faster an assign from the warm pool is than a cold one (issue 5,
// acceptance 8). Runs allocator-svc and docker-svc (BoxHost, as the tests do) with two apps of
// the test box image: `warm-box`, whose pool docker-svc keeps full, and `cold-box`, which has no
// pool, so that its assign creates the box. Each round waits for the warm pool to be full, then
// times --warm_per_round assigns of warm-box (each must come from the pool) and
// --cold_per_round assigns of cold-box (each must be created), all over gRPC, and stops the
// assigned boxes. Targets: warm at least 20x faster than cold (medians), and the warm p99 under
// 20 ms. Needs dockerd and the test box image.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "bench/json_output.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/status_macros.h"
#include "testing_support/box_host.h"
#include "testing_support/grpc_call.h"

ABSL_FLAG(int32_t, rounds, 10, "rounds of warm and cold assigns");
ABSL_FLAG(int32_t, warm_per_round, 5, "assigns from the warm pool per round (= the pool size)");
ABSL_FLAG(int32_t, cold_per_round, 2, "cold assigns per round");
ABSL_FLAG(absl::Duration, refill_timeout, absl::Seconds(120),
          "how long a round waits for the warm pool to be full");
ABSL_FLAG(std::string, json_out, "", "also append the JSON lines to this file");

namespace {

using ::berth::bench::Today;

namespace v1 = ::berth::box::v1;
using ::berth::testing::BoxHost;
using ::berth::testing::BoxHostOptions;

// Says why the run failed; main's exit code. main returns it rather than exiting, so that the
// host (daemons and boxes) it has started is torn down on the way out.
int Fail(const std::string& message) {
  std::fprintf(stderr, "session_load: %s\n", message.c_str());
  return 1;
}


class SessionBench {
 public:
  // Session ids carry `run` (this process's id), so that boxes another run left behind never
  // share a name with this run's.
  SessionBench(BoxHost& host, int pool, std::string run)
      : host_(host), pool_(pool), run_(std::move(run)) {}

  int Waiting(const std::string& app) {
    v1::ListRequest filter;
    filter.set_state(v1::BOX_STATE_WAITING);
    filter.set_app(app);
    absl::StatusOr<std::vector<v1::Box>> boxes = host_.boxes().List(filter);
    return boxes.ok() ? static_cast<int>(boxes->size()) : -1;
  }

  absl::Status WaitForFullPool() {
    const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_refill_timeout);
    while (Waiting("warm-box") < pool_) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError("the warm pool was not refilled in time");
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::OkStatus();
  }

  // One assign; its latency in ns. An error when it fails or does not come from where it must.
  absl::StatusOr<int64_t> TimedAssign(const std::string& app, const std::string& user,
                                      bool want_pool) {
    v1::AssignRequest request;
    request.set_app(app);
    request.set_user_id(user);
    request.set_session_id(absl::StrCat("session-", run_, "-", user));
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::AssignResponse> assigned = berth::testing::CallWithDeadline(
        &v1::Boxes::Stub::Assign, &host_.boxes().stub(), request, absl::Seconds(90));
    const int64_t ns = absl::ToInt64Nanoseconds(absl::Now() - start);
    if (!assigned.ok()) {
      return absl::Status(assigned.status().code(),
                          absl::StrCat("assign ", app, ": ", assigned.status().message()));
    }
    assigned_.push_back(assigned->box().box_id());
    if (assigned->from_pool() != want_pool) {
      return absl::InternalError(absl::StrCat("assign of ", app, " came ",
                                              assigned->from_pool() ? "from" : "not from",
                                              " the pool"));
    }
    return ns;
  }

  absl::Status StopAssigned() {
    for (const std::string& box_id : assigned_) {
      if (absl::StatusOr<v1::StopResponse> stopped = host_.boxes().Stop(box_id); !stopped.ok()) {
        return absl::Status(stopped.status().code(),
                            absl::StrCat("stop ", box_id, ": ", stopped.status().message()));
      }
    }
    assigned_.clear();
    return absl::OkStatus();
  }

  // Drains the host (its pool stops refilling and its WAITING boxes are stopped), then stops
  // every box left and waits until docker-svc holds none (its Host report counts the boxes
  // still being created too, which List does not show yet). Run on success and failure alike:
  // a failed run leaves no box behind.
  absl::Status StopAll() {
    absl::StatusOr<v1::DrainResponse> drained = berth::testing::CallWithDeadline(
        &v1::Boxes::Stub::Drain, &host_.boxes().stub(), v1::DrainRequest(), absl::Seconds(30));
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (absl::Now() < deadline) {
      absl::StatusOr<std::vector<v1::Box>> boxes = host_.boxes().List();
      absl::StatusOr<v1::HostResponse> report = berth::testing::CallWithDeadline(
          &v1::Boxes::Stub::Host, &host_.boxes().stub(), v1::HostRequest(), absl::Seconds(10));
      if (boxes.ok() && boxes->empty() && report.ok() && report->boxes() == 0) {
        if (drained.ok()) return absl::OkStatus();
        return absl::Status(drained.status().code(),
                            absl::StrCat("drain: ", drained.status().message()));
      }
      if (boxes.ok()) {
        for (const v1::Box& box : *boxes) host_.boxes().Stop(box.box_id()).IgnoreError();
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return absl::DeadlineExceededError("boxes were left running");
  }

 private:
  BoxHost& host_;
  const int pool_;
  const std::string run_;
  std::vector<std::string> assigned_;
};

std::string Summary(const char* kind, const berth::bench::LatencySummary& s, size_t n) {
  return absl::StrFormat("%-5s n=%3d  p50 %8.2f  p90 %8.2f  p99 %8.2f  max %8.2f ms", kind,
                         static_cast<int>(n), s.p50, s.p90, s.p99, s.max);
}

std::string SummaryJson(const berth::bench::LatencySummary& s, size_t n) {
  return absl::StrFormat(R"({"n":%d,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f})",
                         static_cast<int>(n), s.p50, s.p90, s.p99, s.max, s.mean);
}

// The rounds: each waits for a full pool, times the warm then the cold assigns and stops the
// boxes assigned. Appends each latency (ns) to `warm` and `cold`.
absl::Status RunRounds(SessionBench& bench, int pool, std::vector<int64_t>& warm,
                       std::vector<int64_t>& cold) {
  int user = 0;
  for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
    RETURN_IF_ERROR(bench.WaitForFullPool());
    absl::SleepFor(absl::Milliseconds(200));  // let the last refill's writes settle
    for (int i = 0; i < pool; ++i) {
      ASSIGN_OR_RETURN(const int64_t ns,
                       bench.TimedAssign("warm-box", absl::StrCat("u", ++user), true));
      warm.push_back(ns);
    }
    for (int i = 0; i < absl::GetFlag(FLAGS_cold_per_round); ++i) {
      ASSIGN_OR_RETURN(const int64_t ns,
                       bench.TimedAssign("cold-box", absl::StrCat("u", ++user), false));
      cold.push_back(ns);
    }
    RETURN_IF_ERROR(bench.StopAssigned());
    std::printf("round %2d: warm last %.2f ms, cold last %.1f ms\n", round, warm.back() / 1e6,
                cold.back() / 1e6);
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Berth session_load: warm-pool assign against cold assign");
  absl::ParseCommandLine(argc, argv);
  const int pool = absl::GetFlag(FLAGS_warm_per_round);
  if (pool < 1 || absl::GetFlag(FLAGS_rounds) < 1 || absl::GetFlag(FLAGS_cold_per_round) < 1) {
    return Fail("--rounds, --warm_per_round and --cold_per_round must be at least 1");
  }
  if (absl::Status ready = berth::testing::CheckDockerAndTestImage(); !ready.ok()) {
    return Fail(ready.ToString());
  }
  berth::bench::Output out(absl::GetFlag(FLAGS_json_out));

  BoxHostOptions options;
  options.port_count = 4 * (pool + absl::GetFlag(FLAGS_cold_per_round)) * 4 + 64;
  options.profiles["warm-box"] = berth::testing::TestBoxProfileAs("warm-box");
  options.profiles["cold-box"] = berth::testing::TestBoxProfileAs("cold-box");
  options.docker_svc_flags = {absl::StrCat("--warm_pool=warm-box=", pool)};
  BoxHost host(options);
  if (!host.ok().ok()) return Fail(host.ok().ToString());
  if (absl::Status started = host.Start(); !started.ok()) return Fail(started.ToString());

  SessionBench bench(host, pool, std::to_string(getpid()));
  std::vector<int64_t> warm, cold;
  const absl::Status rounds = RunRounds(bench, pool, warm, cold);
  const absl::Status stopped = bench.StopAll();
  // Returning (not exiting) lets `host` stop the daemons on the way out.
  if (!rounds.ok()) return Fail(rounds.ToString());
  if (!stopped.ok()) return Fail(stopped.ToString());

  const berth::bench::LatencySummary w = berth::bench::SummarizeLatencies(warm, 1e6);
  const berth::bench::LatencySummary c = berth::bench::SummarizeLatencies(cold, 1e6);
  const double speedup = w.p50 > 0 ? c.p50 / w.p50 : 0;
  std::printf("\n%s\n%s\n", Summary("warm", w, warm.size()).c_str(),
              Summary("cold", c, cold.size()).c_str());
  std::printf(
      "cold / warm (medians) = %.1f x: target >= 20 x %s; warm p99 %.2f ms: target < 20 ms %s\n",
      speedup, speedup >= 20 ? "MET" : "NOT MET", w.p99, w.p99 < 20 ? "MET" : "NOT MET");
  out.Json(absl::StrFormat(
      R"({"bench":"session_load","date":"%s","warm_ms":%s,"cold_ms":%s,"speedup":%.2f,)"
      R"("speedup_target_met":%s,"warm_p99_target_met":%s})",
      Today(), SummaryJson(w, warm.size()), SummaryJson(c, cold.size()), speedup,
      speedup >= 20 ? "true" : "false", w.p99 < 20 ? "true" : "false"));
  return 0;
}
