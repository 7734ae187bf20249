// gateway_load: the gateway's HTTPS/JSON front door under load against the same RPC called
// directly over gRPC (issue 4, acceptance point 8).
//
// It starts allocator-svc, docker-svc and the gateway built alongside it (sockets, state, app
// profile, mapping directories, logs in a fresh /tmp/berthXXXXXX) with JWT auth ON (an HS256
// secret; the token is minted here with libjwt: scope "backend", a sub, exp in the future),
// creates one box through the gateway (POST /v1/boxes) and then measures, for every N of
// --connections, interleaved over --rounds rounds:
//
//   gateway  wrk -tT -cN -d<duration> --latency -H "Authorization: Bearer <jwt>"
//            https://127.0.0.1:<port>/v1/boxes/<box_id>: keep-alive HTTP/1.1 over TLS. Every
//            answer is checked: wrk's non-2xx/3xx and socket errors must be 0, and the gateway's
//            own /metrics must have counted only 200s for the route in the window.
//   direct   N callers in a closed loop calling berth.box.v1.Boxes/Get on docker-svc's socket
//            (gRPC callback API, one channel like the gateway's own backend channel).
//   noop     N callers calling grpc.health.v1.Health/Check on docker-svc's socket: the ceiling
//            of the gRPC stack, socket and client with no service work.
//   healthz  wrk as for gateway on GET /healthz: TLS, HTTP and the gateway's handler with no
//            JWT check and no backend call; the ceiling of the HTTP side.
//
// For each window: req/s, p50/p90/p99/max, CPU of every process involved (the daemons, wrk or
// this client, everything else on the host), CPU by thread name of the gateway and docker-svc,
// the 1-minute load. Memory: VmRSS (and its anonymous/file split) and VmHWM of each daemon
// idle (after start and the box's creation, before any load) and loaded (sampled through
// the windows). Prints tables and one JSON object per measurement on a line of its own (also
// appended to --json_out).
//
// The machine is shared: by default the tool first waits (polling every minute, up to
// --quiet_timeout) until no test or benchmark runs and the 1-minute load is below --quiet_load,
// and before each round until other processes use less than --round_quiet_cpu cores; a window
// in which they used more is marked NOISY.
#include <fcntl.h>
#include <jwt.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/closed_loop.h"
#include "bench/daemon_start.h"
#include "bench/json_output.h"
#include "bench/proc_stats.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/temp_dir.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"
#include "testing_support/notify_socket.h"
#include "testing_support/jwt_signer.h"

extern char** environ;

ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured window of each run");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(3),
          "warm-up of each kind before the first round (not counted)");
ABSL_FLAG(absl::Duration, lead_in, absl::Milliseconds(500),
          "gRPC runs: closed-loop lead-in before each measured window (not counted)");
ABSL_FLAG(int32_t, rounds, 3, "rounds; each runs every kind once per N, in alternating order");
ABSL_FLAG(std::string, connections, "64",
          "values of N, comma-separated: wrk connections and gRPC callers");
ABSL_FLAG(std::string, kinds, "gateway,direct,noop,healthz",
          "what to measure: gateway, direct, noop, and healthz (wrk on the gateway's GET /healthz "
          "with the same token: TLS, HTTP and the gateway's own path with no JWT check and no "
          "backend call)");
ABSL_FLAG(int32_t, wrk_threads, 2, "wrk -t (capped at N)");
ABSL_FLAG(std::string, wrk, "wrk", "the wrk binary (looked up in PATH)");
ABSL_FLAG(std::string, curl, "curl", "the curl binary, for setup and /metrics");
ABSL_FLAG(int32_t, grpc_channels, 1,
          "channels (= connections) the direct and noop callers share; the gateway has one");
ABSL_FLAG(std::string, box_id, "", "id of the box to create and read; default bench1-<pid>");
ABSL_FLAG(std::string, app_profile, "",
          "app profile of the box (a <name>.textproto); default: deploy/apps/test-box.textproto");
ABSL_FLAG(std::string, gateway_args, "", "extra gateway flags, comma-separated (--threads=4)");
ABSL_FLAG(std::string, docker_svc_args, "", "extra docker-svc flags, comma-separated");
ABSL_FLAG(absl::Duration, quiet_timeout, absl::Minutes(40),
          "wait up to this long for a quiet machine before measuring (0: do not wait)");
ABSL_FLAG(double, quiet_load, 1.5, "a quiet machine's 1-minute load is below this");
ABSL_FLAG(absl::Duration, round_quiet_timeout, absl::Minutes(5),
          "before each round, wait up to this long until no test or benchmark runs and other "
          "processes use less than --round_quiet_cpu (0: do not wait)");
ABSL_FLAG(double, round_quiet_cpu, 0.15,
          "cores other processes may use (over a 3 s sample) for the machine to count as quiet "
          "before a round; a window where they used more is marked noisy");
ABSL_FLAG(absl::Duration, idle_settle, absl::Seconds(3),
          "pause between the box's creation and the idle memory reading");
ABSL_FLAG(std::string, json_out, "", "also append the JSON lines to this file");
ABSL_FLAG(std::string, keep_logs, "", "copy the three daemons' logs into this directory");
ABSL_FLAG(std::string, pid_file, "",
          "write \"gateway=<pid> docker-svc=<pid> allocator-svc=<pid>\" here once serving");

