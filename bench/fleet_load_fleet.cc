#include "bench/fleet_load_fleet.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/daemon_start.h"
#include "bench/proc_stats.h"

namespace berth::bench::fleet_load {
namespace {

namespace v1 = ::berth::box::v1;

// ---- the registry of what Die() undoes --------------------------------------------------------

struct Registry {
  absl::Mutex mu;
  std::set<pid_t> pids ABSL_GUARDED_BY(mu);
  pid_t postmaster ABSL_GUARDED_BY(mu) = 0;
  std::set<std::string> dirs ABSL_GUARDED_BY(mu);
};
Registry& R() {
  static Registry* const registry = new Registry;
  return *registry;
}

bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  // A zombie of ours is gone for this purpose; reap it.
  return waitpid(pid, nullptr, WNOHANG) == 0 || errno == ECHILD;
}

absl::Time ToAbsl(Clock::time_point at) {
  return absl::Now() + absl::FromChrono(at - Clock::now());
}

// The parent pid and CPU seconds of /proc/<pid>/stat; false when it cannot be read.
bool ReadStat(pid_t pid, pid_t* parent, double* cpu_s) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  // fields[0] is field 3 (state): ppid (4) is [1], utime (14) [11], stime (15) [12].
  double utime = 0;
  double stime = 0;
  int ppid = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[1], &ppid) ||
      !absl::SimpleAtod(fields[11], &utime) || !absl::SimpleAtod(fields[12], &stime)) {
    return false;
  }
  *parent = ppid;
  *cpu_s = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

}  // namespace

std::string FleetBoxProfile() {
  return absl::StrCat(
      "# fleet_load's app: the test box's ports, no TTY, no readiness marker.\n"
      "name: \"", kApp, "\"\n",
      "image: \"berth/test-box:latest\"\n"
      "ports { port: 32261 protocol: PROTOCOL_TCP }\n"
      "ports { port: 32262 protocol: PROTOCOL_TCP }\n"
      "ports { port: 32263 protocol: PROTOCOL_UDP }\n"
      "ports { port: 32273 protocol: PROTOCOL_TCP }\n"
      "env { key: \"BERTH_MAPPINGS_DIR\" value: \"/whist/resourceMappings\" }\n"
      "cap_drop: \"NET_RAW\"\n"
      "memory_bytes: 268435456\n"
      "cpus: 1\n"
      "pids_limit: 256\n"
      "aes_key_env: \"BERTH_AES_KEY\"\n"
      "stop_grace_seconds: 1\n"
      "config_timeout_seconds: 3600\n");
}

// ---- registry ---------------------------------------------------------------------------------

void RegisterPid(pid_t pid) {
  if (pid <= 0) return;
  absl::MutexLock lock(&R().mu);
  R().pids.insert(pid);
}
void UnregisterPid(pid_t pid) {
  absl::MutexLock lock(&R().mu);
  R().pids.erase(pid);
}
void RegisterPostmaster(pid_t pid) {
  absl::MutexLock lock(&R().mu);
  R().postmaster = pid;
}
void RegisterDir(const std::string& path) {
  if (path.empty()) return;
  absl::MutexLock lock(&R().mu);
  R().dirs.insert(path);
}
void UnregisterDir(const std::string& path) {
  absl::MutexLock lock(&R().mu);
  R().dirs.erase(path);
}

