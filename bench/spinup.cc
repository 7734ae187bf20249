// spinup: how long a box takes to come up through Berth, against `docker run -d` of the same
// container.
//
// It starts the allocator-svc and docker-svc binaries built alongside it (sockets, state, app
// profile, mapping directories and logs in a fresh temporary directory) against the host's
// real dockerd, and measures, interleaved so that both sides see the same machine:
//
//   berth_running  Boxes/Create(app "test-box", a user, wait_for_ready=false): the call's time,
//                  i.e. until the container is started.
//   berth_ready    Boxes/Create(..., wait_for_ready=true): until the box has written its
//                  readiness marker and docker-svc has seen it.
//   cli            `docker run -d` of the same container (same image, port bindings, TTY
//                  device, mapping-directory bind, env, labels, limits, capabilities; built
//                  from docker-svc's own ContainerSpecFor) with the mapping files written
//                  beforehand (untimed): fork/exec -> exit ("running"), and fork/exec -> the
//                  marker file appears in the bind directory ("ready", seen through inotify).
//   api            the same container through the Engine API (POST create + POST start over
//                  docker.sock with docker-svc's own libcurl client): "running" when start
//                  returns, "ready" when the marker appears. Shows what the CLI itself costs.
//
// The host ports and TTY of a baseline container come from the same allocator (a lease that
// is reserved before and released after, untimed), so both sides use the same kind of
// resources and never collide. Then --concurrency spin-ups at once of each kind, wall time
// from the common start to the last return (and to the last marker).
//
// Prints tables and one JSON object per measurement on a line of its own (also appended to
// --json_out). Every box and container it made is removed, also on failure or Ctrl-C.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/daemon_start.h"
#include "bench/json_output.h"
#include "bench/stop_signals.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/temp_dir.h"
#include "docker-svc/boxes/app_profiles.h"
#include "docker-svc/boxes/box_spec.h"
#include "docker-svc/boxes/mapping_dir.h"
#include "docker-svc/engine/curl_docker_client.h"
#include "docker-svc/engine/docker_client.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"

extern char** environ;

ABSL_FLAG(int32_t, rounds, 20,
          "single spin-up rounds; each round times berth_running, cli, berth_ready and api once");
ABSL_FLAG(int32_t, warmup_rounds, 1, "untimed rounds before the single spin-ups");
ABSL_FLAG(int32_t, concurrent_rounds, 3,
          "rounds of --concurrency spin-ups at once (each kind once per round); 0 = none");
ABSL_FLAG(int32_t, concurrency, 20, "spin-ups started at once in a concurrent round");
ABSL_FLAG(absl::Duration, settle, absl::Milliseconds(500),
          "pause after each single spin-up's cleanup, before the next timed one");
ABSL_FLAG(absl::Duration, concurrent_settle, absl::Seconds(3),
          "pause after each concurrent batch's cleanup");
ABSL_FLAG(absl::Duration, ready_timeout, absl::Seconds(30),
          "how long a baseline container may take to write its readiness marker");
ABSL_FLAG(std::string, docker_cli, "/usr/bin/docker", "the docker CLI of the baseline");
ABSL_FLAG(std::string, docker_socket, "/var/run/docker.sock", "the Docker engine's socket");
ABSL_FLAG(std::string, app_profile, "",
          "app profile to spin up (a <name>.textproto); default: deploy/apps/test-box.textproto");
ABSL_FLAG(std::string, docker_svc_args, "", "extra docker-svc flags, comma-separated");
ABSL_FLAG(std::string, json_out, "", "also append the JSON lines to this file");
ABSL_FLAG(std::string, keep_logs, "",
          "copy allocator.log and docker-svc.log into this directory at the end");
namespace berth::bench {
namespace {

using ::berth::bench::LogTail;
using ::berth::bench::Today;

namespace boxv1 = ::berth::box::v1;
using Clock = std::chrono::steady_clock;
using berth::docker::ContainerSpec;
using berth::docker::DockerClient;

constexpr char kUserId[] = "spinup-bench";
// Labels of the baseline containers: Berth's own (berth.*) would make docker-svc treat them as
// boxes without a record and remove them.
constexpr char kBaselineLabelPrefix[] = "berth-bench.";
constexpr char kRunLabel[] = "berth-bench.run";

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time (user + system, all threads) process `pid` used so far, in ms; 0 when unreadable.
double ProcessCpuMs(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  // After "pid (comm) ": field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
  double utime = 0;
  double stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return 0;
  }
  return (utime + stime) * 1e3 / static_cast<double>(sysconf(_SC_CLK_TCK));
}


// ---------------------------------------------------------------------------------------------
// What to clean up, also from Die() (which skips destructors).

struct Global {
  absl::Mutex mu;
  std::set<std::string> containers ABSL_GUARDED_BY(mu);  // names, Berth's and ours
  DockerClient* docker = nullptr;
  berth::testing::DaemonProcess* docker_svc = nullptr;
  berth::testing::DaemonProcess* allocator = nullptr;
  std::string temp_dir;
  std::string docker_svc_log;
  std::atomic<bool> dying{false};
};
Global& G() {
  static Global* const g = new Global;
  return *g;
}

void Track(const std::string& name) {
  absl::MutexLock lock(&G().mu);
  G().containers.insert(name);
}
void Untrack(const std::string& name) {
  absl::MutexLock lock(&G().mu);
  G().containers.erase(name);
}


// Removes every container this run made (docker-svc first, so that it does not race us).
int RemoveTracked() {
  std::set<std::string> names;
  {
    absl::MutexLock lock(&G().mu);
    names = G().containers;
  }
  int removed = 0;
  for (const std::string& name : names) {
    if (G().docker == nullptr) break;
    absl::Status status = G().docker->RemoveContainer(name, /*force=*/true, /*remove_volumes=*/true);
    if (status.ok()) ++removed;
    if (status.ok() || absl::IsNotFound(status)) Untrack(name);
  }
  return removed;
}

[[noreturn]] void Die(const std::string& message) {
  if (G().dying.exchange(true)) {
    // Another thread is dying already; let it finish.
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::fprintf(stderr, "spinup: FATAL: %s\n", message.c_str());
  if (!G().docker_svc_log.empty()) {
    std::fprintf(stderr, "docker-svc log (tail):\n%s", LogTail(G().docker_svc_log, 30).c_str());
  }
  std::fflush(stderr);
  if (G().docker_svc != nullptr) G().docker_svc->Kill();
  const int removed = RemoveTracked();
  if (removed > 0) std::fprintf(stderr, "spinup: removed %d leftover containers\n", removed);
  if (G().allocator != nullptr) G().allocator->Kill();
  if (!G().temp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(G().temp_dir, ignored);
  }
  std::fflush(stderr);
  std::_Exit(2);
}

// ---------------------------------------------------------------------------------------------
// Statistics.

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// Nearest-rank percentile.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::string SamplesJson(const std::vector<double>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ",", [](std::string* out, double x) {
                        absl::StrAppendFormat(out, "%.1f", x);
                      }),
                      "]");
}

