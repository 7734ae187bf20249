// allocator_load: a closed-loop load generator for a real allocator-svc, and a restart-to-ready
// timer.
//
// It starts the allocator-svc binary built alongside it (state file and socket in a fresh
// temporary directory) and measures, against that one daemon and socket:
//
//   pairs     N callers, each in a closed loop: Reserve(3 TCP + 1 UDP "any" host ports, tty)
//             then Release of the same box. One Reserve + Release = one pair.
//   noop      N callers, each in a closed loop: grpc.health.v1.Health/Check. The ceiling: what
//             the gRPC stack, the unix socket and this client cost with no allocator work.
//   capacity  N callers calling berth.allocator.v1.Allocator/Capacity: a read through the
//             allocator's own callback service and lock, no store write. Shows how much of the
//             gap between noop and pairs is the service path rather than the state file.
//
// for every N of --callers and every channel count of --channels, then the time from fork/exec
// to READY=1 of a restart on a state file holding --restart_leases leases, after SIGTERM and
// after SIGKILL. Prints tables, and one JSON object per measurement on a line of its own
// (also appended to --json_out).
//
// Calls use gRPC's callback API (stub->async()), so the number of callers is not bounded by
// client threads. Every loop stops by itself at the end of its window; every call carries a
// deadline.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "bench/json_output.h"
#include "bench/proc_stats.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "testing_support/daemon_process.h"
#include "testing_support/notify_socket.h"

ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "measured window of each load run");
ABSL_FLAG(absl::Duration, warmup, absl::Milliseconds(500),
          "closed-loop warm-up before each measured window (not counted)");
ABSL_FLAG(std::string, callers, "1,16,64", "numbers of concurrent callers, comma-separated");
ABSL_FLAG(std::string, channels, "1,4",
          "numbers of gRPC channels (= connections) the callers share, comma-separated; caller i "
          "uses channel i % C; a count above N is capped at N");
ABSL_FLAG(std::string, workloads, "noop,capacity,pairs",
          "load workloads to run for each N, in this order: noop, capacity, pairs");
ABSL_FLAG(int32_t, rounds, 1, "how many times to run the whole load sweep");
ABSL_FLAG(bool, restart, true, "measure restart-to-ready with --restart_leases leases");
ABSL_FLAG(int32_t, restart_leases, 1000, "leases in the state file for the restart measurement");
ABSL_FLAG(int32_t, restart_rounds, 10, "restarts per stop signal (SIGTERM, SIGKILL)");
ABSL_FLAG(int32_t, churn_before_stop, 20,
          "Reserve+Release pairs made before each stop, so the stop finds recent writes");
ABSL_FLAG(std::string, db_dir, "",
          "directory for the daemon's state file (e.g. /dev/shm to take fsync cost out); "
          "default: the temporary directory under /tmp");
ABSL_FLAG(std::string, daemon, "", "allocator-svc binary; default: the one built in this tree");
ABSL_FLAG(std::string, daemon_args, "",
          "extra allocator-svc flags, comma-separated (e.g. --log_level=warn)");
ABSL_FLAG(std::string, json_out, "", "also append the JSON lines to this file");
ABSL_FLAG(std::string, pid_file, "",
          "write the daemon's pid here when it serves (to attach perf or strace)");
ABSL_FLAG(std::string, keep_log, "", "copy the daemon's log here at the end");

namespace berth::bench {
namespace {

using ::berth::bench::Today;

namespace v1 = ::berth::allocator::v1;
using grpc::health::v1::Health;
using Clock = std::chrono::steady_clock;
using berth::testing::NotifySocket;

// The running daemon and the directories to remove, for Die() (which skips destructors).
pid_t g_daemon_pid = -1;
std::vector<std::string> g_temp_dirs;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "allocator_load: FATAL: %s\n", message.c_str());
  std::fflush(stderr);
  if (g_daemon_pid > 0) kill(g_daemon_pid, SIGKILL);
  for (const std::string& dir : g_temp_dirs) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::_Exit(2);
}

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The value of `value_or`, or Die() with its error.
template <typename T>
T OrDie(absl::StatusOr<T> value_or) {
  if (!value_or.ok()) Die(std::string(value_or.status().message()));
  return *std::move(value_or);
}

// ---------------------------------------------------------------------------------------------
// Statistics.

// `s` in microseconds.
std::string SummaryJson(const LatencySummary& s) {
  return absl::StrFormat(
      R"({"count":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f,"mean":%.1f})", s.count, s.p50,
      s.p90, s.p99, s.max, s.mean);
}

// ---------------------------------------------------------------------------------------------
// Closed-loop callers on the callback API (bench/closed_loop.h).

// Every call started in the window has its latency recorded, even one that ends after it; an
// iteration counts only if it ended inside the window.
constexpr Caller::Record kRecord = Caller::Record::kStartedInWindow;
constexpr size_t kExpectedCalls = 1 << 14;  // per caller and step