void CleanUpRegistered() {
  std::set<pid_t> pids;
  pid_t postmaster = 0;
  std::set<std::string> dirs;
  {
    absl::MutexLock lock(&R().mu);
    pids = R().pids;
    postmaster = R().postmaster;
    dirs = R().dirs;
  }
  for (pid_t pid : pids) kill(pid, SIGKILL);
  if (postmaster > 0) kill(postmaster, SIGQUIT);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (pid_t pid : pids) {
    while (Alive(pid) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  }
  while (postmaster > 0 && kill(postmaster, 0) == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (postmaster > 0 && kill(postmaster, 0) == 0) kill(postmaster, SIGKILL);
  for (const std::string& dir : dirs) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

void Die(const std::string& message) {
  static std::atomic<bool> dying{false};
  if (dying.exchange(true)) {
    while (true) absl::SleepFor(absl::Seconds(1));  // another thread is cleaning up
  }
  std::fprintf(stderr, "fleet_load: FATAL: %s\n", message.c_str());
  std::fflush(stderr);
  CleanUpRegistered();
  std::fflush(stdout);
  _exit(2);
}

// ---- HostWatch --------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<HostWatch>> HostWatch::Start(const std::string& address,
                                                            const std::string& host_id) {
  std::unique_ptr<HostWatch> watch(new HostWatch(host_id));
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  watch->stub_ = v1::Boxes::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments));
  watch->reader_ = watch->stub_->Watch(&watch->context_, v1::WatchRequest());
  watch->thread_ = std::thread([w = watch.get()] { w->Read(); });
  absl::MutexLock lock(&watch->mu_);
  auto started = [w = watch.get()]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
    return w->snapshot_done_ || w->ended_.has_value();
  };
  if (!watch->mu_.AwaitWithTimeout(absl::Condition(&started), absl::Seconds(20))) {
    return absl::DeadlineExceededError(absl::StrCat("no Watch snapshot from ", address));
  }
  if (watch->ended_.has_value()) {
    return absl::UnavailableError(absl::StrCat("Watch on ", address, ": ", *watch->ended_));
  }
  return watch;
}

HostWatch::~HostWatch() {
  context_.TryCancel();
  if (thread_.joinable()) thread_.join();
}

void HostWatch::Read() {
  v1::BoxEvent event;
  while (reader_->Read(&event)) {
    const Clock::time_point at = Clock::now();
    absl::MutexLock lock(&mu_);
    OnEvent(event, at);
  }
  const grpc::Status finished = reader_->Finish();
  absl::MutexLock lock(&mu_);
  ended_ = absl::StrCat("code ", finished.error_code(), ": ", finished.error_message());
}

void HostWatch::OnEvent(const v1::BoxEvent& event, Clock::time_point at) {
  const v1::Box& box = event.box();
  const std::string& id = box.box_id();
  switch (event.kind()) {
    case v1::BoxEvent::KIND_SNAPSHOT_DONE:
      snapshot_done_ = true;
      return;
    case v1::BoxEvent::KIND_SNAPSHOT:
    case v1::BoxEvent::KIND_CHANGED:
      if (box.user_id().empty()) {
        if (box.state() == v1::BOX_STATE_WAITING) {
          waiting_.insert(id);
          was_waiting_.insert(id);
        } else {
          waiting_.erase(id);
        }
        return;
      }
      waiting_.erase(id);
      if (auto held = holder_.find(id); held != holder_.end() && held->second != box.user_id()) {
        conflicts_.push_back(absl::StrCat(id, ": ", held->second, " then ", box.user_id()));
      }
      holder_[id] = box.user_id();
      if (box.state() == v1::BOX_STATE_ALLOCATED && allocated_.count(id) == 0) {
        allocated_[id] = Allocation{box.user_id(), at, was_waiting_.count(id) > 0};
      }
      return;
    case v1::BoxEvent::KIND_GONE:
      waiting_.erase(id);
      was_waiting_.erase(id);
      holder_.erase(id);
      return;
    default:
      return;
  }
}

std::optional<HostWatch::Allocation> HostWatch::WaitAllocated(const std::string& box_id,
                                                              Clock::time_point deadline) {
  absl::MutexLock lock(&mu_);
  auto seen = [this, &box_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return allocated_.count(box_id) > 0 || ended_.has_value();
  };
  mu_.AwaitWithDeadline(absl::Condition(&seen), ToAbsl(deadline));
  auto it = allocated_.find(box_id);
  if (it == allocated_.end()) return std::nullopt;
  return it->second;
}

std::optional<HostWatch::Allocation> HostWatch::Allocated(const std::string& box_id) const {
  absl::MutexLock lock(&mu_);
  auto it = allocated_.find(box_id);
  if (it == allocated_.end()) return std::nullopt;
  return it->second;
}

