#include "testing_support/box_host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/grpc_status.h"
#include "common/testing/read_file.h"
#include "docker-svc/engine/curl_docker_client.h"
#include "testing_support/grpc_call.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;

// The last `lines` lines of `text`.
std::string Tail(const std::string& text, int lines) {
  size_t pos = text.size();
  for (int i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

std::string SourceDir() { return BERTH_SOURCE_DIR; }

std::string TestBoxProfileAs(const std::string& name) {
  const std::string text =
      ReadFileOrEmpty(absl::StrCat(SourceDir(), "/deploy/apps/test-box.textproto"));
  return absl::StrReplaceAll(text, {{"name: \"test-box\"", absl::StrCat("name: \"", name, "\"")}});
}

// ---------------------------------------------------------------------------------------------
// BoxesClient

BoxesClient::BoxesClient(const std::string& address, absl::Duration timeout)
    : timeout_(timeout), stub_(v1::Boxes::NewStub(NewTestChannel(address))) {}

absl::StatusOr<v1::CreateResponse> BoxesClient::Create(const v1::CreateRequest& request) {
  return CallWithDeadline(&v1::Boxes::Stub::Create, stub_.get(), request, timeout_);
}

absl::StatusOr<v1::Box> BoxesClient::Get(const std::string& box_id) {
  v1::GetRequest request;
  request.set_box_id(box_id);
  absl::StatusOr<v1::GetResponse> response =
      CallWithDeadline(&v1::Boxes::Stub::Get, stub_.get(), request, timeout_);
  if (!response.ok()) return response.status();
  return response->box();
}

absl::StatusOr<std::vector<v1::Box>> BoxesClient::List(const v1::ListRequest& request) {
  absl::StatusOr<v1::ListResponse> response =
      CallWithDeadline(&v1::Boxes::Stub::List, stub_.get(), request, timeout_);
  if (!response.ok()) return response.status();
  return std::vector<v1::Box>(response->boxes().begin(), response->boxes().end());
}

absl::StatusOr<v1::StopResponse> BoxesClient::Stop(const std::string& box_id,
                                                   const std::string& reason) {
  v1::StopRequest request;
  request.set_box_id(box_id);
  request.set_reason(reason);
  return CallWithDeadline(&v1::Boxes::Stub::Stop, stub_.get(), request, timeout_);
}

v1::CreateRequest CreateRequest(const std::string& app, const std::string& box_id,
                                const std::string& user_id) {
  v1::CreateRequest request;
  request.set_app(app);
  request.set_box_id(box_id);
  request.set_user_id(user_id);
  return request;
}

// ---------------------------------------------------------------------------------------------
// BoxWatcher

std::string DescribeEvent(const v1::BoxEvent& event) {
  std::string kind(absl::StripPrefix(v1::BoxEvent::Kind_Name(event.kind()), "KIND_"));
  if (event.kind() == v1::BoxEvent::KIND_SNAPSHOT_DONE) return kind;
  std::string line = absl::StrCat(
      kind, " ", event.box().box_id(),
      " state=", absl::StripPrefix(v1::BoxState_Name(event.box().state()), "BOX_STATE_"));
  if (!event.box().reason().empty()) absl::StrAppend(&line, " reason=", event.box().reason());
  if (event.kind() == v1::BoxEvent::KIND_GONE) {
    absl::StrAppend(&line, " exit=", event.exit_code(), " oom=", event.oom_killed(),
                    " run_time=", event.run_time().seconds(), "s");
  }
  return line;
}

absl::StatusOr<std::unique_ptr<BoxWatcher>> BoxWatcher::Start(const std::string& address,
                                                              absl::Duration timeout) {
  std::unique_ptr<BoxWatcher> watcher(new BoxWatcher());
  watcher->stub_ = v1::Boxes::NewStub(NewTestChannel(address));
  watcher->reader_ = watcher->stub_->Watch(&watcher->context_, v1::WatchRequest());
  watcher->thread_ = std::thread([w = watcher.get()] { w->Read(); });
  absl::StatusOr<ReceivedEvent> done = watcher->WaitFor(
      [](const v1::BoxEvent& event) { return event.kind() == v1::BoxEvent::KIND_SNAPSHOT_DONE; },
      timeout);
  if (!done.ok()) {
    return absl::Status(done.status().code(),
                        absl::StrCat("watch: no SNAPSHOT_DONE: ", done.status().message()));
  }
  return watcher;
}

BoxWatcher::~BoxWatcher() {
  context_.TryCancel();
  if (thread_.joinable()) thread_.join();
}

void BoxWatcher::Read() {
  v1::BoxEvent event;
  while (reader_->Read(&event)) {
    absl::MutexLock lock(&mu_);
    events_.push_back({event, absl::Now()});
  }
  grpc::Status status = reader_->Finish();
  absl::MutexLock lock(&mu_);
  ended_ = common::FromGrpcStatus(status);
}

std::vector<ReceivedEvent> BoxWatcher::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<v1::BoxEvent> BoxWatcher::EventsOf(const std::string& box_id) const {
  std::vector<v1::BoxEvent> of;
  absl::MutexLock lock(&mu_);
  for (const ReceivedEvent& received : events_) {
    if (received.event.kind() != v1::BoxEvent::KIND_SNAPSHOT_DONE &&
        received.event.box().box_id() == box_id) {
      of.push_back(received.event);
    }
  }
  return of;
}

absl::StatusOr<ReceivedEvent> BoxWatcher::WaitFor(
    const std::function<bool(const v1::BoxEvent&)>& predicate, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  size_t checked = 0;
  while (true) {
    for (; checked < events_.size(); ++checked) {
      if (predicate(events_[checked].event)) return events_[checked];
    }
    if (ended_.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the watch ended (", ended_->ToString(), ") without the event"));
    }
    if (absl::Now() >= deadline) break;
    // Wakes on every new event or the end of the stream.
    const size_t seen = events_.size();
    auto changed = [this, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return events_.size() != seen || ended_.has_value();
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
  }
  std::string seen;
  for (const ReceivedEvent& received : events_) {
    absl::StrAppend(&seen, "\n  ", DescribeEvent(received.event));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no such event after ", absl::FormatDuration(timeout), "; events:", seen));
}

absl::StatusOr<ReceivedEvent> BoxWatcher::WaitForGone(const std::string& box_id,
                                                      absl::Duration timeout) const {
  return WaitFor(
      [&box_id](const v1::BoxEvent& event) {
        return event.kind() == v1::BoxEvent::KIND_GONE && event.box().box_id() == box_id;
      },
      timeout);
}

std::optional<absl::Status> BoxWatcher::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

std::string BoxWatcher::Describe() const {
  std::string text;
  absl::MutexLock lock(&mu_);
  for (const ReceivedEvent& received : events_) {
    absl::StrAppend(&text, DescribeEvent(received.event), "\n");
  }
  if (ended_.has_value()) absl::StrAppend(&text, "(ended: ", ended_->ToString(), ")\n");
  return text;
}

// ---------------------------------------------------------------------------------------------
// BoxHost

BoxHost::BoxHost(BoxHostOptions options) : options_(std::move(options)) {
  if (dir_.path().empty()) {
    layout_ = absl::InternalError("cannot make a temp dir");
    return;
  }
  std::error_code error;
  std::filesystem::create_directories(apps_dir(), error);
  std::filesystem::create_directories(boxes_dir(), error);
  if (error) {
    layout_ = absl::InternalError(absl::StrCat("cannot make ", boxes_dir(), ": ", error.message()));
    return;
  }
  std::filesystem::copy_file(absl::StrCat(SourceDir(), "/deploy/apps/test-box.textproto"),
                             absl::StrCat(apps_dir(), "/test-box.textproto"), error);
  if (error) {
    layout_ =
        absl::InternalError(absl::StrCat("cannot copy test-box.textproto: ", error.message()));
    return;
  }
  for (const auto& [name, text] : options_.profiles) {
    layout_ = WriteTextFile(absl::StrCat(apps_dir(), "/", name, ".textproto"), text);
    if (!layout_.ok()) return;
  }
  // A port range of its own, starting at a place that differs between processes, so that hosts
  // of tests running side by side rarely meet.
  const uint16_t from = options_.port_search_from != 0
                            ? options_.port_search_from
                            : static_cast<uint16_t>(21000 + (getpid() * 131) % 9000);
  std::optional<uint16_t> begin = FindFreePortRange(options_.port_count, from, 32768);
  if (!begin.has_value()) begin = FindFreePortRange(options_.port_count, 20000, 32768);
  if (!begin.has_value()) {
    layout_ = absl::ResourceExhaustedError(
        absl::StrCat("no ", options_.port_count, " free ports in 20000-32767"));
    return;
  }
  port_begin_ = *begin;
  port_end_ = static_cast<uint16_t>(*begin + options_.port_count);

  std::vector<std::string> extra = {absl::StrCat("--port_range=", port_begin_, "-", port_end_),
                                    absl::StrCat("--tty_range=", options_.tty_range),
                                    "--log_level=info"};
  if (options_.max_boxes > 0) extra.push_back(absl::StrCat("--max_boxes=", options_.max_boxes));
  extra.insert(extra.end(), options_.allocator_flags.begin(), options_.allocator_flags.end());
  allocator_flags_ = AllocatorFlagsIn(dir_, "allocator", std::move(extra));
  boxes_ = std::make_unique<BoxesClient>(boxes_address());
  leases_ = std::make_unique<AllocatorClient>(allocator_address());
}

BoxHost::~BoxHost() {
  KillDockerSvc();
  KillAllocator();
}

std::string BoxHost::boxes_address() const { return UnixAddress(dir_.File("boxes.sock")); }
std::string BoxHost::allocator_address() const { return UnixAddress(allocator_flags_.socket); }

std::string BoxHost::BoxDir(const std::string& box_id) const {
  absl::StatusOr<docker::ContainerInfo> info =
      Docker().InspectContainer(absl::StrCat("berth-", box_id));
  if (!info.ok()) return "";
  for (const docker::MountPoint& mount : info->mounts) {
    if (mount.destination == kTestBoxMappingsDir) return mount.source;
  }
  return "";
}

std::vector<std::string> BoxHost::MappingDirs() const {
  std::set<std::string> dirs;
  absl::StatusOr<std::string> volumes = RunCommand(absl::StrCat(
      "/usr/bin/docker volume ls --filter 'label=berth.boxes_dir=", boxes_dir(),
      "' --format '{{.Label \"berth.box_id\"}}'"));
  if (!volumes.ok()) {
    dirs.insert(absl::StrCat("(cannot list volumes: ", volumes.status().ToString(), ")"));
  } else {
    for (absl::string_view line : absl::StrSplit(*volumes, '\n', absl::SkipWhitespace())) {
      dirs.insert(std::string(line));
    }
  }
  for (std::string& name : ListDir(boxes_dir())) {
    if (!absl::StartsWith(name, ".")) dirs.insert(std::move(name));
  }
  return {dirs.begin(), dirs.end()};
}

absl::Status BoxHost::Start() {
  if (absl::Status started = StartAllocator(); !started.ok()) return started;
  return StartDockerSvc();
}

absl::Status BoxHost::StartAllocator() {
  if (!layout_.ok()) return layout_;
  KillAllocator();
  absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = StartServingAllocator(allocator_flags_);
  if (!daemon.ok()) return daemon.status();
  allocator_ = *std::move(daemon);
  return absl::OkStatus();
}

absl::Status BoxHost::LaunchDockerSvc() {
  if (!layout_.ok()) return layout_;
  KillDockerSvc();
  DaemonProcess::Options options;
  options.binary = DaemonBinary("docker-svc");
  options.args = {
      absl::StrCat("--listen=", boxes_address()),
      absl::StrCat("--allocator=", allocator_address()),
      "--docker_socket=/var/run/docker.sock",
      absl::StrCat("--apps_dir=", apps_dir()),
      absl::StrCat("--boxes_dir=", boxes_dir()),
      absl::StrCat("--resync_interval=", absl::FormatDuration(options_.resync_interval)),
      "--log_level=debug",
      "--shutdown_grace=2s"};
  options.args.insert(options.args.end(), options_.docker_svc_flags.begin(),
                      options_.docker_svc_flags.end());
  options.log_path = docker_svc_log();
  // A marker in the log, so that a restart's lines are told apart.
  std::ofstream(docker_svc_log(), std::ios::app) << "==== test: starting docker-svc\n";
  absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(options);
  if (!daemon.ok()) return daemon.status();
  docker_svc_ = *std::move(daemon);
  return absl::OkStatus();
}

absl::Status BoxHost::StartDockerSvc(absl::Duration timeout) {
  if (absl::Status launched = LaunchDockerSvc(); !launched.ok()) return launched;
  absl::Status serving = docker_svc_->WaitServing(boxes_address(), timeout);
  if (!serving.ok()) {
    return absl::Status(serving.code(), absl::StrCat("docker-svc: ", serving.message(), "; log:\n",
                                                     Tail(ReadFileOrEmpty(docker_svc_log()), 60)));
  }
  return absl::OkStatus();
}

void BoxHost::KillDockerSvc() {
  if (docker_svc_ != nullptr) docker_svc_->Kill();
}

void BoxHost::KillAllocator() {
  if (allocator_ != nullptr) allocator_->Kill();
}

std::string BoxHost::LogTails(int lines) const {
  return absl::StrCat("---- docker-svc log (", docker_svc_log(), "), last lines:\n",
                      Tail(ReadFileOrEmpty(docker_svc_log()), lines),
                      "\n---- allocator-svc log, last lines:\n",
                      Tail(ReadFileOrEmpty(allocator_log()), lines / 2), "\n");
}

std::string Leftovers(BoxHost& host, const std::string& box_id) {
  std::vector<std::string> left;
  absl::StatusOr<bool> container = ContainerExists(absl::StrCat("berth-", box_id));
  if (!container.ok()) {
    left.push_back(absl::StrCat("container unknown (", container.status().ToString(), ")"));
  } else if (*container) {
    left.push_back(absl::StrCat("container berth-", box_id));
  }
  for (const std::string& name : host.MappingDirs()) {
    if (name == box_id) left.push_back(absl::StrCat("mapping dir of ", box_id));
  }
  absl::StatusOr<allocator::v1::Lease> lease = host.leases().Get(box_id);
  if (lease.ok()) {
    left.push_back(absl::StrCat("lease (", lease->ShortDebugString(), ")"));
  } else if (!absl::IsNotFound(lease.status())) {
    left.push_back(absl::StrCat("lease unknown (", lease.status().ToString(), ")"));
  }
  return absl::StrJoin(left, "; ");
}

std::string HostDisagreement(BoxHost& host,
                             const std::function<bool(const std::string& box_id)>& wanted) {
  std::vector<std::string> problems;
  absl::StatusOr<std::map<std::string, docker::ContainerSummary>> containers =
      BerthContainers(wanted);
  if (!containers.ok()) return absl::StrCat("docker: ", containers.status().ToString());
  absl::StatusOr<allocator::v1::ListResponse> leases = host.leases().List();
  if (!leases.ok()) return absl::StrCat("allocator: ", leases.status().ToString());
  absl::StatusOr<std::vector<v1::Box>> boxes = host.boxes().List();
  if (!boxes.ok()) return absl::StrCat("docker-svc: ", boxes.status().ToString());
  std::map<std::string, allocator::v1::Lease> lease_of;
  for (const allocator::v1::Lease& lease : leases->leases()) {
    if (wanted(lease.box_id())) lease_of[lease.box_id()] = lease;
  }
  std::set<std::string> listed;
  for (const v1::Box& box : *boxes) {
    if (wanted(box.box_id())) listed.insert(box.box_id());
  }
  std::set<std::string> dirs;
  for (const std::string& name : host.MappingDirs()) {
    if (wanted(name)) dirs.insert(name);
  }
  for (const auto& [box_id, container] : *containers) {
    if (container.state != "running") {
      problems.push_back(absl::StrCat(box_id, ": container is ", container.state));
    }
    auto lease = lease_of.find(box_id);
    if (lease == lease_of.end()) {
      problems.push_back(absl::StrCat(box_id, ": container without a lease"));
    } else if (lease->second.state() != allocator::v1::LEASE_STATE_BOUND ||
               lease->second.container_id() != container.id) {
      problems.push_back(absl::StrCat(box_id, ": container ", container.id.substr(0, 12),
                                      " but lease ", lease->second.ShortDebugString()));
    }
    if (listed.count(box_id) == 0) {
      problems.push_back(absl::StrCat(box_id, ": container not listed by docker-svc"));
    }
    if (dirs.count(box_id) == 0) {
      problems.push_back(absl::StrCat(box_id, ": container without a mapping dir"));
    }
  }
  for (const auto& [box_id, lease] : lease_of) {
    if (containers->count(box_id) == 0) {
      problems.push_back(absl::StrCat(box_id, ": lease without a container (",
                                      allocator::v1::LeaseState_Name(lease.state()), ")"));
    }
  }
  for (const std::string& box_id : listed) {
    if (containers->count(box_id) == 0) {
      problems.push_back(absl::StrCat(box_id, ": listed by docker-svc without a container"));
    }
  }
  for (const std::string& box_id : dirs) {
    if (containers->count(box_id) == 0) {
      problems.push_back(absl::StrCat(box_id, ": mapping dir without a container"));
    }
  }
  return absl::StrJoin(problems, "\n");
}

// ---------------------------------------------------------------------------------------------
// Docker and the host

docker::DockerClient& Docker() {
  static docker::DockerClient* const client = [] {
    absl::StatusOr<std::unique_ptr<docker::DockerClient>> made =
        docker::MakeCurlDockerClient(docker::CurlDockerClientConfig{});
    if (!made.ok()) {
      fprintf(stderr, "cannot make a Docker client: %s\n", made.status().ToString().c_str());
      abort();
    }
    return made->release();
  }();
  return *client;
}

absl::Status CheckDockerAndTestImage() {
  if (absl::Status ping = Docker().Ping(); !ping.ok()) {
    return absl::Status(ping.code(), absl::StrCat(ping.message(),
                                                  " (these tests need dockerd: "
                                                  "scripts/start-dockerd.sh)"));
  }
  docker::ContainerSpec spec;
  spec.name = absl::StrCat("berth-image-probe-", getpid());
  spec.image = kTestBoxImage;
  absl::StatusOr<std::string> id = Docker().CreateContainer(spec);
  if (!id.ok()) {
    return absl::Status(id.status().code(),
                        absl::StrCat(id.status().message(), " (run scripts/build-box-image.sh)"));
  }
  return Docker().RemoveContainer(*id, /*force=*/true, /*remove_volumes=*/true);
}

absl::StatusOr<bool> ContainerExists(const std::string& name_or_id) {
  absl::StatusOr<docker::ContainerInfo> info = Docker().InspectContainer(name_or_id);
  if (info.ok()) return true;
  if (absl::IsNotFound(info.status())) return false;
  return info.status();
}

absl::StatusOr<std::map<std::string, docker::ContainerSummary>> BerthContainers(
    const std::function<bool(const std::string& box_id)>& wanted) {
  absl::StatusOr<std::vector<docker::ContainerSummary>> listed =
      Docker().ListContainers({"berth.box_id"}, /*all=*/true);
  if (!listed.ok()) return listed.status();
  std::map<std::string, docker::ContainerSummary> containers;
  for (docker::ContainerSummary& container : *listed) {
    const std::string box_id = container.labels["berth.box_id"];
    if (wanted(box_id)) containers[box_id] = std::move(container);
  }
  return containers;
}

int RemoveBerthContainers(const std::function<bool(const std::string& box_id)>& wanted) {
  absl::StatusOr<std::map<std::string, docker::ContainerSummary>> containers =
      BerthContainers(wanted);
  if (!containers.ok()) return 0;
  int removed = 0;
  for (const auto& [box_id, container] : *containers) {
    if (Docker().RemoveContainer(container.id, /*force=*/true, /*remove_volumes=*/true).ok()) {
      ++removed;
    }
  }
  return removed;
}

std::string ReadGreeting(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string greeting;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    char buffer[256];
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) greeting.assign(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return greeting;
}

bool WaitForGreeting(uint16_t port, const std::string& expected, absl::Duration timeout) {
  return WaitUntil([&] { return ReadGreeting(port) == expected; }, timeout);
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<std::string> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("popen ", command));
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` failed (wait status ", status, "): ", output));
  }
  return output;
}

bool ProcessIsAlive(pid_t pid) {
  if (pid <= 0) return false;
  // The state is the field after the parenthesized command name.
  const std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<pid_t> ContainerPid(const std::string& name_or_id) {
  absl::StatusOr<std::string> output =
      RunCommand(absl::StrCat("/usr/bin/docker inspect -f '{{.State.Pid}}' ", name_or_id));
  if (!output.ok()) return output.status();
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*output), &pid)) {
    return absl::InternalError(absl::StrCat("docker inspect said \"", *output, "\""));
  }
  return static_cast<pid_t>(pid);
}

}  // namespace berth::testing