std::string StatsJson(const std::vector<double>& v) {
  if (v.empty()) return "null";
  return absl::StrFormat(R"({"n":%d,"min":%.1f,"median":%.1f,"p90":%.1f,"max":%.1f,"samples":%s})",
                         v.size(), *std::min_element(v.begin(), v.end()), Median(v),
                         Percentile(v, 0.9), *std::max_element(v.begin(), v.end()), SamplesJson(v));
}


// ---------------------------------------------------------------------------------------------
// Readiness markers of baseline containers, seen through inotify on their mapping directories.

class MarkerWatch {
 public:
  MarkerWatch() {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0 || pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) {
      Die(absl::StrCat("inotify: ", std::strerror(errno)));
    }
    thread_ = std::thread([this] { Loop(); });
  }
  ~MarkerWatch() {
    (void)!write(wake_[1], "x", 1);
    thread_.join();
    close(fd_);
    close(wake_[0]);
    close(wake_[1]);
  }

  // Watches `dir` for the file `name` (created or renamed into it); returns a handle.
  int Watch(const std::string& dir, const std::string& name) {
    const int wd = inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO);
    if (wd < 0) Die(absl::StrCat("inotify_add_watch ", dir, ": ", std::strerror(errno)));
    absl::MutexLock lock(&mu_);
    watches_[wd] = Entry{name, std::nullopt};
    if (access(absl::StrCat(dir, "/", name).c_str(), F_OK) == 0) watches_[wd].seen = Clock::now();
    return wd;
  }

  // When the file appeared; nullopt when it has not by `deadline`.
  std::optional<Clock::time_point> Wait(int wd, Clock::time_point deadline) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = watches_.find(wd);
      return it == watches_.end() || it->second.seen.has_value();
    };
    mu_.AwaitWithDeadline(absl::Condition(&seen),
                          absl::Now() + absl::FromChrono(deadline - Clock::now()));
    auto it = watches_.find(wd);
    if (it == watches_.end()) return std::nullopt;
    return it->second.seen;
  }

  void Forget(int wd) {
    inotify_rm_watch(fd_, wd);
    absl::MutexLock lock(&mu_);
    watches_.erase(wd);
  }

 private:
  struct Entry {
    std::string name;
    std::optional<Clock::time_point> seen;
  };

  void Loop() {
    alignas(struct inotify_event) char buffer[64 * 1024];
    while (true) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      const Clock::time_point now = Clock::now();
      if (fds[1].revents != 0) return;
      while (true) {
        const ssize_t n = read(fd_, buffer, sizeof(buffer));
        if (n <= 0) break;
        absl::MutexLock lock(&mu_);
        for (char* p = buffer; p < buffer + n;) {
          const auto* event = reinterpret_cast<const struct inotify_event*>(p);
          p += sizeof(struct inotify_event) + event->len;
          if (event->len == 0) continue;
          auto it = watches_.find(event->wd);
          if (it == watches_.end() || it->second.seen.has_value()) continue;
          if (it->second.name == event->name) it->second.seen = now;
        }
      }
    }
  }

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  absl::Mutex mu_;
  std::map<int, Entry> watches_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------------------------
// The host: allocator-svc and docker-svc in a temporary directory.