int HostWatch::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

int HostWatch::with_user() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(holder_.size());
}

std::vector<std::string> HostWatch::conflicts() const {
  absl::MutexLock lock(&mu_);
  return conflicts_;
}

std::optional<std::string> HostWatch::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

// ---- Fleet ------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Fleet>> Fleet::Start(const FleetOptions& options) {
  std::unique_ptr<Fleet> fleet(new Fleet(options));
  for (int i = 0; i < options.hosts; ++i) {
    auto host = std::make_unique<Host>();
    host->id = absl::StrCat(options.tag, "-", i);
    host->address = absl::StrCat("127.0.", i / 250, ".", i % 250 + 1, ":4678");
    if (host->engine_dir.path().empty()) return absl::InternalError("cannot make a temp dir");
    RegisterDir(host->engine_dir.path());

    fake_dockerd::FakeDockerdProcess::Options engine;
    engine.binary = options.fake_dockerd_binary;
    engine.socket_path = host->engine_dir.File("docker.sock");
    engine.volumes_dir = absl::StrCat(options.volumes_root, "/h", i);
    engine.log_path = host->engine_dir.File("fake_dockerd.log");
    absl::StatusOr<std::unique_ptr<fake_dockerd::FakeDockerdProcess>> started =
        fake_dockerd::FakeDockerdProcess::Start(engine);
    if (!started.ok()) {
      return absl::Status(started.status().code(),
                          absl::StrCat("fake_dockerd of ", host->id, ": ", started.status().message()));
    }
    host->engine = *std::move(started);
    RegisterPid(host->engine->process().pid());

    testing::BoxHostOptions box_options;
    box_options.max_boxes = options.max_boxes;
    // The fake engine binds no host port, so every host leases from the whole default range
    // (each real host has a port space of its own): the flag given last wins over BoxHost's
    // own small range. The allocator's probe still runs for each port and skips any that
    // another process holds.
    box_options.port_count = 8;
    box_options.allocator_flags = {"--port_range=20000-32768"};
    box_options.resync_interval = absl::Seconds(30);  // docker-svc's default
    box_options.profiles = {{kApp, FleetBoxProfile()}};
    box_options.docker_svc_flags = {absl::StrCat("--docker_socket=", engine.socket_path),
                                    absl::StrCat("--warm_pool=", kApp, "=", options.warm),
                                    "--log_level=info"};
    host->box_host = std::make_unique<testing::BoxHost>(box_options);
    RegisterDir(host->box_host->dir());
    if (!host->box_host->ok().ok()) return host->box_host->ok();
    if (absl::Status serving = host->box_host->Start(); !serving.ok()) {
      return absl::Status(serving.code(), absl::StrCat(host->id, ": ", serving.message()));
    }
    RegisterPid(host->box_host->allocator()->pid());
    RegisterPid(host->box_host->docker_svc()->pid());

    absl::StatusOr<std::unique_ptr<HostWatch>> watch =
        HostWatch::Start(host->box_host->boxes_address(), host->id);
    if (!watch.ok()) return watch.status();
    host->watch = *std::move(watch);
    fleet->hosts_.push_back(std::move(host));
  }
  for (std::unique_ptr<Host>& host : fleet->hosts_) {
    const std::string socket = "unix:" + host->box_host->dir() + "/fleet.sock";
    testing::DaemonProcess::Options agent;
    agent.binary = testing::DaemonBinary("fleet-agent");
    agent.args = {"--listen=" + socket,
                  "--boxes=" + host->box_host->boxes_address(),
                  "--database=" + options.conninfo,
                  "--host_id=" + host->id,
                  "--address=" + host->address,
                  "--heartbeat_interval=" + absl::FormatDuration(options.heartbeat_interval)};
    agent.log_path = host->agent_log();
    absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> started =
        StartServingDaemon(agent, socket, absl::StrCat("fleet-agent of ", host->id));
    if (!started.ok()) return started.status();
    host->agent = *std::move(started);
    RegisterPid(host->agent->pid());
  }
  return fleet;
}