namespace berth::bench {
namespace {

using ::berth::bench::LogTail;
using ::berth::bench::Today;

namespace boxv1 = ::berth::box::v1;
using grpc::health::v1::Health;
using Clock = std::chrono::steady_clock;

constexpr char kRouteLabel[] = "GET /v1/boxes/{box_id}";

// ---------------------------------------------------------------------------------------------
// What to clean up from Die() (which skips destructors).

struct Global {
  std::vector<berth::testing::DaemonProcess*> daemons;  // stopped in this order
  std::string temp_dir;
  std::string container;  // the box's container, removed on a fatal error
  std::string docker_svc_log;
  std::string gateway_log;
  std::atomic<bool> dying{false};
};
Global& G() {
  static Global* const g = new Global;
  return *g;
}


// Runs `argv` to completion with stdout and stderr into `out_path`; its exit status (128 + N
// for signal N, -1 when it could not run) and, when `usage` is given, its rusage.
int RunToFile(const std::vector<std::string>& argv, const std::string& out_path,
              rusage* usage = nullptr, pid_t* started = nullptr);

[[noreturn]] void Die(const std::string& message) {
  if (G().dying.exchange(true)) {
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::fprintf(stderr, "gateway_load: FATAL: %s\n", message.c_str());
  for (const auto& [name, log] :
       {std::pair<const char*, std::string>{"gateway", G().gateway_log},
        std::pair<const char*, std::string>{"docker-svc", G().docker_svc_log}}) {
    if (!log.empty()) std::fprintf(stderr, "%s log (tail):\n%s", name, LogTail(log, 20).c_str());
  }
  std::fflush(stderr);
  for (berth::testing::DaemonProcess* daemon : G().daemons) {
    if (daemon != nullptr) daemon->Kill();
  }
  if (!G().container.empty()) {
    // docker-svc is gone; remove its container ourselves (lease and state go with the dir).
    RunToFile({"docker", "rm", "-f", "-v", G().container}, "/dev/null");
  }
  if (!G().temp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(G().temp_dir, ignored);
  }
  std::_Exit(2);
}

int RunToFile(const std::vector<std::string>& argv, const std::string& out_path, rusage* usage,
              pid_t* started) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (std::string& arg : storage) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return -1;
  if (started != nullptr) *started = pid;
  int status = 0;
  rusage ignored{};
  while (wait4(pid, &status, 0, usage != nullptr ? usage : &ignored) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The value of `value_or`, or Die() with its error.
template <typename T>
T OrDie(absl::StatusOr<T> value_or) {
  if (!value_or.ok()) Die(std::string(value_or.status().message()));
  return *std::move(value_or);
}

// ---------------------------------------------------------------------------------------------
// /proc: threads, memory, load (CPU readings: bench/proc_stats.h).

int ThreadCount(pid_t pid) {
  int count = 0;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++count;
  }
  return count;
}

// Busy CPU seconds of the host between two readings.
double HostBusySeconds(const HostCpu& a, const HostCpu& b) {
  return (b.busy - a.busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Load1() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

// Memory of a process, in MiB, from /proc/<pid>/status.
struct Memory {
  double rss = 0;   // VmRSS
  double hwm = 0;   // VmHWM: the peak of VmRSS
  double anon = 0;  // RssAnon
  double file = 0;  // RssFile (mapped binaries and libraries)
  double pss = 0;   // Pss: RSS with each shared page divided among the processes mapping it
  double pss_anon = 0;
  double pss_file = 0;
};
Memory ReadMemory(pid_t pid) {
  Memory m;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    auto value = [&](const char* key, double* out) {
      if (!absl::StartsWith(line, key)) return;
      std::vector<std::string> parts =
          absl::StrSplit(line.substr(strlen(key)), ' ', absl::SkipWhitespace());
      double kib = 0;
      if (!parts.empty() && absl::SimpleAtod(parts[0], &kib)) *out = kib / 1024.0;
    };
    value("VmRSS:", &m.rss);
    value("VmHWM:", &m.hwm);
    value("RssAnon:", &m.anon);
    value("RssFile:", &m.file);
  }
  std::ifstream rollup(absl::StrCat("/proc/", pid, "/smaps_rollup"));
  for (std::string line; std::getline(rollup, line);) {
    auto value = [&](const char* key, double* out) {
      if (!absl::StartsWith(line, key)) return;
      std::vector<std::string> parts =
          absl::StrSplit(line.substr(strlen(key)), ' ', absl::SkipWhitespace());
      double kib = 0;
      if (!parts.empty() && absl::SimpleAtod(parts[0], &kib)) *out = kib / 1024.0;
    };
    value("Pss:", &m.pss);
    value("Pss_Anon:", &m.pss_anon);
    value("Pss_File:", &m.pss_file);
  }
  return m;
}
std::string MemoryJson(const Memory& m) {
  return absl::StrFormat(
      R"({"rss_mib":%.2f,"hwm_mib":%.2f,"anon_mib":%.2f,"file_mib":%.2f,"pss_mib":%.2f,)"
      R"("pss_anon_mib":%.2f,"pss_file_mib":%.2f})",
      m.rss, m.hwm, m.anon, m.file, m.pss, m.pss_anon, m.pss_file);
}

// Resident MiB by mapped file (anonymous and special mappings under "[anon]" and their own
// bracketed names), largest first: where a daemon's RSS goes.
std::vector<std::pair<double, std::string>> RssByMapping(pid_t pid) {
  std::map<std::string, double> by_name;
  std::ifstream in(absl::StrCat("/proc/", pid, "/smaps"));
  std::string current = "[anon]";
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < 17) {
      // "start-end perms offset dev inode   pathname"
      std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
      current = fields.size() >= 6 ? std::filesystem::path(fields[5]).filename().string()
                                   : "[anon]";
      if (fields.size() >= 6 && fields[5][0] == '[') current = fields[5];
      continue;
    }
    if (absl::StartsWith(line, "Rss:")) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(4), ' ', absl::SkipWhitespace());
      double kib = 0;
      if (!parts.empty() && absl::SimpleAtod(parts[0], &kib)) by_name[current] += kib / 1024.0;
    }
  }
  std::vector<std::pair<double, std::string>> sorted;
  for (const auto& [name, mib] : by_name) sorted.push_back({mib, name});
  std::sort(sorted.rbegin(), sorted.rend());
  return sorted;
}

std::string TopMappings(pid_t pid, size_t count, bool json) {
  std::vector<std::pair<double, std::string>> sorted = RssByMapping(pid);
  std::vector<std::string> parts;
  for (size_t i = 0; i < sorted.size() && i < count; ++i) {
    parts.push_back(json ? absl::StrFormat("\"%s\":%.2f", sorted[i].second, sorted[i].first)
                         : absl::StrFormat("%s %.1f", sorted[i].second, sorted[i].first));
  }
  return json ? absl::StrCat("{", absl::StrJoin(parts, ","), "}") : absl::StrJoin(parts, ", ");
}

// Processes whose command line looks like a test or a benchmark (the brief's
// `pgrep -f '_test$|_test |spinup|allocator_load'`), this process excepted.
std::vector<std::string> BusyProcesses() {
  std::vector<std::string> found;
  std::error_code error;
  const std::string self = std::to_string(getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string pid = entry.path().filename();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0])) || pid == self) continue;
    std::string cmdline = ReadFile(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
    if (absl::EndsWith(cmdline, "_test") || absl::StrContains(cmdline, "_test ") ||
        absl::StrContains(cmdline, "spinup") || absl::StrContains(cmdline, "allocator_load")) {
      found.push_back(absl::StrCat(pid, " ", cmdline.substr(0, 100)));
    }
  }
  return found;
}

// Waits until the machine is quiet or `timeout` passed; what it saw at the end.
std::string WaitForQuiet(absl::Duration timeout, double max_load) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const std::vector<std::string> busy = BusyProcesses();
    const double load = Load1();
    const std::string seen =
        absl::StrFormat("load1 %.2f, %d test/bench processes%s", load, busy.size(),
                        busy.empty() ? "" : absl::StrCat(" (", busy[0], ")"));
    if (busy.empty() && load < max_load) return absl::StrCat("quiet: ", seen);
    if (absl::Now() >= deadline) return absl::StrCat("NOT quiet: ", seen);
    std::printf("# waiting for a quiet machine: %s\n", seen.c_str());
    std::fflush(stdout);
    absl::SleepFor(std::min(absl::Seconds(60), deadline - absl::Now()));
  }
}

// ---------------------------------------------------------------------------------------------
// JWT and the gateway's HTTP side (curl for single requests).

std::string MintHs256(const std::string& secret, const std::string& claims_json) {
  std::string token = berth::testing::SignWithLibjwt(JWT_ALG_HS256, secret, claims_json);
  if (token.empty()) Die("libjwt could not sign the token");
  return token;
}

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string raw;  // curl's whole output, for messages
};

// One request with curl (-k: the gateway's own self-signed certificate).
HttpAnswer Curl(const std::string& work_dir, const std::string& method, const std::string& url,
                const std::string& token, const std::string& body = "") {
  std::vector<std::string> argv = {absl::GetFlag(FLAGS_curl), "-sS", "-k", "--max-time", "90",
                                   "-X", method, "-w", "\n%{http_code}"};
  if (!token.empty()) {
    argv.push_back("-H");
    argv.push_back("Authorization: Bearer " + token);
  }
  if (!body.empty()) {
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
  }
  argv.push_back(url);
  const std::string out = work_dir + "/curl.out";
  const int code = RunToFile(argv, out);
  HttpAnswer answer;
  answer.raw = ReadFile(out);
  if (code != 0) return answer;
  const size_t newline = answer.raw.rfind('\n');
  if (newline == std::string::npos ||
      !absl::SimpleAtoi(answer.raw.substr(newline + 1), &answer.status)) {
    answer.status = 0;
    return answer;
  }
  answer.body = answer.raw.substr(0, newline);
  return answer;
}