std::vector<std::string> SplitArgs(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

class Host {
 public:
  explicit Host(const berth::testing::TempDir& dir) : dir_(dir) {}

  void Start(const std::string& profile_path) {
    std::error_code error;
    for (const char* sub : {"apps", "boxes", "baseline"}) {
      std::filesystem::create_directories(dir_.File(sub), error);
      if (error) Die(absl::StrCat("mkdir ", dir_.File(sub), ": ", error.message()));
    }
    const std::string profile_name = std::filesystem::path(profile_path).filename();
    std::filesystem::copy_file(profile_path, dir_.File("apps/" + profile_name), error);
    if (error) Die(absl::StrCat("copy ", profile_path, ": ", error.message()));
    absl::StatusOr<docker::AppCatalog> catalog = docker::LoadAppProfiles(dir_.File("apps"));
    if (!catalog.ok()) Die(absl::StrCat("app profile: ", catalog.status().ToString()));
    catalog_ = std::make_unique<docker::AppCatalog>(*std::move(catalog));
    if (catalog_->size() != 1) Die("expected exactly one app profile");
    app_ = catalog_->names()[0];
    profile_ = catalog_->Find(app_);

    // Ports for --concurrency boxes and as many baseline containers, twice over.
    const int port_count =
        std::max(64, 4 * profile_->ports_size() * absl::GetFlag(FLAGS_concurrency));
    const uint16_t from = static_cast<uint16_t>(21000 + (getpid() * 131) % 9000);
    std::optional<uint16_t> begin = berth::testing::FindFreePortRange(port_count, from, 32768);
    if (!begin) begin = berth::testing::FindFreePortRange(port_count, 20000, 32768);
    if (!begin) Die(absl::StrCat("no ", port_count, " free ports in 20000-32767"));
    port_range_ = absl::StrCat(*begin, "-", *begin + port_count);

    berth::testing::DaemonProcess::Options allocator;
    allocator.binary = berth::testing::DaemonBinary("allocator-svc");
    allocator.args = {absl::StrCat("--listen=", allocator_address()),
                      absl::StrCat("--db=", dir_.File("allocator.db")),
                      absl::StrCat("--port_range=", port_range_), "--tty_range=10-64"};
    allocator.log_path = dir_.File("allocator.log");
    allocator_ = StartDaemon(allocator, allocator_address(), "allocator-svc");
    G().allocator = allocator_.get();

    berth::testing::DaemonProcess::Options boxes;
    boxes.binary = berth::testing::DaemonBinary("docker-svc");
    boxes.args = {absl::StrCat("--listen=", boxes_address()),
                  absl::StrCat("--allocator=", allocator_address()),
                  absl::StrCat("--docker_socket=", absl::GetFlag(FLAGS_docker_socket)),
                  absl::StrCat("--apps_dir=", dir_.File("apps")),
                  absl::StrCat("--boxes_dir=", dir_.File("boxes"))};
    for (std::string& arg : SplitArgs(absl::GetFlag(FLAGS_docker_svc_args))) {
      boxes.args.push_back(std::move(arg));
    }
    boxes.log_path = dir_.File("docker-svc.log");
    G().docker_svc_log = boxes.log_path;
    docker_svc_ = StartDaemon(boxes, boxes_address(), "docker-svc");
    G().docker_svc = docker_svc_.get();
    docker_args_ = boxes.args;
    allocator_args_ = allocator.args;
  }

  void Stop() {
    G().docker_svc = nullptr;
    G().allocator = nullptr;
    for (auto* daemon : {&docker_svc_, &allocator_}) {
      if (*daemon == nullptr) continue;
      absl::StatusOr<int> code = (*daemon)->Terminate(absl::Seconds(30));
      if (!code.ok() || *code != 0) {
        std::fprintf(stderr, "spinup: a daemon did not stop cleanly: %s\n",
                     code.ok() ? absl::StrCat("exit code ", *code).c_str()
                               : code.status().ToString().c_str());
      }
      daemon->reset();
    }
  }

  std::string allocator_address() const { return "unix:" + dir_.File("allocator.sock"); }
  std::string boxes_address() const { return "unix:" + dir_.File("boxes.sock"); }
  std::string baseline_dir() const { return dir_.File("baseline"); }
  std::string docker_svc_log() const { return dir_.File("docker-svc.log"); }
  std::string allocator_log() const { return dir_.File("allocator.log"); }
  const std::string& app() const { return app_; }
  const boxv1::AppProfile& profile() const { return *profile_; }
  const std::string& port_range() const { return port_range_; }
  const std::vector<std::string>& docker_svc_args() const { return docker_args_; }
  const std::vector<std::string>& allocator_args() const { return allocator_args_; }
  pid_t docker_svc_pid() const { return docker_svc_ ? docker_svc_->pid() : -1; }
  pid_t allocator_pid() const { return allocator_ ? allocator_->pid() : -1; }

 private:
  static std::unique_ptr<berth::testing::DaemonProcess> StartDaemon(
      const berth::testing::DaemonProcess::Options& options, const std::string& address,
      const char* what) {
    absl::StatusOr<std::unique_ptr<berth::testing::DaemonProcess>> daemon =
        berth::bench::StartServingDaemon(options, address, what);
    if (!daemon.ok()) Die(std::string(daemon.status().message()));
    return *std::move(daemon);
  }

  const berth::testing::TempDir& dir_;
  std::unique_ptr<docker::AppCatalog> catalog_;
  std::string app_;
  const boxv1::AppProfile* profile_ = nullptr;
  std::string port_range_;
  std::unique_ptr<berth::testing::DaemonProcess> allocator_;
  std::unique_ptr<berth::testing::DaemonProcess> docker_svc_;
  std::vector<std::string> docker_args_;
  std::vector<std::string> allocator_args_;
};

// ---------------------------------------------------------------------------------------------
// One spin-up of each kind.

enum class Kind { kBerthRunning, kBerthReady, kCli, kApi };
constexpr Kind kKinds[] = {Kind::kBerthRunning, Kind::kCli, Kind::kBerthReady, Kind::kApi};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kBerthRunning: return "berth_running";
    case Kind::kBerthReady: return "berth_ready";
    case Kind::kCli: return "cli";
    case Kind::kApi: return "api";
  }
  return "?";
}
const char* KindShort(Kind kind) {
  switch (kind) {
    case Kind::kBerthRunning: return "brun";
    case Kind::kBerthReady: return "brdy";
    case Kind::kCli: return "cli";
    case Kind::kApi: return "api";
  }
  return "?";
}
bool IsBerth(Kind kind) { return kind == Kind::kBerthRunning || kind == Kind::kBerthReady; }

// The result of one spin-up. Times are from its own start (for a concurrent one: from the
// batch's common start).
struct Sample {
  std::string error;          // empty: fine
  double return_ms = 0;       // until the call (RPC, CLI process, API start) returned
  double ready_ms = -1;       // baselines: until the marker appeared
  double create_ms = -1;      // api: POST create alone
  double server_ms = -1;      // berth: the box's started_at - created_at (docker-svc's clock)
  double cpu_ms = -1;         // cli: the docker CLI process's own CPU (user + system)
  Clock::time_point end;      // when the call returned
  Clock::time_point ready_at;
};

// A baseline container, prepared (untimed): a lease of the same resources a box gets, its
// mapping directory with the startup files, the spec docker-svc would use, a marker watch.
struct Baseline {
  std::string id;    // lease box id and container name
  std::string dir;   // mapping directory
  ContainerSpec spec;
  int watch = -1;
  double reserve_ms = 0;  // allocator Reserve (untimed preparation)
  double files_ms = 0;    // mapping files (untimed preparation)
};

// Exactly the container docker-svc makes for `record`'s box, but named after the box id and
// with labels of our own: docker-svc removes containers that carry its labels (berth.*) and are
// no box of its.
ContainerSpec BaselineSpec(const boxv1::AppProfile& profile,
                           const docker::internal::BoxRecord& record, const std::string& dir,
                           const std::string& tag) {
  ContainerSpec spec = docker::ContainerSpecFor(
      profile, record, std::filesystem::path(dir).parent_path().string());
  // The baseline's mapping files are written before it starts, so they are a bind of a
  // directory of the bench's instead of the box's own tmpfs volume.
  spec.tmpfs_volumes.clear();
  spec.binds.push_back(absl::StrCat(dir, ":", profile.mappings_dir()));
  spec.name = record.box().box_id();
  std::map<std::string, std::string> labels;
  for (const auto& [key, value] : spec.labels) {
    std::string renamed = key;
    if (absl::StartsWith(renamed, "berth.")) renamed = kBaselineLabelPrefix + renamed.substr(6);
    labels[renamed] = value;
  }
  labels[kRunLabel] = tag;
  spec.labels = std::move(labels);
  return spec;
}