// Fills `request` with the request every pair reserves: three TCP and one UDP container port
// (Whist's 32261-32263/tcp and 32273/udp), any host port, and a TTY.
void FillReserveRequest(const std::string& box_id, v1::ReserveRequest* request) {
  request->Clear();
  request->set_box_id(box_id);
  request->set_tty(true);
  for (uint32_t port : {32261u, 32262u, 32263u}) {
    v1::PortRequest* wanted = request->add_ports();
    wanted->set_container_port(port);
    wanted->set_protocol(v1::PROTOCOL_TCP);
  }
  v1::PortRequest* udp = request->add_ports();
  udp->set_container_port(32273);
  udp->set_protocol(v1::PROTOCOL_UDP);
}

class PairCaller final : public Caller {
 public:
  PairCaller(Window* window, v1::Allocator::Stub* stub, std::string prefix)
      : Caller(window, 2, kRecord, kExpectedCalls), stub_(stub), prefix_(std::move(prefix)) {}

 protected:
  void StartStep(int step, uint64_t iteration, grpc::ClientContext* context,
                 Done done) override {
    if (step == 0) {
      FillReserveRequest(absl::StrCat(prefix_, iteration), &reserve_);
      stub_->async()->Reserve(context, &reserve_, &reserved_,
                              [this, done = std::move(done)](grpc::Status status) {
                                if (status.ok() && !reserved_.created()) {
                                  status = grpc::Status(grpc::StatusCode::INTERNAL,
                                                        "Reserve of a fresh box id not created");
                                }
                                done(status);
                              });
    } else {
      release_.set_box_id(reserve_.box_id());
      stub_->async()->Release(context, &release_, &released_,
                              [this, done = std::move(done)](grpc::Status status) {
                                if (status.ok() && !released_.released()) {
                                  status = grpc::Status(grpc::StatusCode::INTERNAL,
                                                        "Release found no lease");
                                }
                                done(status);
                              });
    }
  }

 private:
  v1::Allocator::Stub* const stub_;
  const std::string prefix_;
  v1::ReserveRequest reserve_;
  v1::ReserveResponse reserved_;
  v1::ReleaseRequest release_;
  v1::ReleaseResponse released_;
};

class CapacityCaller final : public Caller {
 public:
  CapacityCaller(Window* window, v1::Allocator::Stub* stub)
      : Caller(window, 1, kRecord, kExpectedCalls), stub_(stub) {}

 protected:
  void StartStep(int, uint64_t, grpc::ClientContext* context, Done done) override {
    stub_->async()->Capacity(context, &request_, &response_, std::move(done));
  }

 private:
  v1::Allocator::Stub* const stub_;
  v1::CapacityRequest request_;
  v1::CapacityResponse response_;
};

// ---------------------------------------------------------------------------------------------
// Channels and measurements.

struct Measurement {
  std::string workload;  // noop | capacity | pairs
  int round = 0;
  int callers = 0;
  int channels = 0;
  double seconds = 0;
  uint64_t iterations = 0;
  std::vector<std::string> step_names;
  std::vector<LatencySummary> steps;  // microseconds
  uint64_t errors = 0;
  std::string first_error;
  double daemon_cpu_s = 0;
  double client_cpu_s = 0;
  double host_busy = 0;  // fraction of all host CPUs busy during the window
  // Daemon CPU by thread name: in allocator-svc the "allocator-svc" threads are main (asleep in
  // sigwait), the group committer and the reclaimer, "nexting_thread" and "default-executo" are
  // gRPC's.
  std::map<std::string, double> daemon_threads_s;

  // CPU of everything else on the host during the window, in % of one core.
  double other_cpu_pct() const {
    return std::max(0.0, 100 * (host_busy * std::thread::hardware_concurrency() -
                                (daemon_cpu_s + client_cpu_s) / seconds));
  }

  double rate() const { return seconds > 0 ? static_cast<double>(iterations) / seconds : 0; }
  // Daemon + client CPU per iteration, in microseconds.
  double cpu_us_per_op() const {
    return iterations ? 1e6 * (daemon_cpu_s + client_cpu_s) / static_cast<double>(iterations) : 0;
  }
};

// What pairs/s / noop/s would be on a host whose CPUs are saturated by this client and daemon
// alone: the ratio of their CPU costs per operation. Much less sensitive to other processes on
// the host than the throughput ratio (at N=1 the loop is latency-bound, so it overstates there).
double CpuRatio(const Measurement& pairs, const Measurement& noop) {
  const double pair_cpu = pairs.cpu_us_per_op();
  return pair_cpu > 0 ? noop.cpu_us_per_op() / pair_cpu : 0;
}