// The gateway's counters of the benchmarked route: answers by status, and its latency sum.
struct RouteCounters {
  std::map<int, uint64_t> by_status;
  double latency_sum_s = 0;
  uint64_t latency_count = 0;
};
RouteCounters ScrapeMetrics(const std::string& work_dir, const std::string& base_url,
                            const std::string& route_label) {
  HttpAnswer answer = Curl(work_dir, "GET", base_url + "/metrics", "");
  if (answer.status != 200) Die(absl::StrCat("GET /metrics: ", answer.raw));
  RouteCounters counters;
  const std::string route = absl::StrCat("route=\"", route_label, "\"");
  for (absl::string_view line : absl::StrSplit(answer.body, '\n')) {
    if (!absl::StrContains(line, route)) continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    double value = 0;
    if (!absl::SimpleAtod(line.substr(space + 1), &value)) continue;
    if (absl::StartsWith(line, "berth_gateway_requests_total{")) {
      const size_t code_at = line.find("code=\"");
      int code = 0;
      if (code_at != absl::string_view::npos &&
          absl::SimpleAtoi(line.substr(code_at + 6, 3), &code)) {
        counters.by_status[code] += static_cast<uint64_t>(value);
      }
    } else if (absl::StartsWith(line, "berth_gateway_request_duration_seconds_sum{")) {
      counters.latency_sum_s = value;
    } else if (absl::StartsWith(line, "berth_gateway_request_duration_seconds_count{")) {
      counters.latency_count = static_cast<uint64_t>(value);
    }
  }
  return counters;
}

uint16_t FreeTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

// ---------------------------------------------------------------------------------------------
// The three daemons.

std::vector<std::string> SplitArgs(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

class Host {
 public:
  explicit Host(const berth::testing::TempDir& dir) : dir_(dir) {}

  void Start() {
    std::error_code error;
    for (const char* sub : {"apps", "boxes", "gw", "notify"}) {
      std::filesystem::create_directories(dir_.File(sub), error);
      if (error) Die(absl::StrCat("mkdir ", dir_.File(sub), ": ", error.message()));
    }
    std::string profile = absl::GetFlag(FLAGS_app_profile);
    if (profile.empty()) profile = std::string(BERTH_SOURCE_DIR) + "/deploy/apps/test-box.textproto";
    app_ = std::filesystem::path(profile).stem();
    std::filesystem::copy_file(profile, dir_.File("apps/" + app_ + ".textproto"), error);
    if (error) Die(absl::StrCat("copy ", profile, ": ", error.message()));

    // The HS256 secret: 48 random bytes, hex, in a 0600 file.
    std::random_device random;
    for (int i = 0; i < 48; ++i) absl::StrAppendFormat(&secret_, "%02x", random() & 0xff);
    {
      std::ofstream out(dir_.File("jwt.secret"));
      out << secret_;
    }
    chmod(dir_.File("jwt.secret").c_str(), 0600);

    const uint16_t from = static_cast<uint16_t>(21000 + (getpid() * 131) % 9000);
    std::optional<uint16_t> begin = berth::testing::FindFreePortRange(64, from, 32768);
    if (!begin) begin = berth::testing::FindFreePortRange(64, 20000, 32768);
    if (!begin) Die("no 64 free ports in 20000-32767");
    port_range_ = absl::StrCat(*begin, "-", *begin + 64);

    berth::testing::DaemonProcess::Options allocator;
    allocator.binary = berth::testing::DaemonBinary("allocator-svc");
    allocator.args = {absl::StrCat("--listen=", allocator_address()),
                      absl::StrCat("--db=", dir_.File("a.db")),
                      absl::StrCat("--port_range=", port_range_), "--tty_range=10-64"};
    allocator.log_path = dir_.File("allocator.log");
    allocator_ = StartGrpcDaemon(allocator, allocator_address(), "allocator-svc");
    G().daemons.push_back(allocator_.get());

    berth::testing::DaemonProcess::Options boxes;
    boxes.binary = berth::testing::DaemonBinary("docker-svc");
    boxes.args = {absl::StrCat("--listen=", boxes_address()),
                  absl::StrCat("--allocator=", allocator_address()),
                  absl::StrCat("--apps_dir=", dir_.File("apps")),
                  absl::StrCat("--boxes_dir=", dir_.File("boxes"))};
    for (std::string& arg : SplitArgs(absl::GetFlag(FLAGS_docker_svc_args))) {
      boxes.args.push_back(std::move(arg));
    }
    boxes.log_path = dir_.File("docker-svc.log");
    G().docker_svc_log = boxes.log_path;
    docker_svc_ = StartGrpcDaemon(boxes, boxes_address(), "docker-svc");
    G().daemons.insert(G().daemons.begin(), docker_svc_.get());

    port_ = FreeTcpPort();
    if (port_ == 0) Die("no free TCP port on 127.0.0.1");
    notify_ = std::make_unique<berth::testing::NotifySocket>(dir_.File("notify/gw"));
    if (!notify_->ok()) Die("cannot bind the notify socket");
    berth::testing::DaemonProcess::Options gateway;
    gateway.binary = std::string(BERTH_BINARY_DIR) + "/gateway/server/gateway";
    gateway.args = {absl::StrCat("--http_listen=127.0.0.1:", port_),
                    absl::StrCat("--boxes=", boxes_address()),
                    // Every wrk connection comes from 127.0.0.1, and /healthz's are never
                    // authenticated: the caps against hostile clients stay out of the way.
                    "--max_connections_per_ip=2048", "--unauthenticated_timeout=1h",
                    absl::StrCat("--state_dir=", dir_.File("gw")),
                    absl::StrCat("--jwt_hs256_secret_file=", dir_.File("jwt.secret"))};
    for (std::string& arg : SplitArgs(absl::GetFlag(FLAGS_gateway_args))) {
      gateway.args.push_back(std::move(arg));
    }
    gateway.env = {absl::StrCat("NOTIFY_SOCKET=", notify_->path())};
    gateway.log_path = dir_.File("gateway.log");
    G().gateway_log = gateway.log_path;
    absl::StatusOr<std::unique_ptr<berth::testing::DaemonProcess>> started =
        berth::testing::DaemonProcess::Start(gateway);
    if (!started.ok()) Die(absl::StrCat("start gateway: ", started.status().ToString()));
    gateway_ = *std::move(started);
    G().daemons.insert(G().daemons.begin(), gateway_.get());
    if (!notify_->WaitFor("READY=1", absl::Now() + absl::Seconds(30)).has_value()) {
      Die(absl::StrCat("the gateway did not send READY=1 within 30 s\n",
                       LogTail(gateway.log_path, 30)));
    }
    gateway_args_ = gateway.args;
    docker_args_ = boxes.args;
    allocator_args_ = allocator.args;
  }

  // SIGTERM in order gateway, docker-svc, allocator-svc.
  void Stop() {
    G().daemons.clear();
    for (auto* daemon : {&gateway_, &docker_svc_, &allocator_}) {
      if (*daemon == nullptr) continue;
      absl::StatusOr<int> code = (*daemon)->Terminate(absl::Seconds(30));
      if (!code.ok() || *code != 0) {
        std::fprintf(stderr, "gateway_load: a daemon did not stop cleanly: %s\n",
                     code.ok() ? absl::StrCat("exit code ", *code).c_str()
                               : code.status().ToString().c_str());
      }
      daemon->reset();
    }
  }

  std::string allocator_address() const { return "unix:" + dir_.File("a.sock"); }
  std::string boxes_address() const { return "unix:" + dir_.File("b.sock"); }
  std::string base_url() const { return absl::StrCat("https://127.0.0.1:", port_); }
  const std::string& secret() const { return secret_; }
  const std::string& app() const { return app_; }
  const std::string& dir() const { return dir_.path(); }
  pid_t gateway_pid() const { return gateway_ ? gateway_->pid() : -1; }
  pid_t docker_svc_pid() const { return docker_svc_ ? docker_svc_->pid() : -1; }
  pid_t allocator_pid() const { return allocator_ ? allocator_->pid() : -1; }
  const std::vector<std::string>& gateway_args() const { return gateway_args_; }
  const std::vector<std::string>& docker_svc_args() const { return docker_args_; }
  const std::vector<std::string>& allocator_args() const { return allocator_args_; }

 private:
  static std::unique_ptr<berth::testing::DaemonProcess> StartGrpcDaemon(
      const berth::testing::DaemonProcess::Options& options, const std::string& address,
      const char* what) {
    absl::StatusOr<std::unique_ptr<berth::testing::DaemonProcess>> daemon =
        berth::bench::StartServingDaemon(options, address, what);
    if (!daemon.ok()) Die(std::string(daemon.status().message()));
    return *std::move(daemon);
  }

  const berth::testing::TempDir& dir_;
  std::string app_;
  std::string secret_;
  std::string port_range_;
  uint16_t port_ = 0;
  std::unique_ptr<berth::testing::NotifySocket> notify_;
  std::unique_ptr<berth::testing::DaemonProcess> allocator_;
  std::unique_ptr<berth::testing::DaemonProcess> docker_svc_;
  std::unique_ptr<berth::testing::DaemonProcess> gateway_;
  std::vector<std::string> gateway_args_, docker_args_, allocator_args_;
};

// ---------------------------------------------------------------------------------------------
// Closed-loop gRPC callers on the callback API (bench/closed_loop.h), one call an iteration.

// Only calls that start and end inside the window count, so requests and latencies cover the
// same calls.
constexpr Caller::Record kRecord = Caller::Record::kInsideWindow;
constexpr size_t kExpectedCalls = 1 << 16;  // per caller

class GetCaller final : public Caller {
 public:
  GetCaller(Window* window, boxv1::Boxes::Stub* stub, const std::string& box_id)
      : Caller(window, 1, kRecord, kExpectedCalls), stub_(stub) {
    request_.set_box_id(box_id);
  }

 protected:
  void StartStep(int, uint64_t, grpc::ClientContext* context, Done done) override {
    stub_->async()->Get(context, &request_, &response_,
                        [this, done = std::move(done)](grpc::Status status) {
                          if (status.ok() && response_.box().box_id() != request_.box_id()) {
                            status = grpc::Status(grpc::StatusCode::INTERNAL, "wrong box");
                          }
                          done(status);
                        });
  }

 private:
  boxv1::Boxes::Stub* const stub_;
  boxv1::GetRequest request_;
  boxv1::GetResponse response_;
};

// ---------------------------------------------------------------------------------------------
// Measurements.

// The processes whose CPU and memory each window records.
struct Watched {
  std::string name;
  pid_t pid;
};

// Samples VmRSS of the watched processes every 100 ms while it lives; the largest seen.
class RssSampler {
 public:
  explicit RssSampler(const std::vector<Watched>& watched) : watched_(watched) {
    thread_ = std::thread([this] {
      absl::MutexLock lock(&mu_);
      while (!stop_) {
        for (const Watched& w : watched_) {
          max_[w.name] = std::max(max_[w.name], ReadMemory(w.pid).rss);
        }
        mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
      }
    });
  }
  std::map<std::string, double> Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
    return max_;
  }

 private:
  const std::vector<Watched> watched_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, double> max_;
  std::thread thread_;
};