class Bench {
 public:
  Bench(Host& host, DockerClient& docker, MarkerWatch& markers, std::string tag)
      : host_(host), docker_(docker), markers_(markers), tag_(std::move(tag)),
        leases_(host.allocator_address(), absl::Seconds(30)) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_ = grpc::CreateCustomChannel(host.boxes_address(), grpc::InsecureChannelCredentials(),
                                         args);
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      Die("cannot connect to docker-svc");
    }
    boxes_ = boxv1::Boxes::NewStub(channel_);
  }

  std::string Id(Kind kind, int round, int i) const {
    return absl::StrFormat("%s-%s-%d-%d", tag_, KindShort(kind), round, i);
  }

  // ---- Baselines.

  Baseline Prepare(const std::string& id) {
    Baseline b;
    b.id = id;
    const boxv1::AppProfile& profile = host_.profile();
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<allocator::v1::ReserveResponse> reserved =
        leases_.Reserve(docker::ReserveRequestFor(profile, id));
    if (!reserved.ok()) Die(absl::StrCat("reserve for ", id, ": ", reserved.status().ToString()));
    const Clock::time_point t1 = Clock::now();
    const allocator::v1::Lease& lease = reserved->lease();
    const std::string dir_path = absl::StrCat(host_.baseline_dir(), "/", id);
    std::error_code made;
    std::filesystem::create_directories(dir_path, made);
    if (made) Die(absl::StrCat("mapping dir ", id, ": ", made.message()));
    const docker::MappingDir dir(dir_path);
    docker::StartupParams params;
    params.tty = lease.tty();
    params.gpu_index = lease.gpu_index();
    params.ports.assign(lease.ports().begin(), lease.ports().end());
    if (absl::Status written = dir.WriteStartupParams(params); !written.ok()) {
      Die(absl::StrCat("mapping files ", id, ": ", written.ToString()));
    }
    const Clock::time_point t2 = Clock::now();
    b.dir = dir.path();
    b.reserve_ms = Millis(t1 - t0);
    b.files_ms = Millis(t2 - t1);

    docker::internal::BoxRecord record;
    boxv1::Box& box = *record.mutable_box();
    box.set_box_id(id);
    box.set_app(host_.app());
    box.set_user_id(kUserId);
    box.set_tty(lease.tty());
    box.set_gpu_index(lease.gpu_index());
    *box.mutable_ports() = lease.ports();
    record.mutable_request()->set_app(host_.app());
    record.mutable_request()->set_user_id(kUserId);
    if (!profile.aes_key_env().empty()) record.set_aes_key(docker::NewAesKey());
    b.spec = BaselineSpec(profile, record, b.dir, tag_);
    if (!profile.readiness_marker().empty()) {
      b.watch = markers_.Watch(b.dir, profile.readiness_marker());
    }
    return b;
  }

  // Removes the container, the watch, the directory and the lease (untimed).
  void Finish(Baseline& b) {
    absl::Status removed = docker_.RemoveContainer(b.id, /*force=*/true, /*remove_volumes=*/true);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      Die(absl::StrCat("docker rm ", b.id, ": ", removed.ToString()));
    }
    Untrack(b.id);
    if (b.watch >= 0) markers_.Forget(b.watch);
    std::error_code ignored;
    std::filesystem::remove_all(b.dir, ignored);
    absl::StatusOr<allocator::v1::ReleaseResponse> released = leases_.Release(b.id);
    if (!released.ok()) Die(absl::StrCat("release ", b.id, ": ", released.status().ToString()));
  }

  std::vector<std::string> CliArgs(const ContainerSpec& spec) const {
    std::vector<std::string> a = {absl::GetFlag(FLAGS_docker_cli), "run", "-d", "--name",
                                  spec.name};
    for (const std::string& env : spec.env) a.insert(a.end(), {"-e", env});
    for (const auto& [key, value] : spec.labels) {
      a.insert(a.end(), {"--label", absl::StrCat(key, "=", value)});
    }
    for (const docker::PortBinding& port : spec.ports) {
      a.insert(a.end(), {"-p", absl::StrCat(port.host_ip.empty() ? "" : port.host_ip + ":",
                                            port.host_port, ":", port.container_port, "/",
                                            port.protocol)});
    }
    for (const std::string& bind : spec.binds) a.insert(a.end(), {"-v", bind});
    for (const docker::DeviceMapping& device : spec.devices) {
      a.insert(a.end(), {"--device", absl::StrCat(device.path_on_host, ":",
                                                  device.path_in_container, ":",
                                                  device.cgroup_permissions)});
    }
    for (const std::string& cap : spec.cap_add) a.insert(a.end(), {"--cap-add", cap});
    for (const std::string& cap : spec.cap_drop) a.insert(a.end(), {"--cap-drop", cap});
    for (const std::string& opt : spec.security_opt) a.insert(a.end(), {"--security-opt", opt});
    if (spec.shm_size_bytes > 0) {
      a.insert(a.end(), {"--shm-size", absl::StrCat(spec.shm_size_bytes, "b")});
    }
    for (const auto& [path, options] : spec.tmpfs) {
      a.insert(a.end(), {"--tmpfs", options.empty() ? path : absl::StrCat(path, ":", options)});
    }
    if (spec.memory_bytes > 0) a.insert(a.end(), {"--memory", absl::StrCat(spec.memory_bytes, "b")});
    if (spec.nano_cpus > 0) {
      a.insert(a.end(), {"--cpus", absl::StrFormat("%g", static_cast<double>(spec.nano_cpus) / 1e9)});
    }
    if (spec.pids_limit > 0) a.insert(a.end(), {"--pids-limit", absl::StrCat(spec.pids_limit)});
    if (!spec.stop_signal.empty()) a.insert(a.end(), {"--stop-signal", spec.stop_signal});
    if (spec.stop_timeout_seconds > 0) {
      a.insert(a.end(), {"--stop-timeout", absl::StrCat(spec.stop_timeout_seconds)});
    }
    a.push_back(spec.image);
    a.insert(a.end(), spec.cmd.begin(), spec.cmd.end());
    return a;
  }

  // `docker run -d`: fork/exec to exit, measured from `start`.
  Sample RunCli(const Baseline& b, Clock::time_point start) {
    Sample s;
    std::vector<std::string> args = CliArgs(b.spec);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string err_path = absl::StrCat(b.dir, ".err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    Track(b.id);
    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (spawned != 0) {
      s.error = absl::StrCat("posix_spawn ", argv[0], ": ", std::strerror(spawned));
      return s;
    }
    int status = 0;
    rusage usage{};
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    s.end = Clock::now();
    s.cpu_ms = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
               (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
    s.return_ms = Millis(s.end - start);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::ifstream in(err_path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      s.error = absl::StrCat("docker run ", b.id, " failed (status ", status, "): ", text);
    }
    std::error_code ignored;
    std::filesystem::remove(err_path, ignored);
    return s;
  }

  // POST create + POST start, measured from `start`.
  Sample RunApi(const Baseline& b, Clock::time_point start) {
    Sample s;
    Track(b.id);
    absl::StatusOr<std::string> id = docker_.CreateContainer(b.spec);
    const Clock::time_point created = Clock::now();
    s.create_ms = Millis(created - start);
    if (!id.ok()) {
      s.error = id.status().ToString();
      return s;
    }
    absl::Status started = docker_.StartContainer(*id);
    s.end = Clock::now();
    s.return_ms = Millis(s.end - start);
    if (!started.ok()) s.error = started.ToString();
    return s;
  }

  // Fills in ready_ms of a baseline sample (the marker's arrival, from `start`).
  void WaitMarker(const Baseline& b, Clock::time_point start, Sample& s) {
    if (b.watch < 0 || !s.error.empty()) return;
    std::optional<Clock::time_point> seen = markers_.Wait(
        b.watch, Clock::now() + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_ready_timeout)));
    if (!seen) {
      s.error = absl::StrCat(b.id, ": no readiness marker within ",
                             absl::FormatDuration(absl::GetFlag(FLAGS_ready_timeout)));
      return;
    }
    s.ready_at = *seen;
    s.ready_ms = Millis(*seen - start);
  }

  // ---- Berth.

  Sample RunBerth(const std::string& box_id, bool wait_for_ready, Clock::time_point start) {
    Sample s;
    boxv1::CreateRequest request;
    request.set_app(host_.app());
    request.set_box_id(box_id);
    request.set_user_id(kUserId);
    request.set_wait_for_ready(wait_for_ready);
    boxv1::CreateResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    Track(docker::ContainerName(box_id));
    grpc::Status status = boxes_->Create(&context, request, &response);
    s.end = Clock::now();
    s.return_ms = Millis(s.end - start);
    if (!status.ok()) {
      s.error = absl::StrCat("Create ", box_id, ": ", status.error_code(), " ",
                             status.error_message());
      return s;
    }
    const boxv1::Box& box = response.box();
    if (box.has_created_at() && box.has_started_at()) {
      const double created = box.created_at().seconds() * 1e3 + box.created_at().nanos() / 1e6;
      const double started = box.started_at().seconds() * 1e3 + box.started_at().nanos() / 1e6;
      s.server_ms = started - created;
    }
    if (wait_for_ready && !box.has_ready_at()) s.error = absl::StrCat(box_id, ": not ready");
    return s;
  }

  // Stops a box (untimed); the call returns once container, lease and directory are gone.
  void StopBox(const std::string& box_id) {
    boxv1::StopRequest request;
    request.set_box_id(box_id);
    boxv1::StopResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    grpc::Status status = boxes_->Stop(&context, request, &response);
    if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
      Die(absl::StrCat("Stop ", box_id, ": ", status.error_message()));
    }
    Untrack(docker::ContainerName(box_id));
  }

  // ---- One timed spin-up of `kind`, with its cleanup.

  Sample One(Kind kind, int round) {
    const std::string id = Id(kind, round, 0);
    Sample s;
    if (IsBerth(kind)) {
      const double cpu0 = DaemonsCpuMs();
      s = RunBerth(id, kind == Kind::kBerthReady, Clock::now());
      s.cpu_ms = DaemonsCpuMs() - cpu0;
      StopBox(id);
    } else {
      Baseline b = Prepare(id);
      prep_reserve_ms_.push_back(b.reserve_ms);
      prep_files_ms_.push_back(b.files_ms);
      const Clock::time_point start = Clock::now();
      s = kind == Kind::kCli ? RunCli(b, start) : RunApi(b, start);
      WaitMarker(b, start, s);
      Finish(b);
    }
    if (!s.error.empty()) Die(absl::StrCat(KindName(kind), " round ", round, ": ", s.error));
    return s;
  }

  // ---- --concurrency spin-ups of `kind` at once, with their cleanup.

  struct Batch {
    std::vector<Sample> samples;
    double wall_return_ms = 0;  // common start -> last return
    double wall_ready_ms = -1;  // common start -> last marker (baselines)
    double prep_ms = 0;         // untimed preparation of the baselines
    double cleanup_ms = 0;
    double daemons_cpu_ms = 0;  // docker-svc + allocator-svc CPU from the start to the last return
  };

  Batch Many(Kind kind, int round, int n) {
    Batch batch;
    std::vector<Baseline> baselines;
    const Clock::time_point prep0 = Clock::now();
    if (!IsBerth(kind)) {
      for (int i = 0; i < n; ++i) baselines.push_back(Prepare(Id(kind, round, i)));
    }
    batch.prep_ms = Millis(Clock::now() - prep0);
    batch.samples.resize(n);

    // Every thread waits for the common start.
    std::mutex mu;
    std::condition_variable cv;
    bool go = false;
    Clock::time_point start;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return go; });
        }
        Sample& s = batch.samples[i];
        switch (kind) {
          case Kind::kBerthRunning: s = RunBerth(Id(kind, round, i), false, start); break;
          case Kind::kBerthReady: s = RunBerth(Id(kind, round, i), true, start); break;
          case Kind::kCli: s = RunCli(baselines[i], start); break;
          case Kind::kApi: s = RunApi(baselines[i], start); break;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let every thread park
    const double cpu0 = DaemonsCpuMs();
    {
      std::lock_guard<std::mutex> lock(mu);
      start = Clock::now();
      go = true;
    }
    cv.notify_all();
    for (std::thread& t : threads) t.join();
    batch.daemons_cpu_ms = DaemonsCpuMs() - cpu0;
    Clock::time_point last_return = start;
    for (const Sample& s : batch.samples) {
      if (!s.error.empty()) Die(absl::StrCat(KindName(kind), " x", n, " round ", round, ": ", s.error));
      last_return = std::max(last_return, s.end);
    }
    batch.wall_return_ms = Millis(last_return - start);
    if (!IsBerth(kind)) {
      Clock::time_point last_ready = start;
      for (int i = 0; i < n; ++i) {
        WaitMarker(baselines[i], start, batch.samples[i]);
        if (!batch.samples[i].error.empty()) Die(batch.samples[i].error);
        last_ready = std::max(last_ready, batch.samples[i].ready_at);
      }
      batch.wall_ready_ms = Millis(last_ready - start);
    }

    // Cleanup, in parallel (untimed).
    const Clock::time_point clean0 = Clock::now();
    threads.clear();
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        if (IsBerth(kind)) {
          StopBox(Id(kind, round, i));
        } else {
          Finish(baselines[i]);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    batch.cleanup_ms = Millis(Clock::now() - clean0);
    return batch;
  }

  // docker-svc's plus allocator-svc's CPU so far (10 ms clock ticks: average over many calls).
  double DaemonsCpuMs() const {
    return ProcessCpuMs(host_.docker_svc_pid()) + ProcessCpuMs(host_.allocator_pid());
  }

  const std::vector<double>& prep_reserve_ms() const { return prep_reserve_ms_; }
  const std::vector<double>& prep_files_ms() const { return prep_files_ms_; }

 private:
  Host& host_;
  DockerClient& docker_;
  MarkerWatch& markers_;
  const std::string tag_;
  berth::testing::AllocatorClient leases_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<boxv1::Boxes::Stub> boxes_;
  std::vector<double> prep_reserve_ms_;
  std::vector<double> prep_files_ms_;
};