class Connections {
 public:
  Connections(std::string address, int count) {
    for (int i = 0; i < count; ++i) {
      channels_.push_back(OrDie(ConnectChannel(address)));
      allocator_.push_back(v1::Allocator::NewStub(channels_.back()));
      health_.push_back(Health::NewStub(channels_.back()));
    }
  }
  int size() const { return static_cast<int>(channels_.size()); }
  v1::Allocator::Stub* allocator(int caller) { return allocator_[caller % size()].get(); }
  Health::Stub* health(int caller) { return health_[caller % size()].get(); }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Allocator::Stub>> allocator_;
  std::vector<std::unique_ptr<Health::Stub>> health_;
};

Measurement Measure(const std::string& workload, int callers, Connections& connections,
                    pid_t daemon_pid, int round) {
  static std::atomic<int> run_counter{0};
  const int run_id = run_counter++;
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  Window window(absl::GetFlag(FLAGS_warmup), duration, callers);

  std::vector<std::unique_ptr<Caller>> all;
  Measurement m;
  m.workload = workload;
  m.round = round;
  m.callers = callers;
  m.channels = connections.size();
  for (int i = 0; i < callers; ++i) {
    if (workload == "pairs") {
      all.push_back(std::make_unique<PairCaller>(&window, connections.allocator(i),
                                                 absl::StrCat("b", run_id, "-c", i, "-")));
    } else if (workload == "noop") {
      all.push_back(std::make_unique<NoopCaller>(&window, connections.health(i), kRecord,
                                                 kExpectedCalls));
    } else if (workload == "capacity") {
      all.push_back(std::make_unique<CapacityCaller>(&window, connections.allocator(i)));
    } else {
      Die(absl::StrCat("unknown workload ", workload));
    }
  }
  m.step_names = workload == "pairs" ? std::vector<std::string>{"reserve", "release"}
                                     : std::vector<std::string>{workload};
  for (auto& caller : all) caller->Start();

  std::this_thread::sleep_until(window.measure_start);
  const double daemon_cpu0 = ProcessCpuSeconds(daemon_pid);
  const std::map<std::string, double> threads0 = ThreadCpuSeconds(daemon_pid);
  const double client_cpu0 = SelfCpuSeconds();
  const HostCpu host0 = ReadHostCpu();
  std::this_thread::sleep_until(window.measure_end);
  const double daemon_cpu1 = ProcessCpuSeconds(daemon_pid);
  const std::map<std::string, double> threads1 = ThreadCpuSeconds(daemon_pid);
  const double client_cpu1 = SelfCpuSeconds();
  const HostCpu host1 = ReadHostCpu();
  for (const auto& [name, seconds] : threads1) {
    auto before = threads0.find(name);
    m.daemon_threads_s[name] = seconds - (before == threads0.end() ? 0 : before->second);
  }
  if (!window.WaitAllDone(absl::Seconds(60))) {
    Die(absl::StrCat(workload, " with ", callers, " callers did not stop 60 s after its window"));
  }

  m.seconds = absl::ToDoubleSeconds(duration);
  m.daemon_cpu_s = daemon_cpu1 - daemon_cpu0;
  m.client_cpu_s = client_cpu1 - client_cpu0;
  m.host_busy = host1.total > host0.total
                    ? (host1.busy - host0.busy) / (host1.total - host0.total)
                    : 0;
  for (size_t step = 0; step < m.step_names.size(); ++step) {
    std::vector<int64_t> merged;
    for (auto& caller : all) {
      const auto& v = caller->latency_ns(static_cast<int>(step));
      merged.insert(merged.end(), v.begin(), v.end());
      m.errors += caller->errors(static_cast<int>(step));
    }
    m.steps.push_back(SummarizeLatencies(std::move(merged), 1e3));
  }
  for (auto& caller : all) {
    m.iterations += caller->completed();
    if (m.first_error.empty() && caller->first_error_step() >= 0) {
      m.first_error =
          absl::StrCat("step ", caller->first_error_step(), ": ", caller->first_error());
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Output.


std::string MeasurementJson(const Measurement& m, const std::string& db_kind) {
  std::string steps;
  for (size_t i = 0; i < m.steps.size(); ++i) {
    absl::StrAppend(&steps, i ? "," : "", "\"", m.step_names[i], "_us\":", SummaryJson(m.steps[i]));
  }
  const double per_op = m.iterations ? 1e6 / static_cast<double>(m.iterations) : 0;
  std::string threads;
  for (const auto& [name, seconds] : m.daemon_threads_s) {
    if (seconds <= 0) continue;
    absl::StrAppendFormat(&threads, "%s\"%s\":%.1f", threads.empty() ? "" : ",", name,
                          seconds * per_op);
  }
  return absl::StrFormat(
      R"({"bench":"allocator_load","date":"%s","workload":"%s","round":%d,"callers":%d,)"
      R"("channels":%d,"db":"%s","seconds":%.2f,"iterations":%d,"per_s":%.1f,%s,"errors":%d,)"
      R"("cpu_us_per_op":%.1f,"daemon_cpu_us_per_op":%.1f,"daemon_thread_cpu_us_per_op":{%s},)"
      R"("client_cpu_us_per_op":%.1f,"daemon_cpu_pct":%.1f,"client_cpu_pct":%.1f,)"
      R"("other_cpu_pct":%.1f,"host_busy_pct":%.1f,"cores":%d})",
      Today(), m.workload, m.round, m.callers, m.channels, db_kind, m.seconds, m.iterations,
      m.rate(), steps, m.errors, m.cpu_us_per_op(), m.daemon_cpu_s * per_op, threads,
      m.client_cpu_s * per_op,
      100 * m.daemon_cpu_s / m.seconds, 100 * m.client_cpu_s / m.seconds, m.other_cpu_pct(),
      100 * m.host_busy, static_cast<int>(std::thread::hardware_concurrency()));
}

void PrintLoadTable(const std::vector<Measurement>& all) {
  std::map<std::tuple<int, int, int>, std::map<std::string, const Measurement*>> rows;
  for (const Measurement& m : all) rows[{m.round, m.channels, m.callers}][m.workload] = &m;
  std::printf("\n%-5s %-4s %-4s | %8s %8s %8s %8s %8s | %8s %7s %7s | %8s %7s %7s | %6s %6s %5s | %6s %6s | %5s\n",
              "round", "chan", "N", "pairs/s", "rsv p50", "rsv p99", "rel p50", "rel p99",
              "noop/s", "p50", "p99", "cap/s", "p50", "p99", "ratio", "cpu-r", "cap%", "dCPU/p",
              "dCPU/n", "oth%");
  auto rate = [](const Measurement* m) {
    return m ? absl::StrFormat("%.0f", m->rate()) : std::string("-");
  };
  auto us = [](const Measurement* m, int step, bool p99) {
    if (!m) return std::string("-");
    return absl::StrFormat("%.0fus", p99 ? m->steps[step].p99 : m->steps[step].p50);
  };
  auto cpu = [](const Measurement* m) {
    if (!m || !m->iterations) return std::string("-");
    return absl::StrFormat("%.0fus", 1e6 * m->daemon_cpu_s / static_cast<double>(m->iterations));
  };
  for (const auto& [key, by] : rows) {
    const auto [round, channels, callers] = key;
    auto get = [&](const char* w) -> const Measurement* {
      auto it = by.find(w);
      return it == by.end() ? nullptr : it->second;
    };
    const Measurement* pairs = get("pairs");
    const Measurement* noop = get("noop");
    const Measurement* capacity = get("capacity");
    std::string ratio = "-";
    std::string cpu_ratio = "-";
    std::string cap_share = "-";
    if (noop && noop->rate() > 0) {
      if (pairs) ratio = absl::StrFormat("%.3f", pairs->rate() / noop->rate());
      if (pairs) cpu_ratio = absl::StrFormat("%.3f", CpuRatio(*pairs, *noop));
      if (capacity) cap_share = absl::StrFormat("%.0f%%", 100 * capacity->rate() / noop->rate());
    }
    double other = 0;
    for (const auto& [name, m] : by) other = std::max(other, m->other_cpu_pct());
    std::printf(
        "%-5d %-4d %-4d | %8s %8s %8s %8s %8s | %8s %7s %7s | %8s %7s %7s | %6s %6s %5s | %6s %6s "
        "| %5.0f\n",
        round, channels, callers, rate(pairs).c_str(), us(pairs, 0, false).c_str(),
        us(pairs, 0, true).c_str(), us(pairs, 1, false).c_str(), us(pairs, 1, true).c_str(),
        rate(noop).c_str(), us(noop, 0, false).c_str(), us(noop, 0, true).c_str(),
        rate(capacity).c_str(), us(capacity, 0, false).c_str(), us(capacity, 0, true).c_str(),
        ratio.c_str(), cpu_ratio.c_str(), cap_share.c_str(), cpu(pairs).c_str(),
        cpu(noop).c_str(), other);
  }
  std::printf(
      "ratio = pairs/s / noop/s at the same N and channel count; cpu-r = (daemon+client CPU per\n"
      "no-op call) / (daemon+client CPU per pair), the ratio a CPU-saturated host would show;\n"
      "cap%% = capacity/s / noop/s;\n"
      "dCPU/p, dCPU/n = daemon CPU (all threads) per pair / per no-op call; oth%% = CPU used by\n"
      "other processes on the host during the row's windows, in %% of one core (noise).\n");
}

// With several rounds: the median of every column over the rounds (the ratio is the median of
// the per-round ratios, each taken within one round).
void PrintMedianTable(const std::vector<Measurement>& all) {
  std::map<std::pair<int, int>, std::map<int, std::map<std::string, const Measurement*>>> groups;
  for (const Measurement& m : all) groups[{m.channels, m.callers}][m.round][m.workload] = &m;
  std::printf("\nmedians over rounds:\n%-4s %-4s %-6s | %8s %8s %8s %8s %8s | %8s %7s %7s | %6s %6s | %5s\n",
              "chan", "N", "rounds", "pairs/s", "rsv p50", "rsv p99", "rel p50", "rel p99",
              "noop/s", "p50", "p99", "ratio", "cpu-r", "oth%");
  for (const auto& [key, rounds] : groups) {
    std::vector<double> pairs, rsv50, rsv99, rel50, rel99, noop, n50, n99, ratio, cpu_ratio, other;
    for (const auto& [round, by] : rounds) {
      auto p = by.find("pairs");
      auto n = by.find("noop");
      if (p != by.end()) {
        pairs.push_back(p->second->rate());
        rsv50.push_back(p->second->steps[0].p50);
        rsv99.push_back(p->second->steps[0].p99);
        rel50.push_back(p->second->steps[1].p50);
        rel99.push_back(p->second->steps[1].p99);
        other.push_back(p->second->other_cpu_pct());
      }
      if (n != by.end()) {
        noop.push_back(n->second->rate());
        n50.push_back(n->second->steps[0].p50);
        n99.push_back(n->second->steps[0].p99);
        other.push_back(n->second->other_cpu_pct());
      }
      if (p != by.end() && n != by.end() && n->second->rate() > 0) {
        ratio.push_back(p->second->rate() / n->second->rate());
        cpu_ratio.push_back(CpuRatio(*p->second, *n->second));
      }
    }
    std::printf("%-4d %-4d %-6zu | %8.0f %6.0fus %6.0fus %6.0fus %6.0fus | %8.0f %5.0fus %5.0fus | %6.3f %6.3f | %5.0f\n",
                key.first, key.second, rounds.size(), Median(pairs), Median(rsv50), Median(rsv99),
                Median(rel50), Median(rel99), Median(noop), Median(n50), Median(n99),
                Median(ratio), Median(cpu_ratio), Median(other));
  }
}

// ---------------------------------------------------------------------------------------------
// The daemon and its readiness notification.

// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  size_t from = all.size() > lines ? all.size() - lines : 0;
  return absl::StrJoin(all.begin() + static_cast<std::ptrdiff_t>(from), all.end(), "\n");
}

// The text after the last "loaded " in the daemon log ("N leases from DB in T").
std::string LastLoadedLine(const std::string& path) {
  std::ifstream in(path);
  std::string found;
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find("]: loaded ");
    if (at != std::string::npos) found = line.substr(at + 3);
  }
  return found;
}

class Daemon {
 public:
  Daemon(const berth::testing::TempDir& dir, const std::string& db, NotifySocket* notify)
      : address_(absl::StrCat("unix:", dir.File("allocator.sock"))),
        log_(dir.File("allocator.log")),
        notify_(notify) {
    options_.binary = absl::GetFlag(FLAGS_daemon).empty()
                          ? berth::testing::DaemonBinary("allocator-svc")
                          : absl::GetFlag(FLAGS_daemon);
    options_.args = {"--listen=" + address_, "--db=" + db,
                     // Room for --restart_leases=1000 leases with a TTY each, plus the churn
                     // and load boxes made while they are held.
                     "--tty_range=10-1110", "--max_boxes=1100", "--gpus="};
    for (absl::string_view arg :
         absl::StrSplit(absl::GetFlag(FLAGS_daemon_args), ',', absl::SkipWhitespace())) {
      options_.args.emplace_back(arg);
    }
    options_.env = {"NOTIFY_SOCKET=" + notify->path()};
    options_.log_path = log_;
  }
  ~Daemon() { g_daemon_pid = -1; }

  const std::string& address() const { return address_; }
  const std::string& log() const { return log_; }
  const std::vector<std::string>& args() const { return options_.args; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // Starts the daemon and waits for READY=1; returns the time from fork to READY=1.
  Clock::duration Start() {
    notify_->SkipReceived();
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<berth::testing::DaemonProcess>> process =
        berth::testing::DaemonProcess::Start(options_);
    if (!process.ok()) Die(process.status().ToString());
    process_ = std::move(*process);
    g_daemon_pid = process_->pid();
    const pid_t pid = process_->pid();
    // Waits in slices so that a daemon that died is noticed at once.
    const absl::Time deadline = start + absl::Seconds(30);
    std::optional<absl::Time> ready_at;
    while (!ready_at && absl::Now() < deadline && ProcessAlive(pid)) {
      ready_at = notify_->WaitFor("READY=1", std::min(deadline, absl::Now() + absl::Milliseconds(50)));
    }
    if (!ready_at) {
      Die(absl::StrCat("allocator-svc sent no READY=1 within 30 s (", options_.binary,
                       "); its log:\n", Tail(log_, 30)));
    }
    const Clock::duration ready = absl::ToChronoNanoseconds(*ready_at - start);
    if (!absl::GetFlag(FLAGS_pid_file).empty()) {
      std::ofstream(absl::GetFlag(FLAGS_pid_file)) << pid << "\n";
    }
    return ready;
  }

  // SIGTERM; returns the time until the process exited (with code 0, or dies).
  Clock::duration Terminate() {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<int> code = process_->Terminate(absl::Seconds(30));
    if (!code.ok() || *code != 0) {
      Die(absl::StrCat("allocator-svc did not stop cleanly on SIGTERM: ",
                       code.ok() ? absl::StrCat("exit code ", *code) : code.status().ToString(),
                       "\n", Tail(log_, 20)));
    }
    process_.reset();
    g_daemon_pid = -1;
    return Clock::now() - start;
  }

  void Kill() {
    process_->Kill();
    process_.reset();
    g_daemon_pid = -1;
  }

 private:
  const std::string address_;
  const std::string log_;
  NotifySocket* const notify_;
  berth::testing::DaemonProcess::Options options_;
  std::unique_ptr<berth::testing::DaemonProcess> process_;
};

// ---------------------------------------------------------------------------------------------
// Restart-to-ready.

std::string LeaseBoxId(int i) { return absl::StrFormat("lease-%04d", i); }

std::unique_ptr<v1::Allocator::Stub> FreshStub(const std::string& address) {
  // A new channel each time: a channel that saw the daemon go away reconnects with back-off.
  return v1::Allocator::NewStub(OrDie(ConnectChannel(address)));
}

grpc::Status CallWithDeadline(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.set_wait_for_ready(true);
  return call(&context);
}

// Reserves `count` leases (3 TCP + 1 UDP + tty each) and binds every even-numbered one.
void Populate(const std::string& address, int count) {
  auto stub = FreshStub(address);
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::string first_failure;
  absl::Mutex mu;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < count; i += kThreads) {
        v1::ReserveRequest request;
        FillReserveRequest(LeaseBoxId(i), &request);
        v1::ReserveResponse response;
        grpc::Status status = CallWithDeadline(
            [&](grpc::ClientContext* c) { return stub->Reserve(c, request, &response); });
        if (status.ok() && i % 2 == 0) {
          v1::BindRequest bind;
          bind.set_box_id(LeaseBoxId(i));
          bind.set_container_id(absl::StrFormat("%064x", 0xc0ffee0000ULL + i));
          v1::BindResponse bound;
          status = CallWithDeadline(
              [&](grpc::ClientContext* c) { return stub->Bind(c, bind, &bound); });
        }
        if (!status.ok()) {
          ++failures;
          absl::MutexLock lock(&mu);
          if (first_failure.empty()) {
            first_failure = absl::StrCat(LeaseBoxId(i), ": ", status.error_message());
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  if (failures > 0) {
    Die(absl::StrCat(failures.load(), " of ", count, " leases could not be made; first: ",
                     first_failure));
  }
}

// Reserve+Release pairs, so that the state file has fresh writes when the daemon stops.
void Churn(const std::string& address, int pairs, int restart) {
  if (pairs <= 0) return;
  auto stub = FreshStub(address);
  for (int i = 0; i < pairs; ++i) {
    v1::ReserveRequest request;
    FillReserveRequest(absl::StrCat("churn-", restart, "-", i), &request);
    v1::ReserveResponse reserved;
    grpc::Status status = CallWithDeadline(
        [&](grpc::ClientContext* c) { return stub->Reserve(c, request, &reserved); });
    v1::ReleaseRequest release;
    release.set_box_id(request.box_id());
    v1::ReleaseResponse released;
    if (status.ok()) {
      status = CallWithDeadline(
          [&](grpc::ClientContext* c) { return stub->Release(c, release, &released); });
    }
    if (!status.ok()) Die(absl::StrCat("churn call failed: ", status.error_message()));
  }
}

// Fails loudly unless the daemon lists exactly the populated leases, half of them BOUND.
void VerifyLeases(const std::string& address, int count) {
  auto stub = FreshStub(address);
  v1::ListRequest request;
  v1::ListResponse response;
  grpc::Status status =
      CallWithDeadline([&](grpc::ClientContext* c) { return stub->List(c, request, &response); });
  if (!status.ok()) Die(absl::StrCat("List after restart failed: ", status.error_message()));
  int bound = 0;
  bool ids_match = response.leases_size() == count;
  for (int i = 0; ids_match && i < count; ++i) {
    const v1::Lease& lease = response.leases(i);
    ids_match = lease.box_id() == LeaseBoxId(i) && lease.ports_size() == 4 && lease.tty() >= 0;
    if (lease.state() == v1::LEASE_STATE_BOUND) ++bound;
  }
  const int want_bound = (count + 1) / 2;
  if (!ids_match || bound != want_bound) {
    Die(absl::StrCat("after restart List returned ", response.leases_size(), " leases (", bound,
                     " BOUND); expected exactly ", count, " (", want_bound,
                     " BOUND) with the populated box ids, 4 ports and a tty each"));
  }
}

struct RestartSample {
  double ready_ms = 0;   // fork -> READY=1
  double list_ms = 0;    // fork -> List answered (fresh channel) and verified
  double stop_ms = 0;    // SIGTERM -> exit (SIGTERM rounds only)
  std::string loaded;    // the daemon's own "loaded N leases ... in T" line
};

std::string MinMedMax(std::vector<double> v) {
  if (v.empty()) return "-";
  return absl::StrFormat("%.1f / %.1f / %.1f", *std::min_element(v.begin(), v.end()), Median(v),
                         *std::max_element(v.begin(), v.end()));
}

std::string MinMedMaxJson(const std::vector<double>& v) {
  if (v.empty()) return "null";
  return absl::StrFormat(R"({"min":%.2f,"median":%.2f,"max":%.2f,"samples":[%s]})",
                         *std::min_element(v.begin(), v.end()), Median(v),
                         *std::max_element(v.begin(), v.end()),
                         absl::StrJoin(v, ",", [](std::string* out, double x) {
                           absl::StrAppendFormat(out, "%.2f", x);
                         }));
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  using namespace berth::bench;  // NOLINT
  absl::SetProgramUsageMessage(
      "Closed-loop load (Reserve+Release pairs vs. no-op health checks) and restart-to-ready "
      "timing against a real allocator-svc");
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);

  const std::vector<int> callers = OrDie(ParseIntList(absl::GetFlag(FLAGS_callers), "callers"));
  const std::vector<int> channel_counts =
      OrDie(ParseIntList(absl::GetFlag(FLAGS_channels), "channels"));
  std::vector<std::string> workloads =
      absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipWhitespace());
  for (const std::string& w : workloads) {
    if (w != "noop" && w != "pairs" && w != "capacity") Die("unknown workload " + w);
  }

  berth::testing::TempDir dir;
  if (dir.path().empty()) Die("cannot create a temporary directory under /tmp");
  g_temp_dirs.push_back(dir.path());
  std::string db_dir = dir.path();
  std::string db_kind = "tmp";
  std::string made_db_dir;
  if (!absl::GetFlag(FLAGS_db_dir).empty()) {
    std::string pattern = absl::GetFlag(FLAGS_db_dir) + "/berth-benchXXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      Die(absl::StrCat("mkdtemp in ", absl::GetFlag(FLAGS_db_dir), ": ", std::strerror(errno)));
    }
    made_db_dir = db_dir = pattern;
    g_temp_dirs.push_back(made_db_dir);
    db_kind = absl::GetFlag(FLAGS_db_dir);
  }
  const std::string db = db_dir + "/allocator.db";
  {
    std::string fs;
    // Tell the reader what the state file sits on (fsync cost depends on it).
    std::ifstream mounts("/proc/mounts");
    size_t best = 0;
    for (std::string line; std::getline(mounts, line);) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f.size() > 2 && db_dir.rfind(f[1], 0) == 0 && f[1].size() >= best) {
        best = f[1].size();
        fs = f[2];
      }
    }
    db_kind = absl::StrCat(db_kind, ":", fs);
  }

  NotifySocket notify(dir.File("notify.sock"));
  if (!notify.ok()) Die(absl::StrCat("cannot bind the notify socket ", notify.path()));
  Output out(absl::GetFlag(FLAGS_json_out));
  int exit_code = 0;
  {
    Daemon daemon(dir, db, &notify);
    std::printf("# allocator_load %s: %u cores, state file %s (%s), daemon %s\n", Today().c_str(),
                std::thread::hardware_concurrency(), db.c_str(), db_kind.c_str(),
                absl::StrJoin(daemon.args(), " ").c_str());
    const Clock::duration first_ready = daemon.Start();
    std::printf("# first start (empty state file): READY=1 after %.1f ms\n", Millis(first_ready));

    // ---- Load.
    std::vector<Measurement> measurements;
    for (int round = 1; round <= absl::GetFlag(FLAGS_rounds) && !workloads.empty(); ++round) {
      for (int channel_count : channel_counts) {
        for (int n : callers) {
          const int effective = std::min(channel_count, n);
          // Several channels only mean something with several callers; a capped count that
          // repeats an earlier configuration is skipped.
          if (effective != channel_count &&
              std::find(channel_counts.begin(), channel_counts.end(), effective) !=
                  channel_counts.end()) {
            continue;
          }
          Connections connections(daemon.address(), effective);
          for (const std::string& workload : workloads) {
            Measurement m = Measure(workload, n, connections, daemon.pid(), round);
            out.Json(MeasurementJson(m, db_kind));
            if (m.errors > 0) {
              std::fprintf(stderr, "allocator_load: %s N=%d: %llu failed calls; first: %s\n",
                           workload.c_str(), n, static_cast<unsigned long long>(m.errors),
                           m.first_error.c_str());
              exit_code = 1;
            }
            measurements.push_back(std::move(m));
          }
        }
      }
    }
    if (!measurements.empty()) {
      PrintLoadTable(measurements);
      if (absl::GetFlag(FLAGS_rounds) > 1) PrintMedianTable(measurements);
      // The issue's targets, on the one-channel configuration at the largest N.
      const int top = *std::max_element(callers.begin(), callers.end());
      for (const Measurement& pairs : measurements) {
        if (pairs.workload != "pairs" || pairs.callers != top || pairs.channels != 1) continue;
        for (const Measurement& noop : measurements) {
          if (noop.workload != "noop" || noop.callers != top || noop.channels != 1 ||
              noop.round != pairs.round) {
            continue;
          }
          const double ratio = pairs.rate() / noop.rate();
          const double p99 = std::max(pairs.steps[0].p99, pairs.steps[1].p99);
          std::printf(
              "target (round %d, N=%d, 1 channel): pairs/s / noop/s = %.3f (>= 0.25: %s; CPU "
              "ratio %.3f), p99 max(reserve, release) = %.2f ms (< 5 ms: %s; no-op p99 %.2f ms)\n",
              pairs.round, top, ratio, ratio >= 0.25 ? "MET" : "MISSED", CpuRatio(pairs, noop),
              p99 / 1000, p99 < 5000 ? "MET" : "MISSED", noop.steps[0].p99 / 1000);
        }
      }
      std::fflush(stdout);
    }

    // ---- Restart-to-ready.
    if (absl::GetFlag(FLAGS_restart)) {
      const int leases = absl::GetFlag(FLAGS_restart_leases);
      const Clock::time_point populate_start = Clock::now();
      Populate(daemon.address(), leases);
      std::printf("\n# populated %d leases (%d BOUND) in %.0f ms\n", leases, (leases + 1) / 2,
                  Millis(Clock::now() - populate_start));
      VerifyLeases(daemon.address(), leases);
      int restart = 0;
      for (const char* signal_name : {"SIGTERM", "SIGKILL"}) {
        std::vector<RestartSample> samples;
        for (int i = 0; i < absl::GetFlag(FLAGS_restart_rounds); ++i) {
          Churn(daemon.address(), absl::GetFlag(FLAGS_churn_before_stop), restart++);
          RestartSample sample;
          if (std::string(signal_name) == "SIGTERM") {
            sample.stop_ms = Millis(daemon.Terminate());
          } else {
            daemon.Kill();
          }
          const Clock::time_point start = Clock::now();
          sample.ready_ms = Millis(daemon.Start());
          VerifyLeases(daemon.address(), leases);
          sample.list_ms = Millis(Clock::now() - start);
          sample.loaded = LastLoadedLine(daemon.log());
          samples.push_back(sample);
        }
        std::vector<double> ready, list, stop;
        for (const RestartSample& s : samples) {
          ready.push_back(s.ready_ms);
          list.push_back(s.list_ms);
          if (s.stop_ms > 0) stop.push_back(s.stop_ms);
        }
        out.Json(absl::StrFormat(
            R"({"bench":"allocator_load","date":"%s","workload":"restart","stop":"%s",)"
            R"("leases":%d,"db":"%s","ready_ms":%s,"list_verified_ms":%s,"stop_ms":%s,)"
            R"("daemon_says":"%s","cores":%d})",
            Today(), signal_name, leases, db_kind, MinMedMaxJson(ready), MinMedMaxJson(list),
            MinMedMaxJson(stop), samples.back().loaded,
            static_cast<int>(std::thread::hardware_concurrency())));
        std::printf(
            "restart after %s with %d leases (%zu runs), min / median / max:\n"
            "  fork -> READY=1            %s ms   (target < 300 ms: %s)\n"
            "  fork -> List verified      %s ms\n",
            signal_name, leases, samples.size(), MinMedMax(ready).c_str(),
            *std::max_element(ready.begin(), ready.end()) < 300 ? "MET" : "MISSED",
            MinMedMax(list).c_str());
        if (!stop.empty()) std::printf("  SIGTERM -> exit            %s ms\n", MinMedMax(stop).c_str());
        std::printf("  daemon log: %s\n", samples.back().loaded.c_str());
        std::fflush(stdout);
      }
    }
    daemon.Terminate();
    if (!absl::GetFlag(FLAGS_keep_log).empty()) {
      std::error_code ignored;
      std::filesystem::copy_file(daemon.log(), absl::GetFlag(FLAGS_keep_log),
                                 std::filesystem::copy_options::overwrite_existing, ignored);
    }
  }
  if (!made_db_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(made_db_dir, ignored);
  }
  return exit_code;
}