struct Result {
  std::string kind;  // gateway | direct | noop
  int round = 0;     // 0: warm-up
  int connections = 0;
  double seconds = 0;
  uint64_t requests = 0;
  LatencySummary latency;  // milliseconds
  uint64_t errors = 0;
  std::string error_detail;
  std::map<std::string, double> cpu_s;  // by process: gateway, docker-svc, allocator-svc, client
  double host_busy_s = 0;
  double load1 = 0;
  std::map<std::string, std::map<std::string, double>> threads_s;  // process -> thread -> s
  std::map<std::string, Memory> memory_end;
  std::map<std::string, double> rss_max;
  // gateway only: what the gateway's own /metrics saw of the route in the window.
  std::map<int, uint64_t> server_by_status;
  double server_mean_ms = -1;

  double rate() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double total_cpu_s() const {
    double sum = 0;
    for (const auto& [name, s] : cpu_s) sum += s;
    return sum;
  }
  double other_cpu_s() const { return std::max(0.0, host_busy_s - total_cpu_s()); }
  bool noisy() const {
    return seconds > 0 && other_cpu_s() / seconds >= absl::GetFlag(FLAGS_round_quiet_cpu);
  }
  double cpu_us_per_request(const std::string& process) const {
    auto it = cpu_s.find(process);
    return requests && it != cpu_s.end() ? 1e6 * it->second / static_cast<double>(requests) : 0;
  }
};

class Snapshot {
 public:
  explicit Snapshot(const std::vector<Watched>& watched) {
    for (const Watched& w : watched) {
      cpu_[w.name] = ProcessCpuSeconds(w.pid);
      threads_[w.name] = ThreadCpuSeconds(w.pid);
    }
    self_ = SelfCpuSeconds();
    host_ = ReadHostCpu();
  }
  // Fills `r` with the CPU used between `before` and this.
  void Since(const Snapshot& before, Result* r) const {
    for (const auto& [name, cpu] : cpu_) r->cpu_s[name] = cpu - before.cpu_.at(name);
    for (const auto& [name, threads] : threads_) {
      const auto& old = before.threads_.at(name);
      for (const auto& [thread, s] : threads) {
        auto it = old.find(thread);
        const double delta = s - (it == old.end() ? 0 : it->second);
        if (delta > 0) r->threads_s[name][thread] = delta;
      }
    }
    r->host_busy_s = HostBusySeconds(before.host_, host_);
  }
  double self() const { return self_; }

 private:
  std::map<std::string, double> cpu_;
  std::map<std::string, std::map<std::string, double>> threads_;
  double self_ = 0;
  HostCpu host_;
};