// ---------------------------------------------------------------------------------------------
// Reporting.

std::string Verdict(double ratio) { return ratio <= 1.15 ? "MET" : "MISSED"; }

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

// Median of the per-round ratios a[i] / b[i] (paired samples of the same round).
double PairedRatio(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (b[i] > 0) r.push_back(a[i] / b[i]);
  }
  return Median(r);
}

// Lines of the docker-svc log at warn level or above.
std::vector<std::string> LogProblems(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    // "2026-11-22T10:00:00.123 W docker-svc[123]: ..." (common/logging.cc's pattern).
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (fields.size() > 2 && (fields[1] == "W" || fields[1] == "E" || fields[1] == "C")) {
      lines.push_back(line);
    }
  }
  return lines;
}

double LoadAverage1() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) {
  using namespace berth::bench;  // NOLINT
  namespace fs = std::filesystem;
  absl::SetProgramUsageMessage(
      "Spin-up latency of a Berth box (create -> running, -> ready) against `docker run -d` of "
      "the same container, single and --concurrency at once");
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const int concurrent_rounds = absl::GetFlag(FLAGS_concurrent_rounds);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  if (rounds < 1 || concurrent_rounds < 0 || concurrency < 1 || concurrency > 50) {
    Die("need --rounds >= 1, --concurrent_rounds >= 0 and 1 <= --concurrency <= 50 (the "
        "allocator's 55 TTYs)");
  }
  if (access(absl::GetFlag(FLAGS_docker_cli).c_str(), X_OK) != 0) {
    Die(absl::StrCat(absl::GetFlag(FLAGS_docker_cli), " is not executable (--docker_cli)"));
  }

  // Ctrl-C and SIGTERM clean up.
  berth::bench::DieOnStopSignals([](const std::string& message) { Die(message); });

  absl::StatusOr<std::unique_ptr<berth::docker::DockerClient>> docker =
      berth::docker::MakeCurlDockerClient(
          berth::docker::CurlDockerClientConfig{absl::GetFlag(FLAGS_docker_socket)});
  if (!docker.ok()) Die(docker.status().ToString());
  G().docker = docker->get();
  if (absl::Status ping = (*docker)->Ping(); !ping.ok()) {
    Die(absl::StrCat("dockerd: ", ping.ToString(), " (scripts/start-dockerd.sh)"));
  }
  std::string profile_path = absl::GetFlag(FLAGS_app_profile);
  if (profile_path.empty()) profile_path = std::string(BERTH_SOURCE_DIR) + "/deploy/apps/test-box.textproto";

  berth::testing::TempDir dir;
  if (dir.path().empty()) Die("cannot create a temporary directory under /tmp");
  G().temp_dir = dir.path();
  Output out(absl::GetFlag(FLAGS_json_out));
  const std::string tag = absl::StrFormat("sp%d", getpid());

  Host host(dir);
  host.Start(profile_path);
  MarkerWatch markers;
  Bench bench(host, **docker, markers, tag);

  std::string versions = "?";
  if (absl::StatusOr<std::string> v = (*docker)->Version(); v.ok()) versions = *v;
  std::printf("# spinup %s: %u cores, load average %.2f, dockerd API %s, app %s (%s)\n",
              Today().c_str(), std::thread::hardware_concurrency(), LoadAverage1(),
              versions.c_str(), host.app().c_str(), host.profile().image().c_str());
  std::printf("# docker-svc %s\n", absl::StrJoin(host.docker_svc_args(), " ").c_str());
  std::printf("# allocator-svc %s\n", absl::StrJoin(host.allocator_args(), " ").c_str());
  {
    berth::docker::internal::BoxRecord record;
    record.mutable_box()->set_box_id("example");
    record.mutable_box()->set_tty(10);
    for (const auto& port : host.profile().ports()) {
      auto* binding = record.mutable_box()->add_ports();
      binding->set_container_port(port.port());
      binding->set_protocol(port.protocol());
      binding->set_host_port(20000 + port.port() % 100);
    }
    record.mutable_box()->set_app(host.app());
    record.mutable_box()->set_user_id(kUserId);
    if (!host.profile().aes_key_env().empty()) record.set_aes_key("<32 hex digits>");
    const ContainerSpec spec =
        BaselineSpec(host.profile(), record, dir.File("baseline/example"), tag);
    std::printf("# baseline: %s\n", absl::StrJoin(bench.CliArgs(spec), " ").c_str());
  }
  std::fflush(stdout);

  // ---- Single spin-ups, interleaved: odd rounds B D B D, even rounds D B D B.
  for (int w = 1; w <= absl::GetFlag(FLAGS_warmup_rounds); ++w) {
    for (Kind kind : kKinds) bench.One(kind, -w);
  }
  std::map<Kind, std::vector<Sample>> single;
  for (int round = 1; round <= rounds; ++round) {
    std::vector<Kind> order(std::begin(kKinds), std::end(kKinds));
    if (round % 2 == 0) std::reverse(order.begin(), order.end());
    for (Kind kind : order) {
      single[kind].push_back(bench.One(kind, round));
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_settle)));
    }
    std::fprintf(stderr, "round %d/%d: berth %.0f/%.0f ms, cli %.0f/%.0f ms, api %.0f/%.0f ms "
                         "(running/ready), load %.2f\n",
                 round, rounds, single[Kind::kBerthRunning].back().return_ms,
                 single[Kind::kBerthReady].back().return_ms, single[Kind::kCli].back().return_ms,
                 single[Kind::kCli].back().ready_ms, single[Kind::kApi].back().return_ms,
                 single[Kind::kApi].back().ready_ms, LoadAverage1());
  }
  auto returns = [&](Kind kind) {
    std::vector<double> v;
    for (const Sample& s : single[kind]) v.push_back(s.return_ms);
    return v;
  };
  auto readies = [&](Kind kind) {
    std::vector<double> v;
    for (const Sample& s : single[kind]) v.push_back(s.ready_ms);
    return v;
  };
  auto field = [&](Kind kind, double Sample::*member) {
    std::vector<double> v;
    for (const Sample& s : single[kind]) v.push_back(s.*member);
    return v;
  };
  const std::vector<double> b_run = returns(Kind::kBerthRunning);
  const std::vector<double> b_rdy = returns(Kind::kBerthReady);
  const std::vector<double> cli_run = returns(Kind::kCli);
  const std::vector<double> cli_rdy = readies(Kind::kCli);
  const std::vector<double> api_run = returns(Kind::kApi);
  const std::vector<double> api_rdy = readies(Kind::kApi);
  const std::vector<double> api_create = field(Kind::kApi, &Sample::create_ms);
  const std::vector<double> b_run_server = field(Kind::kBerthRunning, &Sample::server_ms);
  const std::vector<double> b_run_cpu = field(Kind::kBerthRunning, &Sample::cpu_ms);
  const std::vector<double> b_rdy_cpu = field(Kind::kBerthReady, &Sample::cpu_ms);
  const std::vector<double> cli_cpu = field(Kind::kCli, &Sample::cpu_ms);

  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  auto emit = [&](const char* measurement, const char* berth_kind, const std::vector<double>& b,
                  const char* base_kind, const std::vector<double>& d) {
    out.Json(absl::StrFormat(
        R"({"bench":"spinup","date":"%s","part":"single","measurement":"%s","rounds":%d,)"
        R"("berth":"%s","berth_ms":%s,"baseline":"%s","baseline_ms":%s,)"
        R"("ratio_of_medians":%.3f,"median_paired_ratio":%.3f,"cores":%d})",
        Today(), measurement, rounds, berth_kind, StatsJson(b), base_kind, StatsJson(d),
        Ratio(Median(b), Median(d)), PairedRatio(b, d), cores));
  };
  emit("running_vs_cli", "berth_running", b_run, "cli_running", cli_run);
  emit("ready_vs_cli", "berth_ready", b_rdy, "cli_ready", cli_rdy);
  emit("running_vs_api", "berth_running", b_run, "api_running", api_run);
  emit("ready_vs_api", "berth_ready", b_rdy, "api_ready", api_rdy);
  out.Json(absl::StrFormat(
      R"({"bench":"spinup","date":"%s","part":"single","measurement":"parts","rounds":%d,)"
      R"("api_create_ms":%s,"berth_server_create_to_started_ms":%s,)"
      R"("baseline_prep_reserve_ms":%s,"baseline_prep_mapping_files_ms":%s,)"
      R"("daemons_cpu_ms_per_create_running":%.1f,"daemons_cpu_ms_per_create_ready":%.1f,)"
      R"("cli_process_cpu_ms":%s,"cores":%d})",
      Today(), rounds, StatsJson(api_create), StatsJson(b_run_server),
      StatsJson(bench.prep_reserve_ms()), StatsJson(bench.prep_files_ms()), Mean(b_run_cpu),
      Mean(b_rdy_cpu), StatsJson(cli_cpu), cores));

  std::printf("\nsingle spin-ups, %d rounds (ms)        median     p90     min     max\n", rounds);
  auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("  %-34s %7.1f %7.1f %7.1f %7.1f\n", name, Median(v), Percentile(v, 0.9),
                *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
  };
  row("berth create -> running", b_run);
  row("docker run -d (CLI exit)", cli_run);
  row("API create+start", api_run);
  row("  of which API create", api_create);
  row("berth create -> ready (RPC)", b_rdy);
  row("docker run -d -> marker", cli_rdy);
  row("API create+start -> marker", api_rdy);
  row("berth created_at -> started_at", b_run_server);
  row("baseline prep: allocator Reserve", bench.prep_reserve_ms());
  row("baseline prep: mapping files", bench.prep_files_ms());
  row("docker CLI process CPU", cli_cpu);
  std::printf("  %-34s %7.1f (mean; running) %.1f (ready)\n", "docker-svc+allocator CPU per Create",
              Mean(b_run_cpu), Mean(b_rdy_cpu));
  std::printf("\nratios (ratio of medians; median of per-round ratios in brackets)\n");
  auto ratio_row = [](const char* name, const std::vector<double>& b, const std::vector<double>& d,
                      bool target) {
    const double r = Ratio(Median(b), Median(d));
    std::printf("  %-40s %.3f  [%.3f]%s\n", name, r, PairedRatio(b, d),
                target ? absl::StrCat("   target <= 1.15: ", Verdict(r)).c_str() : "");
  };
  ratio_row("create->running / docker run -d", b_run, cli_run, true);
  ratio_row("create->ready / docker run -d -> marker", b_rdy, cli_rdy, true);
  ratio_row("create->running / API create+start", b_run, api_run, false);
  ratio_row("create->ready / API -> marker", b_rdy, api_rdy, false);
  std::fflush(stdout);

  // ---- Concurrent spin-ups.
  if (concurrent_rounds > 0) {
    std::map<Kind, std::vector<Bench::Batch>> batches;
    for (int round = 1; round <= concurrent_rounds; ++round) {
      std::vector<Kind> order(std::begin(kKinds), std::end(kKinds));
      if (round % 2 == 0) std::reverse(order.begin(), order.end());
      for (Kind kind : order) {
        std::this_thread::sleep_for(
            absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_concurrent_settle)));
        Bench::Batch batch = bench.Many(kind, 1000 + round, concurrency);
        std::vector<double> each;
        std::vector<double> each_ready;
        std::vector<double> each_server;
        std::vector<double> each_cpu;
        for (const Sample& s : batch.samples) {
          each.push_back(s.return_ms);
          if (s.ready_ms >= 0) each_ready.push_back(s.ready_ms);
          if (s.server_ms >= 0) each_server.push_back(s.server_ms);
          if (kind == Kind::kCli) each_cpu.push_back(s.cpu_ms);
        }
        out.Json(absl::StrFormat(
            R"({"bench":"spinup","date":"%s","part":"concurrent","kind":"%s","round":%d,)"
            R"("concurrency":%d,"wall_return_ms":%.1f,"wall_ready_ms":%.1f,"each_return_ms":%s,)"
            R"("each_ready_ms":%s,"each_server_create_to_started_ms":%s,"cli_process_cpu_ms":%s,)"
            R"("daemons_cpu_ms":%.0f,"prep_ms":%.1f,"cleanup_ms":%.1f,"load1":%.2f,"cores":%d})",
            Today(), KindName(kind), round, concurrency, batch.wall_return_ms, batch.wall_ready_ms,
            StatsJson(each), StatsJson(each_ready), StatsJson(each_server), StatsJson(each_cpu),
            batch.daemons_cpu_ms, batch.prep_ms, batch.cleanup_ms, LoadAverage1(), cores));
        std::fprintf(stderr, "concurrent round %d/%d: %s x%d: %.0f ms to the last return%s\n",
                     round, concurrent_rounds, KindName(kind), concurrency, batch.wall_return_ms,
                     batch.wall_ready_ms >= 0
                         ? absl::StrFormat(", %.0f ms to the last marker", batch.wall_ready_ms).c_str()
                         : "");
        batches[kind].push_back(std::move(batch));
      }
    }
    auto walls = [&](Kind kind, bool ready) {
      std::vector<double> v;
      for (const Bench::Batch& b : batches[kind]) v.push_back(ready ? b.wall_ready_ms : b.wall_return_ms);
      return v;
    };
    const std::vector<double> cb_run = walls(Kind::kBerthRunning, false);
    const std::vector<double> cb_rdy = walls(Kind::kBerthReady, false);
    const std::vector<double> ccli_run = walls(Kind::kCli, false);
    const std::vector<double> ccli_rdy = walls(Kind::kCli, true);
    const std::vector<double> capi_run = walls(Kind::kApi, false);
    const std::vector<double> capi_rdy = walls(Kind::kApi, true);
    auto emit_c = [&](const char* measurement, const std::vector<double>& b,
                      const std::vector<double>& d) {
      out.Json(absl::StrFormat(
          R"({"bench":"spinup","date":"%s","part":"concurrent","measurement":"%s",)"
          R"("concurrency":%d,"rounds":%d,"berth_wall_ms":%s,"baseline_wall_ms":%s,)"
          R"("ratio_of_medians":%.3f,"median_paired_ratio":%.3f,"cores":%d})",
          Today(), measurement, concurrency, concurrent_rounds, StatsJson(b), StatsJson(d),
          Ratio(Median(b), Median(d)), PairedRatio(b, d), cores));
    };
    emit_c("running_vs_cli", cb_run, ccli_run);
    emit_c("ready_vs_cli", cb_rdy, ccli_rdy);
    emit_c("running_vs_api", cb_run, capi_run);
    emit_c("ready_vs_api", cb_rdy, capi_rdy);

    std::printf("\n%d concurrent spin-ups, %d rounds: wall time (ms)  median     min     max   per round\n",
                concurrency, concurrent_rounds);
    auto crow = [](const char* name, const std::vector<double>& v) {
      std::printf("  %-40s %7.0f %7.0f %7.0f   %s\n", name, Median(v),
                  *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()),
                  absl::StrJoin(v, " ", [](std::string* o, double x) {
                    absl::StrAppendFormat(o, "%.0f", x);
                  }).c_str());
    };
    crow("berth Create x N -> all running", cb_run);
    crow("docker run -d x N -> all exited", ccli_run);
    crow("API create+start x N -> all returned", capi_run);
    crow("berth Create(wait_for_ready) x N", cb_rdy);
    crow("docker run -d x N -> all markers", ccli_rdy);
    crow("API x N -> all markers", capi_rdy);
    std::printf("\nratios (ratio of medians; median of per-round ratios in brackets)\n");
    ratio_row("N x create->running / N x docker run -d", cb_run, ccli_run, true);
    ratio_row("N x create->ready / N x docker run -> marker", cb_rdy, ccli_rdy, false);
    ratio_row("N x create->running / N x API", cb_run, capi_run, false);
    ratio_row("N x create->ready / N x API -> marker", cb_rdy, capi_rdy, false);
    std::fflush(stdout);
  }

  // ---- Cleanup and what docker-svc complained about.
  std::vector<std::string> problems = LogProblems(host.docker_svc_log());
  host.Stop();
  int leftovers = RemoveTracked();
  for (const char* label : {kRunLabel}) {
    absl::StatusOr<std::vector<berth::docker::ContainerSummary>> left =
        (*docker)->ListContainers({absl::StrCat(label, "=", tag)}, /*all=*/true);
    if (left.ok()) {
      for (const auto& c : *left) {
        (*docker)->RemoveContainer(c.id, true, true).IgnoreError();
        ++leftovers;
      }
    }
  }
  absl::StatusOr<std::vector<berth::docker::ContainerSummary>> left_boxes =
      (*docker)->ListContainers({absl::StrCat(berth::docker::kUserIdLabel, "=", kUserId)}, true);
  if (left_boxes.ok()) {
    for (const auto& c : *left_boxes) {
      (*docker)->RemoveContainer(c.id, true, true).IgnoreError();
      ++leftovers;
    }
  }
  std::printf("\n# docker-svc logged %zu warnings/errors%s\n", problems.size(),
              problems.empty() ? "" : ":");
  for (size_t i = 0; i < problems.size() && i < 10; ++i) std::printf("#   %s\n", problems[i].c_str());
  if (leftovers > 0) std::printf("# removed %d leftover containers\n", leftovers);
  std::printf("# load average at the end %.2f\n", LoadAverage1());
  if (!absl::GetFlag(FLAGS_keep_logs).empty()) {
    std::error_code ignored;
    fs::create_directories(absl::GetFlag(FLAGS_keep_logs), ignored);
    for (const std::string& log : {host.docker_svc_log(), host.allocator_log()}) {
      fs::copy_file(log, fs::path(absl::GetFlag(FLAGS_keep_logs)) / fs::path(log).filename(),
                    fs::copy_options::overwrite_existing, ignored);
    }
  }
  G().temp_dir.clear();
  return leftovers > 0 ? 1 : 0;
}