Fleet::~Fleet() {
  for (std::unique_ptr<Host>& host : hosts_) {
    if (host->agent != nullptr) {
      const pid_t pid = host->agent->pid();
      (void)host->agent->Terminate(absl::Seconds(15));
      host->agent.reset();
      UnregisterPid(pid);
    }
  }
  for (std::unique_ptr<Host>& host : hosts_) {
    host->watch.reset();
    if (host->box_host != nullptr) {
      const pid_t allocator = host->box_host->allocator() ? host->box_host->allocator()->pid() : 0;
      const pid_t docker_svc = host->box_host->docker_svc() ? host->box_host->docker_svc()->pid() : 0;
      const std::string dir = host->box_host->dir();
      host->box_host.reset();  // SIGKILLs both daemons, removes the directory
      UnregisterPid(allocator);
      UnregisterPid(docker_svc);
      UnregisterDir(dir);
    }
    if (host->engine != nullptr) {
      const pid_t pid = host->engine->process().pid();
      (void)host->engine->Stop();  // removes its containers' volumes
      host->engine.reset();
      UnregisterPid(pid);
    }
    UnregisterDir(host->engine_dir.path());
  }
  hosts_.clear();
}

Fleet::Host* Fleet::HostById(const std::string& id) {
  for (std::unique_ptr<Host>& host : hosts_) {
    if (host->id == id) return host.get();
  }
  return nullptr;
}

std::map<std::string, std::vector<pid_t>> Fleet::Pids() const {
  std::map<std::string, std::vector<pid_t>> pids;
  for (const std::unique_ptr<Host>& host : hosts_) {
    if (host->agent) pids["fleet-agent"].push_back(host->agent->pid());
    if (host->box_host && host->box_host->docker_svc()) {
      pids["docker-svc"].push_back(host->box_host->docker_svc()->pid());
    }
    if (host->box_host && host->box_host->allocator()) {
      pids["allocator-svc"].push_back(host->box_host->allocator()->pid());
    }
    if (host->engine) pids["fake_dockerd"].push_back(host->engine->process().pid());
  }
  return pids;
}

// ---- CPU --------------------------------------------------------------------------------------

CpuSample SampleCpu(const Fleet& fleet, pid_t postmaster) {
  CpuSample sample;
  sample.at = Clock::now();
  for (const auto& [kind, pids] : fleet.Pids()) {
    for (pid_t pid : pids) sample.by_kind[kind][pid] = ProcessCpuSeconds(pid);
  }
  if (postmaster > 0) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
      int pid = 0;
      if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
      pid_t parent = 0;
      double cpu_s = 0;
      if (!ReadStat(pid, &parent, &cpu_s)) continue;
      if (pid == postmaster || parent == postmaster) sample.by_kind["postgres"][pid] = cpu_s;
    }
  }
  sample.by_kind["fleet_load"][getpid()] = SelfCpuSeconds();
  sample.host_busy_s = ReadHostCpu().busy / static_cast<double>(sysconf(_SC_CLK_TCK));
  return sample;
}

std::map<std::string, double> CpuBetween(const CpuSample& before, const CpuSample& after) {
  std::map<std::string, double> used;
  double accounted = 0;
  for (const auto& [kind, pids] : after.by_kind) {
    double sum = 0;
    auto earlier = before.by_kind.find(kind);
    for (const auto& [pid, cpu_s] : pids) {
      double start = 0;
      if (earlier != before.by_kind.end()) {
        if (auto it = earlier->second.find(pid); it != earlier->second.end()) start = it->second;
      }
      sum += std::max(0.0, cpu_s - start);
    }
    used[kind] = sum;
    accounted += sum;
  }
  used["other"] = std::max(0.0, (after.host_busy_s - before.host_busy_s) - accounted);
  return used;
}

pid_t PostmasterPid(const std::string& cluster_dir) {
  std::ifstream in(cluster_dir + "/data/postmaster.pid");
  std::string line;
  int pid = 0;
  if (!std::getline(in, line) || !absl::SimpleAtoi(line, &pid)) return 0;
  return pid;
}

}  // namespace berth::bench::fleet_load