// Between rounds the 1-minute load still carries our own last window, so quiet here means: no
// test or benchmark runs and, over a 3 s sample, processes other than ours use less than
// `max_cores`. Waits up to `timeout`; what it saw last.
std::string WaitForQuietRound(const std::vector<Watched>& watched, absl::Duration timeout,
                              double max_cores) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    double ours0 = SelfCpuSeconds();
    for (const Watched& w : watched) ours0 += ProcessCpuSeconds(w.pid);
    const HostCpu host0 = ReadHostCpu();
    const Clock::time_point t0 = Clock::now();
    absl::SleepFor(absl::Seconds(3));
    double ours1 = SelfCpuSeconds();
    for (const Watched& w : watched) ours1 += ProcessCpuSeconds(w.pid);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double other =
        std::max(0.0, HostBusySeconds(host0, ReadHostCpu()) - (ours1 - ours0)) / seconds;
    const std::vector<std::string> busy = BusyProcesses();
    const std::string seen =
        absl::StrFormat("other processes %.2f cores, %d test/bench processes%s, load1 %.2f",
                        other, busy.size(), busy.empty() ? "" : absl::StrCat(" (", busy[0], ")"),
                        Load1());
    if (busy.empty() && other < max_cores) return absl::StrCat("quiet: ", seen);
    if (absl::Now() >= deadline) return absl::StrCat("NOT quiet: ", seen);
    absl::SleepFor(std::min(absl::Seconds(15), deadline - absl::Now()));
  }
}

class Bench {
 public:
  Bench(Host& host, std::string box_id, std::string token)
      : host_(host), box_id_(std::move(box_id)), token_(std::move(token)) {
    watched_ = {{"gateway", host.gateway_pid()},
                {"docker-svc", host.docker_svc_pid()},
                {"allocator-svc", host.allocator_pid()}};
    for (int i = 0; i < absl::GetFlag(FLAGS_grpc_channels); ++i) {
      channels_.push_back(OrDie(ConnectChannel(host.boxes_address())));
      boxes_.push_back(boxv1::Boxes::NewStub(channels_.back()));
      health_.push_back(Health::NewStub(channels_.back()));
    }
    // wrk's done() hook prints what we need in one parsable line (latency in microseconds).
    script_ = host.dir() + "/report.lua";
    std::ofstream lua(script_);
    lua << R"(done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK %d %d %d %d %d %d %d %d %.1f %d %d %d %d %d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
)";
  }

  Result Run(const std::string& kind, int connections, int round, absl::Duration duration) {
    if (kind == "gateway" || kind == "healthz") return RunWrk(kind, connections, round, duration);
    return RunGrpc(kind, connections, round, duration);
  }

  const std::vector<Watched>& watched() const { return watched_; }

 private:
  Result RunWrk(const std::string& kind, int connections, int round, absl::Duration duration) {
    Result r;
    r.kind = kind;
    const bool healthz = kind == "healthz";
    const std::string label = healthz ? "GET /healthz" : kRouteLabel;
    r.round = round;
    r.connections = connections;
    const int threads = std::min(connections, absl::GetFlag(FLAGS_wrk_threads));
    const std::string url = healthz ? host_.base_url() + "/healthz"
                                    : absl::StrCat(host_.base_url(), "/v1/boxes/", box_id_);
    const std::vector<std::string> argv = {
        absl::GetFlag(FLAGS_wrk), absl::StrCat("-t", threads), absl::StrCat("-c", connections),
        absl::StrCat("-d", std::max<int64_t>(1, absl::ToInt64Seconds(duration)), "s"), "--latency",
        "--timeout", "5s", "-s", script_, "-H", "Authorization: Bearer " + token_, url};
    if (wrk_command_.empty() && !healthz) {
      wrk_command_ = absl::StrJoin(argv, " ");
      const size_t bearer = wrk_command_.find("Bearer ");
      wrk_command_.replace(bearer, wrk_command_.find(' ', bearer + 7) - bearer,
                           "Bearer <jwt>");
    }
    const RouteCounters before_counters = ScrapeMetrics(host_.dir(), host_.base_url(), label);
    const Snapshot before(watched_);
    RssSampler sampler(watched_);
    rusage usage{};
    const std::string out = host_.dir() + "/wrk.out";
    const Clock::time_point start = Clock::now();
    const int code = RunToFile(argv, out, &usage);
    const Clock::time_point end = Clock::now();
    r.rss_max = sampler.Stop();
    const Snapshot after(watched_);
    for (const Watched& w : watched_) r.memory_end[w.name] = ReadMemory(w.pid);
    r.load1 = Load1();
    after.Since(before, &r);
    r.cpu_s["wrk"] = RusageSeconds(usage);
    const RouteCounters after_counters = ScrapeMetrics(host_.dir(), host_.base_url(), label);
    for (const auto& [status, count] : after_counters.by_status) {
      auto it = before_counters.by_status.find(status);
      const uint64_t delta = count - (it == before_counters.by_status.end() ? 0 : it->second);
      if (delta > 0) r.server_by_status[status] = delta;
    }
    const uint64_t served = after_counters.latency_count - before_counters.latency_count;
    if (served > 0) {
      r.server_mean_ms =
          1e3 * (after_counters.latency_sum_s - before_counters.latency_sum_s) / served;
    }

    const std::string text = ReadFile(out);
    if (code != 0) Die(absl::StrCat("wrk exited with ", code, ":\n", text));
    uint64_t v[14] = {};
    double mean_us = 0;
    bool parsed = false;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (!absl::StartsWith(line, "WRK ")) continue;
      std::vector<std::string> parts = absl::StrSplit(line.substr(4), ' ');
      if (parts.size() != 14) break;
      parsed = true;
      for (int i = 0; i < 14; ++i) {
        if (i == 8) {
          parsed &= absl::SimpleAtod(parts[i], &mean_us);
        } else {
          parsed &= absl::SimpleAtoi(parts[i], &v[i]);
        }
      }
    }
    if (!parsed) Die(absl::StrCat("cannot read wrk's report:\n", text));
    r.requests = v[0];
    r.seconds = v[1] / 1e6;
    if (r.seconds <= 0) r.seconds = std::chrono::duration<double>(end - start).count();
    r.latency.mean = mean_us / 1e3;
    r.latency.p50 = v[9] / 1e3;
    r.latency.p90 = v[10] / 1e3;
    r.latency.p99 = v[11] / 1e3;
    r.latency.max = v[13] / 1e3;
    r.errors = v[3] + v[4] + v[5] + v[6] + v[7];
    if (r.errors > 0) {
      r.error_detail = absl::StrFormat("wrk errors: connect %d read %d write %d status %d "
                                       "timeout %d",
                                       v[3], v[4], v[5], v[6], v[7]);
    }
    // Every answer of the window must have been a 200 (the gateway counts each it sends; a
    // few more than wrk counted were in flight when wrk stopped).
    uint64_t ok = 0;
    for (const auto& [status, count] : r.server_by_status) {
      if (status == 200) {
        ok = count;
      } else {
        r.errors += count;
        absl::StrAppend(&r.error_detail, r.error_detail.empty() ? "" : "; ", "gateway answered ",
                        count, " x ", status);
      }
    }
    if (ok < r.requests) {
      absl::StrAppend(&r.error_detail, r.error_detail.empty() ? "" : "; ", "the gateway counted ",
                      ok, " 200s for ", r.requests, " responses");
      r.errors += r.requests - ok;
    }
    return r;
  }

  Result RunGrpc(const std::string& kind, int callers, int round, absl::Duration duration) {
    Result r;
    r.kind = kind;
    r.round = round;
    r.connections = callers;
    Window window(absl::GetFlag(FLAGS_lead_in), duration, callers);
    std::vector<std::unique_ptr<Caller>> all;
    for (int i = 0; i < callers; ++i) {
      const size_t c = i % channels_.size();
      if (kind == "direct") {
        all.push_back(std::make_unique<GetCaller>(&window, boxes_[c].get(), box_id_));
      } else if (kind == "noop") {
        all.push_back(
            std::make_unique<NoopCaller>(&window, health_[c].get(), kRecord, kExpectedCalls));
      } else {
        Die(absl::StrCat("unknown kind ", kind));
      }
    }
    for (auto& caller : all) caller->Start();
    std::this_thread::sleep_until(window.measure_start);
    const Snapshot before(watched_);
    std::optional<RssSampler> sampler;
    sampler.emplace(watched_);
    std::this_thread::sleep_until(window.measure_end);
    r.rss_max = sampler->Stop();
    const Snapshot after(watched_);
    for (const Watched& w : watched_) r.memory_end[w.name] = ReadMemory(w.pid);
    r.load1 = Load1();
    after.Since(before, &r);
    r.cpu_s["client"] = after.self() - before.self();
    if (!window.WaitAllDone(absl::Seconds(60))) {
      Die(absl::StrCat(kind, " with ", callers, " callers did not stop 60 s after its window"));
    }
    r.seconds = std::chrono::duration<double>(window.measure_end - window.measure_start).count();
    std::vector<int64_t> latencies;
    for (const auto& caller : all) {
      latencies.insert(latencies.end(), caller->latency_ns(0).begin(),
                       caller->latency_ns(0).end());
      r.errors += caller->errors(0);
      if (r.error_detail.empty()) r.error_detail = caller->first_error();
    }
    r.requests = latencies.size();
    r.latency = SummarizeLatencies(std::move(latencies), 1e6);
    return r;
  }

 public:
  const std::string& wrk_command() const { return wrk_command_; }

 private:
  Host& host_;
  const std::string box_id_;
  const std::string token_;
  std::string script_;
  std::string wrk_command_;
  std::vector<Watched> watched_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<boxv1::Boxes::Stub>> boxes_;
  std::vector<std::unique_ptr<Health::Stub>> health_;
};

std::string MapJson(const std::map<std::string, double>& m, const char* format = "%.3f") {
  std::vector<std::string> parts;
  for (const auto& [key, value] : m) {
    parts.push_back(absl::StrCat("\"", key, "\":", absl::StrFormat(format, value)));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string ResultJson(const Result& r) {
  std::vector<std::string> threads;
  for (const auto& [process, by_thread] : r.threads_s) {
    threads.push_back(absl::StrCat("\"", process, "\":", MapJson(by_thread)));
  }
  std::vector<std::string> memory;
  for (const auto& [process, m] : r.memory_end) {
    memory.push_back(absl::StrCat("\"", process, "\":", MemoryJson(m)));
  }
  std::vector<std::string> statuses;
  for (const auto& [status, count] : r.server_by_status) {
    statuses.push_back(absl::StrCat("\"", status, "\":", count));
  }
  std::map<std::string, double> per_request;
  for (const auto& [process, s] : r.cpu_s) per_request[process] = r.cpu_us_per_request(process);
  return absl::StrFormat(
      R"({"bench":"gateway_load","date":"%s","part":"window","kind":"%s","round":%d,)"
      R"("connections":%d,"seconds":%.3f,"requests":%d,"rps":%.1f,)"
      R"("latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f},)"
      R"("errors":%d,"error_detail":"%s","server_statuses":{%s},"server_mean_ms":%.3f,)"
      R"("cpu_s":%s,"cpu_us_per_request":%s,"host_busy_s":%.2f,"other_cpu_s":%.2f,)"
      R"("threads_cpu_s":{%s},"memory_end":{%s},"rss_max_mib":%s,"load1":%.2f,"noisy":%s,)"
      R"("cores":%d})",
      Today(), r.kind, r.round, r.connections, r.seconds, r.requests, r.rate(), r.latency.p50,
      r.latency.p90, r.latency.p99, r.latency.max, r.latency.mean, r.errors,
      absl::StrReplaceAll(r.error_detail, {{"\"", "'"}, {"\\", "/"}, {"\n", " "}}),
      absl::StrJoin(statuses, ","), r.server_mean_ms, MapJson(r.cpu_s), MapJson(per_request, "%.1f"),
      r.host_busy_s, r.other_cpu_s(), absl::StrJoin(threads, ","), absl::StrJoin(memory, ","),
      MapJson(r.rss_max, "%.2f"), r.load1, r.noisy() ? "true" : "false",
      std::thread::hardware_concurrency());
}

// The three largest threads of `process` in `r`, "name 0.52s" each.
std::string TopThreads(const Result& r, const std::string& process) {
  auto it = r.threads_s.find(process);
  if (it == r.threads_s.end()) return "";
  std::vector<std::pair<double, std::string>> sorted;
  for (const auto& [name, s] : it->second) sorted.push_back({s, name});
  std::sort(sorted.rbegin(), sorted.rend());
  std::vector<std::string> parts;
  for (size_t i = 0; i < sorted.size() && i < 3; ++i) {
    parts.push_back(absl::StrFormat("%s %.2fs", sorted[i].second, sorted[i].first));
  }
  return absl::StrJoin(parts, ", ");
}

void PrintRow(const Result& r) {
  const bool http = r.kind == "gateway" || r.kind == "healthz";
  const std::string client = http ? "wrk" : "client";
  std::printf(
      "%-8s N=%-3d round %d: %8.0f req/s  p50 %6.2f  p90 %6.2f  p99 %6.2f  max %7.2f ms  "
      "err %llu | CPU us/req: gw %5.1f  dsvc %5.1f  %s %5.1f | other %.2fs  load1 %.2f%s\n",
      r.kind.c_str(), r.connections, r.round, r.rate(), r.latency.p50, r.latency.p90,
      r.latency.p99, r.latency.max, static_cast<unsigned long long>(r.errors),
      r.cpu_us_per_request("gateway"), r.cpu_us_per_request("docker-svc"), client.c_str(),
      r.cpu_us_per_request(client), r.other_cpu_s(), r.load1, r.noisy() ? "  NOISY" : "");
  if (http) {
    std::printf("         gateway threads: %s | docker-svc threads: %s | gateway's own mean "
                "%.3f ms\n",
                TopThreads(r, "gateway").c_str(), TopThreads(r, "docker-svc").c_str(),
                r.server_mean_ms);
  }
  if (r.errors > 0) std::printf("         ERRORS: %s\n", r.error_detail.c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------

// Ctrl-C or SIGTERM: clean up like a fatal error (the handler only writes to a pipe; a thread
// of its own dies). Children get default handlers back at exec.
int g_signal_pipe[2] = {-1, -1};
void OnSignal(int signal_number) {
  const char byte = static_cast<char>(signal_number);
  (void)!write(g_signal_pipe[1], &byte, 1);
}
void CatchInterrupts() {
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
  std::thread([] {
    char byte = 0;
    while (read(g_signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    Die(absl::StrCat("interrupted by signal ", static_cast<int>(byte)));
  }).detach();
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int Main() {
  const std::vector<int> connection_counts =
      OrDie(ParseIntList(absl::GetFlag(FLAGS_connections), "connections"));
  const std::vector<std::string> kinds =
      absl::StrSplit(absl::GetFlag(FLAGS_kinds), ',', absl::SkipWhitespace());
  for (const std::string& kind : kinds) {
    if (kind != "gateway" && kind != "direct" && kind != "noop" && kind != "healthz") {
      Die(absl::StrCat("--kinds: unknown kind \"", kind, "\""));
    }
  }
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  std::string box_id = absl::GetFlag(FLAGS_box_id);
  if (box_id.empty()) box_id = absl::StrCat("bench1-", getpid());
  Output output(absl::GetFlag(FLAGS_json_out));

  const std::string quiet =
      absl::GetFlag(FLAGS_quiet_timeout) > absl::ZeroDuration()
          ? WaitForQuiet(absl::GetFlag(FLAGS_quiet_timeout), absl::GetFlag(FLAGS_quiet_load))
          : absl::StrFormat("not waited for: load1 %.2f, %d test/bench processes", Load1(),
                            BusyProcesses().size());
  std::printf("# machine: %s\n", quiet.c_str());

  berth::testing::TempDir dir;
  if (dir.path().empty()) Die("cannot make a temporary directory");
  G().temp_dir = dir.path();
  Host host(dir);
  host.Start();
  std::printf("# temp dir %s\n# allocator-svc %s\n# docker-svc %s\n# gateway %s\n",
              dir.path().c_str(), absl::StrJoin(host.allocator_args(), " ").c_str(),
              absl::StrJoin(host.docker_svc_args(), " ").c_str(),
              absl::StrJoin(host.gateway_args(), " ").c_str());
  if (const std::string pid_file = absl::GetFlag(FLAGS_pid_file); !pid_file.empty()) {
    std::ofstream(pid_file) << "gateway=" << host.gateway_pid()
                            << " docker-svc=" << host.docker_svc_pid()
                            << " allocator-svc=" << host.allocator_pid() << "\n";
  }

  // The token: scope backend (the webserver's), a sub, exp two hours ahead.
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::string token = MintHs256(
      host.secret(), absl::StrFormat(R"({"sub":"gateway-bench","scope":"backend","iat":%d,"exp":%d})",
                                     now, now + 2 * 3600));

  // Auth is on: no token is refused.
  const std::string box_url = absl::StrCat(host.base_url(), "/v1/boxes/", box_id);
  if (HttpAnswer anonymous = Curl(dir.path(), "GET", box_url, ""); anonymous.status != 401) {
    Die(absl::StrCat("GET without a token answered ", anonymous.status, ", not 401: ",
                     anonymous.raw));
  }
  // The box, created through the gateway.
  G().container = "berth-" + box_id;
  const Clock::time_point create_start = Clock::now();
  HttpAnswer created = Curl(dir.path(), "POST", host.base_url() + "/v1/boxes", token,
                            absl::StrFormat(R"({"app":"%s","boxId":"%s","userId":"u1"})",
                                            host.app(), box_id));
  const double create_ms = Millis(Clock::now() - create_start);
  if (created.status != 201) Die(absl::StrCat("POST /v1/boxes: ", created.raw));
  HttpAnswer got = Curl(dir.path(), "GET", box_url, token);
  if (got.status != 200 || !absl::StrContains(got.body, box_id)) {
    Die(absl::StrCat("GET ", box_url, ": ", got.raw));
  }
  std::printf("# box %s created through the gateway in %.0f ms; GET answers %zu bytes: %s\n",
              box_id.c_str(), create_ms, got.body.size(), got.body.substr(0, 160).c_str());

  Bench bench(host, box_id, token);
  absl::SleepFor(absl::GetFlag(FLAGS_idle_settle));
  std::map<std::string, Memory> idle;
  std::map<std::string, int> idle_threads;
  for (const Watched& w : bench.watched()) {
    idle[w.name] = ReadMemory(w.pid);
    idle_threads[w.name] = ThreadCount(w.pid);
  }
  {
    std::vector<std::string> parts;
    for (const auto& [name, m] : idle) {
      pid_t pid = -1;
      for (const Watched& w : bench.watched()) {
        if (w.name == name) pid = w.pid;
      }
      parts.push_back(absl::StrCat("\"", name, "\":", MemoryJson(m), ",\"", name,
                                   " rss_by_mapping_mib\":", TopMappings(pid, 12, true)));
      std::printf("# idle %-13s VmRSS %6.2f MiB (anon %5.2f, file %5.2f)  VmHWM %6.2f MiB  "
                  "PSS %6.2f MiB (anon %5.2f, file %5.2f)  %d threads\n",
                  name.c_str(), m.rss, m.anon, m.file, m.hwm, m.pss, m.pss_anon, m.pss_file,
                  idle_threads[name]);
      std::printf("#      largest (MiB): %s\n", TopMappings(pid, 8, false).c_str());
    }
    output.Json(absl::StrFormat(
        R"({"bench":"gateway_load","date":"%s","part":"idle_memory","memory":{%s},"machine":"%s"})",
        Today(), absl::StrJoin(parts, ","), quiet));
  }

  // Warm-up: each kind once at the largest N, not counted.
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  if (warmup > absl::ZeroDuration()) {
    const int n = *std::max_element(connection_counts.begin(), connection_counts.end());
    for (const std::string& kind : kinds) {
      Result r = bench.Run(kind, n, 0, warmup);
      if (r.errors > 0) Die(absl::StrCat("warm-up ", kind, ": ", r.error_detail));
    }
  }
  if (std::find(kinds.begin(), kinds.end(), "gateway") != kinds.end()) {
    std::printf("# wrk: %s\n", bench.wrk_command().c_str());
  }

  std::vector<Result> results;
  std::map<std::string, double> loaded_rss_max;
  for (int round = 1; round <= rounds; ++round) {
    if (absl::GetFlag(FLAGS_round_quiet_timeout) > absl::ZeroDuration()) {
      std::printf("# round %d: %s\n", round,
                  WaitForQuietRound(bench.watched(), absl::GetFlag(FLAGS_round_quiet_timeout),
                                    absl::GetFlag(FLAGS_round_quiet_cpu))
                      .c_str());
    }
    for (int n : connection_counts) {
      std::vector<std::string> order = kinds;
      if (round % 2 == 0) std::reverse(order.begin(), order.end());
      for (const std::string& kind : order) {
        Result r = bench.Run(kind, n, round, duration);
        PrintRow(r);
        output.Json(ResultJson(r));
        for (const auto& [name, rss] : r.rss_max) {
          loaded_rss_max[name] = std::max(loaded_rss_max[name], rss);
        }
        results.push_back(std::move(r));
      }
    }
  }

  // Medians over rounds, ratios, targets.
  bool all_clean = true;
  int noisy = 0;
  for (const Result& r : results) {
    all_clean &= r.errors == 0;
    noisy += r.noisy() ? 1 : 0;
  }
  if (noisy > 0) {
    std::printf("\n# %d of %zu windows were NOISY: other processes used >= %.2f cores\n", noisy,
                results.size(), absl::GetFlag(FLAGS_round_quiet_cpu));
  }
  std::printf("\n# medians over %d rounds of %s each (2 cores shared by wrk or the gRPC client "
              "and the daemons)\n",
              rounds, absl::FormatDuration(duration).c_str());
  std::printf("%-8s %4s %10s %8s %8s %8s %9s %9s %9s\n", "kind", "N", "req/s", "p50 ms",
              "p90 ms", "p99 ms", "gw us/rq", "dsvc us/rq", "clnt us/rq");
  struct Medians {
    double rps = 0, p50 = 0, p90 = 0, p99 = 0;
  };
  std::map<std::pair<std::string, int>, Medians> medians;
  for (int n : connection_counts) {
    for (const std::string& kind : kinds) {
      std::vector<double> rps, p50, p90, p99, gw, dsvc, client;
      for (const Result& r : results) {
        if (r.kind != kind || r.connections != n) continue;
        rps.push_back(r.rate());
        p50.push_back(r.latency.p50);
        p90.push_back(r.latency.p90);
        p99.push_back(r.latency.p99);
        gw.push_back(r.cpu_us_per_request("gateway"));
        dsvc.push_back(r.cpu_us_per_request("docker-svc"));
        client.push_back(r.cpu_us_per_request(
            kind == "gateway" || kind == "healthz" ? "wrk" : "client"));
      }
      Medians m{Median(rps), Median(p50), Median(p90), Median(p99)};
      medians[{kind, n}] = m;
      std::printf("%-8s %4d %10.0f %8.2f %8.2f %8.2f %9.1f %9.1f %9.1f\n", kind.c_str(), n,
                  m.rps, m.p50, m.p90, m.p99, Median(gw), Median(dsvc), Median(client));
      output.Json(absl::StrFormat(
          R"({"bench":"gateway_load","date":"%s","part":"median","kind":"%s","connections":%d,)"
          R"("rounds":%d,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,)"
          R"("cpu_us_per_request":{"gateway":%.1f,"docker-svc":%.1f,"client":%.1f}})",
          Today(), kind, n, rounds, m.rps, m.p50, m.p90, m.p99, Median(gw), Median(dsvc),
          Median(client)));
    }
  }
  auto has = [&](const char* kind) {
    return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
  };
  for (int n : connection_counts) {
    if (!has("gateway")) break;
    const Medians& gw = medians[{"gateway", n}];
    // Per-round ratios too (each compares windows seconds apart).
    // cpu-r: (direct's CPU per request: docker-svc + client) / (the gateway path's: gateway +
    // docker-svc + wrk), all processes of the window. The throughput ratio a host saturated by
    // just these processes would show; less sensitive to other load than req/s.
    std::vector<double> per_round_direct, per_round_noop, per_round_cpu;
    for (int round = 1; round <= rounds; ++round) {
      double g = 0, d = 0, o = 0, g_cpu = 0, d_cpu = 0;
      for (const Result& r : results) {
        if (r.round != round || r.connections != n || r.requests == 0) continue;
        const double cpu_per_request = r.total_cpu_s() / static_cast<double>(r.requests);
        if (r.kind == "gateway") g = r.rate(), g_cpu = cpu_per_request;
        if (r.kind == "direct") d = r.rate(), d_cpu = cpu_per_request;
        if (r.kind == "noop") o = r.rate();
      }
      if (d > 0) per_round_direct.push_back(g / d);
      if (o > 0) per_round_noop.push_back(g / o);
      if (g_cpu > 0 && d_cpu > 0) per_round_cpu.push_back(d_cpu / g_cpu);
    }
    const double vs_direct = has("direct") ? gw.rps / medians[{"direct", n}].rps : 0;
    const double vs_noop = has("noop") ? gw.rps / medians[{"noop", n}].rps : 0;
    std::printf("\nN=%d: gateway / direct gRPC = %.3f [per round median %.3f]; gateway / no-op "
                "gRPC = %.3f [%.3f]; cpu-r (direct CPU per request / gateway path's) %.3f\n",
                n, vs_direct, Median(per_round_direct), vs_noop, Median(per_round_noop),
                Median(per_round_cpu));
    std::printf("N=%d: target gateway >= 0.6 x direct: %s; gateway p99 %.2f ms < 8 ms: %s\n", n,
                !has("direct") ? "n/a" : vs_direct >= 0.6 ? "MET" : "NOT MET", gw.p99,
                gw.p99 < 8 ? "MET" : "NOT MET");
    output.Json(absl::StrFormat(
        R"({"bench":"gateway_load","date":"%s","part":"ratio","connections":%d,"rounds":%d,)"
        R"("gateway_over_direct":%.3f,"gateway_over_direct_per_round_median":%.3f,)"
        R"("gateway_over_noop":%.3f,"gateway_over_noop_per_round_median":%.3f,)"
        R"("cpu_ratio":%.3f,"gateway_p99_ms":%.3f,"throughput_target_met":%s,)"
        R"("p99_target_met":%s,"all_responses_ok":%s})",
        Today(), n, rounds, vs_direct, Median(per_round_direct), vs_noop,
        Median(per_round_noop), Median(per_round_cpu), gw.p99, vs_direct >= 0.6 ? "true" : "false",
        gw.p99 < 8 ? "true" : "false", all_clean ? "true" : "false"));
  }

  // Memory: idle, the largest VmRSS seen under load, VmHWM at the end.
  std::printf("\n%-14s %10s %12s %12s %12s\n", "daemon", "idle RSS", "loaded RSS", "end HWM",
              "idle < 15");
  std::vector<std::string> parts;
  for (const Watched& w : bench.watched()) {
    const Memory end = ReadMemory(w.pid);
    const Memory& at_idle = idle[w.name];
    std::printf("%-14s %7.2f MiB %9.2f MiB %9.2f MiB %12s\n", w.name.c_str(), at_idle.rss,
                loaded_rss_max[w.name], end.hwm, at_idle.rss < 15 ? "MET" : "NOT MET");
    parts.push_back(absl::StrFormat(
        R"("%s":{"idle":%s,"loaded_rss_max_mib":%.2f,"end":%s,"idle_target_met":%s})", w.name,
        MemoryJson(at_idle), loaded_rss_max[w.name], MemoryJson(end),
        at_idle.rss < 15 ? "true" : "false"));
  }
  output.Json(absl::StrFormat(R"({"bench":"gateway_load","date":"%s","part":"memory",%s})",
                              Today(), absl::StrJoin(parts, ",")));
  if (!all_clean) std::printf("\nSOME WINDOWS HAD ERRORS (see ERRORS above)\n");

  // Clean up: the box through docker-svc, then the daemons.
  {
    auto channel = OrDie(ConnectChannel(host.boxes_address()));
    auto stub = boxv1::Boxes::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    boxv1::StopRequest request;
    request.set_box_id(box_id);
    boxv1::StopResponse response;
    grpc::Status status = stub->Stop(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "gateway_load: Stop %s: %s\n", box_id.c_str(),
                   status.error_message().c_str());
    } else {
      G().container.clear();
    }
  }
  if (const std::string keep = absl::GetFlag(FLAGS_keep_logs); !keep.empty()) {
    std::error_code error;
    std::filesystem::create_directories(keep, error);
    for (const char* log : {"gateway.log", "docker-svc.log", "allocator.log"}) {
      std::filesystem::copy_file(dir.File(log), keep + "/" + log,
                                 std::filesystem::copy_options::overwrite_existing, error);
    }
  }
  host.Stop();
  if (!G().container.empty()) {
    RunToFile({"docker", "rm", "-f", "-v", G().container}, "/dev/null");
  }
  G().temp_dir.clear();
  return all_clean ? 0 : 1;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gateway_load: the gateway (wrk over keep-alive TLS) against the same RPC over gRPC, "
      "and the daemons' memory");
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  berth::bench::CatchInterrupts();
  return berth::bench::Main();
}
