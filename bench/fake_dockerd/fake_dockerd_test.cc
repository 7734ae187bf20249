// fake_dockerd as docker-svc's own Engine API client (CurlDockerClient) and a raw HTTP/1.1
// client see it: containers and their anonymous volumes, Docker's answers and errors, the event
// stream with its filters and `since`, keep-alive and Connection: close.
#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/fake_dockerd/fake_dockerd_process.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::fake_dockerd {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kMappings[] = "/whist/resourceMappings";

// An OK StatusOr whose value matches `matcher`.
MATCHER_P(IsOkAndHolds, matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

docker::ContainerSpec Spec(const std::string& name) {
  docker::ContainerSpec spec;
  spec.name = name;
  spec.image = "anything/at-all:1";  // the fake has every image
  spec.env = {"A=1", "B=two"};
  spec.labels = {{"berth.box_id", name}, {"berth.boxes_dir", "/srv/boxes"}};
  spec.ports = {{32261, "tcp", 20001, ""}, {32263, "udp", 20002, ""}};
  spec.devices = {{"/dev/tty10", "/dev/tty10", "rwm"}};
  docker::TmpfsVolume volume;
  volume.target = kMappings;
  volume.size_bytes = 4 << 20;
  volume.labels = {{"berth.box_id", name}, {"berth.boxes_dir", "/srv/boxes"}};
  spec.tmpfs_volumes = {volume};
  spec.stop_signal = "SIGTERM";
  spec.stop_timeout_seconds = 5;
  return spec;
}

bool Exists(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::exists(path, ignored);
}

bool OnTmpfs(const std::string& path) {
  struct statfs filesystem {};
  return statfs(path.c_str(), &filesystem) == 0 && filesystem.f_type == TMPFS_MAGIC;
}

// Collects a StreamEvents() call's events on a thread of its own until cancelled.
class EventCollector {
 public:
  EventCollector(docker::DockerClient& docker, docker::EventFilters filters,
                 std::optional<absl::Time> since) {
    thread_ = std::thread([this, &docker, filters, since] {
      absl::Status status = docker.StreamEvents(
          filters, since,
          [this](const docker::Event& event) {
            absl::MutexLock lock(&mu_);
            events_.push_back(event);
            return true;
          },
          cancel_);
      absl::MutexLock lock(&mu_);
      ended_ = status;
    });
  }
  ~EventCollector() {
    cancel_.Cancel();
    thread_.join();
  }

  // "action:name[:exitCode]" of each event, once at least `count` came (or after 10 s).
  std::vector<std::string> Wait(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= count || ended_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    std::vector<std::string> out;
    for (const docker::Event& event : events_) {
      std::string text = absl::StrCat(event.action, ":", event.attributes.at("name"));
      if (auto code = event.attributes.find("exitCode"); code != event.attributes.end()) {
        absl::StrAppend(&text, ":", code->second);
      }
      out.push_back(text);
    }
    return out;
  }

 private:
  docker::Cancellation cancel_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<docker::Event> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> ended_ ABSL_GUARDED_BY(mu_);
};

// A raw HTTP client connection to the fake's socket.
class RawConnection {
 public:
  explicit RawConnection(const std::string& socket_path) {
    fd_ = common::UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    connected_ = connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  bool connected() const { return connected_; }

  bool Send(const std::string& bytes) {
    return send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Reads until what came holds `needle` (true), the peer closes or 5 s pass (false). What
  // came stays in received().
  bool ReadUntil(const std::string& needle) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!absl::StrContains(received_, needle)) {
      if (!ReadSome(deadline)) return false;
    }
    return true;
  }
  // True when the peer closes the connection within 5 s.
  bool ReadUntilClosed() {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (ReadSome(deadline)) {
    }
    return closed_;
  }
  const std::string& received() const { return received_; }

 private:
  bool ReadSome(absl::Time deadline) {
    pollfd readable{fd_.get(), POLLIN, 0};
    const int64_t millis = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (millis <= 0 || poll(&readable, 1, static_cast<int>(millis)) <= 0) return false;
    char buffer[4096];
    const ssize_t n = recv(fd_.get(), buffer, sizeof(buffer), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    received_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  common::UniqueFd fd_;
  bool connected_ = false;
  bool closed_ = false;
  std::string received_;
};

class FakeDockerdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/dev/shm/berth-fake-dockerd-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    volumes_dir_ = pattern;
    FakeDockerdProcess::Options options;
    options.binary = FAKE_DOCKERD_BINARY;
    options.socket_path = dir_.File("docker.sock");
    options.volumes_dir = volumes_dir_;
    options.log_path = dir_.File("fake_dockerd.log");
    ASSERT_OK_AND_ASSIGN(fake_, FakeDockerdProcess::Start(options));
  }

  void TearDown() override {
    if (fake_ != nullptr && fake_->process().running()) {
      // A clean exit takes every volume's directory and the socket with it.
      EXPECT_THAT(fake_->Stop(), IsOkAndHolds(0));
      EXPECT_THAT(std::filesystem::is_empty(volumes_dir_), true);
      EXPECT_FALSE(Exists(fake_->socket_path()));
    }
    std::error_code ignored;
    std::filesystem::remove_all(volumes_dir_, ignored);
  }

  docker::DockerClient& docker() { return fake_->client(); }

  // The source of the container's mount at kMappings.
  std::string VolumeDir(const std::string& name) {
    absl::StatusOr<docker::ContainerInfo> info = docker().InspectContainer(name);
    if (!info.ok()) return "";
    for (const docker::MountPoint& mount : info->mounts) {
      if (mount.destination == kMappings) return mount.source;
    }
    return "";
  }

  testing::TempDir dir_;
  std::string volumes_dir_;
  std::unique_ptr<FakeDockerdProcess> fake_;
};

TEST_F(FakeDockerdTest, AnswersPingAndVersion) {
  EXPECT_THAT(docker().Ping(), IsOk());
  EXPECT_THAT(docker().Version(), IsOkAndHolds(std::string("1.41")));
}

TEST_F(FakeDockerdTest, RunsAContainerFromCreateToRemove) {
  ASSERT_OK_AND_ASSIGN(std::string id, docker().CreateContainer(Spec("berth-b1")));
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo created, docker().InspectContainer("berth-b1"));
  EXPECT_EQ(created.id, id);
  EXPECT_EQ(created.name, "berth-b1");
  EXPECT_EQ(created.image, "anything/at-all:1");
  EXPECT_EQ(created.status, "created");
  EXPECT_FALSE(created.running);
  EXPECT_EQ(created.started_at, absl::InfinitePast());
  EXPECT_EQ(created.labels, Spec("berth-b1").labels);
  EXPECT_EQ(created.env, Spec("berth-b1").env);
  EXPECT_EQ(created.ports, Spec("berth-b1").ports);
  EXPECT_EQ(created.devices, Spec("berth-b1").devices);
  // The anonymous volume: a fresh, empty directory of its own under --volumes_dir, on a tmpfs.
  ASSERT_EQ(created.mounts.size(), 1u);
  const docker::MountPoint& mount = created.mounts[0];
  EXPECT_EQ(mount.type, "volume");
  EXPECT_FALSE(mount.name.empty());
  EXPECT_EQ(mount.destination, kMappings);
  EXPECT_THAT(mount.source, StartsWith(volumes_dir_ + "/"));
  EXPECT_TRUE(std::filesystem::is_directory(mount.source));
  EXPECT_TRUE(std::filesystem::is_empty(mount.source));
  EXPECT_TRUE(OnTmpfs(mount.source));

  EXPECT_THAT(docker().CreateContainer(Spec("berth-b1")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("is already in use")));

  const absl::Time before_start = absl::Now();
  ASSERT_THAT(docker().StartContainer(id), IsOk());
  EXPECT_THAT(docker().StartContainer(id), IsOk());  // 304: already running
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo running, docker().InspectContainer(id));
  EXPECT_TRUE(running.running);
  EXPECT_EQ(running.status, "running");
  EXPECT_GE(running.started_at, before_start - absl::Seconds(1));

  ASSERT_OK_AND_ASSIGN(auto listed, docker().ListContainers({"berth.box_id=berth-b1"}, false));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
  EXPECT_THAT(listed[0].names, ElementsAre("berth-b1"));
  EXPECT_EQ(listed[0].state, "running");
  EXPECT_EQ(listed[0].labels, Spec("berth-b1").labels);
  EXPECT_THAT(docker().ListContainers({"berth.box_id=other"}, true), IsOkAndHolds(IsEmpty()));
  ASSERT_OK_AND_ASSIGN(auto sized, docker().ListContainerSizes({"berth.box_id"}, absl::Seconds(5)));
  ASSERT_EQ(sized.size(), 1u);
  EXPECT_EQ(sized[0].size_rw, 0);

  ASSERT_THAT(docker().StopContainer(id, absl::Seconds(5)), IsOk());
  EXPECT_THAT(docker().StopContainer(id, absl::Seconds(5)), IsOk());  // 304: not running
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo stopped, docker().InspectContainer(id));
  EXPECT_FALSE(stopped.running);
  EXPECT_EQ(stopped.status, "exited");
  EXPECT_EQ(stopped.exit_code, 0);
  EXPECT_NE(stopped.finished_at, absl::InfinitePast());
  EXPECT_THAT(docker().KillContainer(id, "SIGKILL"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not running")));
  EXPECT_THAT(docker().ListContainers({"berth.box_id"}, false), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(docker().ListContainers({"berth.box_id"}, true), IsOkAndHolds(::testing::SizeIs(1)));

  ASSERT_THAT(docker().RemoveContainer(id, /*force=*/false, /*remove_volumes=*/true), IsOk());
  EXPECT_FALSE(Exists(mount.source));
  EXPECT_THAT(std::filesystem::is_empty(volumes_dir_), true);
  EXPECT_THAT(docker().InspectContainer(id),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("No such container: " + id)));
  EXPECT_THAT(docker().RemoveContainer(id, true, true),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("No such container")));
  EXPECT_THAT(docker().StartContainer("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("No such container: nope")));
}

TEST_F(FakeDockerdTest, KillsWithTheSignalsExitCodeAndRemovesRunningOnlyByForce) {
  ASSERT_OK_AND_ASSIGN(std::string a, docker().CreateContainer(Spec("a1")));
  ASSERT_OK_AND_ASSIGN(std::string b, docker().CreateContainer(Spec("b1")));
  ASSERT_THAT(docker().StartContainer(a), IsOk());
  ASSERT_THAT(docker().StartContainer(b), IsOk());
  EXPECT_THAT(docker().KillContainer(a, "NOSUCHSIGNAL"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Invalid signal")));
  ASSERT_THAT(docker().KillContainer(a, "SIGKILL"), IsOk());
  ASSERT_THAT(docker().KillContainer(b, "15"), IsOk());
  EXPECT_THAT(docker().InspectContainer(a),
              IsOkAndHolds(::testing::Field(&docker::ContainerInfo::exit_code, 137)));
  EXPECT_THAT(docker().InspectContainer(b),
              IsOkAndHolds(::testing::Field(&docker::ContainerInfo::exit_code, 143)));

  ASSERT_OK_AND_ASSIGN(std::string c, docker().CreateContainer(Spec("c1")));
  ASSERT_THAT(docker().StartContainer(c), IsOk());
  EXPECT_THAT(docker().RemoveContainer(c, /*force=*/false, true),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot remove a running container")));
  EXPECT_THAT(docker().RemoveContainer(c, /*force=*/true, true), IsOk());
  EXPECT_THAT(docker().InspectContainer(c), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(FakeDockerdTest, KeepsAVolumeRemovedWithoutItsContainerUntilItIsRemoved) {
  ASSERT_OK_AND_ASSIGN(std::string id, docker().CreateContainer(Spec("keep")));
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo info, docker().InspectContainer(id));
  const docker::MountPoint volume = info.mounts.at(0);
  EXPECT_THAT(docker().ListDanglingVolumes({"berth.boxes_dir=/srv/boxes"}),
              IsOkAndHolds(IsEmpty()));  // in use
  EXPECT_THAT(docker().RemoveVolume(volume.name),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("in use")));

  ASSERT_THAT(docker().RemoveContainer(id, /*force=*/true, /*remove_volumes=*/false), IsOk());
  EXPECT_TRUE(Exists(volume.source));
  EXPECT_THAT(docker().ListDanglingVolumes({"berth.boxes_dir=/srv/boxes"}),
              IsOkAndHolds(ElementsAre(volume.name)));
  EXPECT_THAT(docker().ListDanglingVolumes({"berth.boxes_dir=/elsewhere"}),
              IsOkAndHolds(IsEmpty()));
  ASSERT_THAT(docker().RemoveVolume(volume.name), IsOk());
  EXPECT_FALSE(Exists(volume.source));
  EXPECT_THAT(docker().RemoveVolume(volume.name),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no such volume")));
}

TEST_F(FakeDockerdTest, StreamsFilteredEventsAndReplaysThemFromSince) {
  const absl::Time start = absl::Now();
  EventCollector ends(docker(),
                      {{"type", {"container"}},
                       {"label", {"berth.box_id", "berth.boxes_dir=/srv/boxes"}},
                       {"event", {"die", "oom", "destroy"}}},
                      start);  // `since`: what happens before the stream is open is replayed
  EventCollector other_dir(docker(), {{"label", {"berth.boxes_dir=/elsewhere"}}}, start);

  ASSERT_OK_AND_ASSIGN(std::string a, docker().CreateContainer(Spec("e1")));
  ASSERT_THAT(docker().StartContainer(a), IsOk());
  ASSERT_THAT(docker().StopContainer(a, absl::Seconds(1)), IsOk());
  ASSERT_THAT(docker().RemoveContainer(a, false, true), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string b, docker().CreateContainer(Spec("e2")));
  ASSERT_THAT(docker().StartContainer(b), IsOk());
  ASSERT_THAT(docker().RemoveContainer(b, /*force=*/true, true), IsOk());

  EXPECT_THAT(ends.Wait(4), ElementsAre("die:e1:0", "destroy:e1", "die:e2:137", "destroy:e2"));
  // The other stream saw none of those: its first event is one that passes its filter.
  docker::ContainerSpec elsewhere = Spec("sentinel");
  elsewhere.labels["berth.boxes_dir"] = "/elsewhere";
  ASSERT_THAT(docker().CreateContainer(elsewhere), IsOk());
  EXPECT_THAT(other_dir.Wait(1), ElementsAre("create:sentinel"));

  // A stream from `since` replays what happened, in order, then goes on live.
  EventCollector replay(docker(), {{"type", {"container"}}, {"container", {"e1"}}}, start);
  EXPECT_THAT(replay.Wait(4), ElementsAre("create:e1", "start:e1", "die:e1:0", "destroy:e1"));
  // An event after `since` comes once, whether the stream replays it or was open already.
  EventCollector later(docker(), {{"type", {"container"}}}, absl::Now());
  ASSERT_THAT(docker().CreateContainer(Spec("e3")), IsOk());
  EXPECT_THAT(later.Wait(1), ElementsAre("create:e3"));
}

TEST_F(FakeDockerdTest, RefusesWhatItDoesNotServeTheWayDockerDoes) {
  EXPECT_THAT(docker().CreateContainer(Spec("bad name!")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Invalid container name")));
  docker::ContainerSpec spec = Spec("relative");
  spec.tmpfs_volumes[0].target = "relative/path";
  spec.tmpfs_volumes[0].size_bytes = 1;
  // CurlDockerClient checks that itself; the fake's own check is seen over raw HTTP below.
  EXPECT_THAT(docker().CreateContainer(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));

  RawConnection raw(fake_->socket_path());
  ASSERT_TRUE(raw.connected());
  const std::string bind_mount =
      R"({"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}})";
  ASSERT_TRUE(
      raw.Send(absl::StrCat("POST /v1.41/containers/create?name=m1 HTTP/1.1\r\n"
                            "Host: docker\r\nContent-Type: application/json\r\n"
                            "Content-Length: ",
                            bind_mount.size(), "\r\n\r\n", bind_mount)));
  ASSERT_TRUE(raw.ReadUntil("}\n"));
  EXPECT_THAT(raw.received(), StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(raw.received(), HasSubstr(R"({"message":"HostConfig.Mounts[0]: mount type 'bind')"));

  RawConnection versions(fake_->socket_path());
  ASSERT_TRUE(
      versions.Send("GET /v1.99/version HTTP/1.1\r\nHost: docker\r\n\r\n"
                    "GET /v1.41/nothing/here HTTP/1.1\r\nHost: docker\r\n\r\n"));
  ASSERT_TRUE(versions.ReadUntil("page not found"));
  EXPECT_THAT(versions.received(), HasSubstr("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(versions.received(),
              HasSubstr("client version 1.99 is too new. Maximum supported API version is 1.41"));
  EXPECT_THAT(versions.received(), HasSubstr("HTTP/1.1 404 Not Found"));
}

TEST_F(FakeDockerdTest, ServesKeepAliveConnectionClose100ContinueAndAChunkedStream) {
  RawConnection keep(fake_->socket_path());
  ASSERT_TRUE(keep.Send("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"));
  ASSERT_TRUE(keep.ReadUntil("\r\n\r\nOK"));
  EXPECT_THAT(keep.received(), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(keep.received(), HasSubstr("Api-Version: 1.41\r\n"));
  ASSERT_TRUE(keep.Send("GET /version HTTP/1.1\r\nHost: docker\r\n\r\n"));
  ASSERT_TRUE(keep.ReadUntil(R"("ApiVersion":"1.41")"));
  ASSERT_TRUE(
      keep.Send("GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n"
                "Connection: close\r\n\r\n"));
  EXPECT_TRUE(keep.ReadUntilClosed());
  EXPECT_THAT(keep.received(), HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(keep.received(), ::testing::EndsWith("\r\n\r\n[]\n"));

  RawConnection expect(fake_->socket_path());
  const std::string body = R"({"Image":"x"})";
  ASSERT_TRUE(
      expect.Send(absl::StrCat("POST /containers/create?name=c100 HTTP/1.1\r\n"
                               "Host: docker\r\nExpect: 100-continue\r\n"
                               "Content-Length: ",
                               body.size(), "\r\n\r\n")));
  ASSERT_TRUE(expect.ReadUntil("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(expect.Send(body));
  ASSERT_TRUE(expect.ReadUntil("\"Warnings\":[]}\n"));
  EXPECT_THAT(expect.received(), HasSubstr("HTTP/1.1 201 Created\r\n"));

  RawConnection stream(fake_->socket_path());
  ASSERT_TRUE(
      stream.Send("GET /events?filters=%7B%22event%22%3A%5B%22start%22%5D%7D HTTP/1.1\r\n"
                  "Host: docker\r\n\r\n"));
  ASSERT_TRUE(stream.ReadUntil("\r\n\r\n"));
  EXPECT_THAT(stream.received(), StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(stream.received(), HasSubstr("Transfer-Encoding: chunked\r\n"));
  ASSERT_THAT(docker().StartContainer("c100"), IsOk());
  ASSERT_TRUE(stream.ReadUntil("}\n\r\n"));
  EXPECT_THAT(stream.received(), HasSubstr(R"("status":"start","id":")"));
  EXPECT_THAT(stream.received(), HasSubstr(R"("Type":"container","Action":"start")"));
  EXPECT_THAT(stream.received(), HasSubstr(R"("Attributes":{"image":"x","name":"c100"})"));
  EXPECT_THAT(stream.received(), HasSubstr(R"("scope":"local","time":)"));
}

TEST_F(FakeDockerdTest, DelaysStartsWithoutHoldingUpOtherRequests) {
  char pattern[] = "/dev/shm/berth-fake-dockerd-test-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string volumes = pattern;
  FakeDockerdProcess::Options options;
  options.binary = FAKE_DOCKERD_BINARY;
  options.socket_path = dir_.File("slow.sock");
  options.volumes_dir = volumes;
  options.start_delay = absl::Milliseconds(500);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FakeDockerdProcess> slow,
                       FakeDockerdProcess::Start(options));
  ASSERT_OK_AND_ASSIGN(std::string id, slow->client().CreateContainer(Spec("slow")));

  absl::Duration ping_took;
  std::thread pinger([&] {
    absl::SleepFor(absl::Milliseconds(100));
    const absl::Time start = absl::Now();
    EXPECT_THAT(slow->client().Ping(), IsOk());
    ping_took = absl::Now() - start;
  });
  const absl::Time start = absl::Now();
  ASSERT_THAT(slow->client().StartContainer(id), IsOk());
  const absl::Duration start_took = absl::Now() - start;
  pinger.join();
  EXPECT_GE(start_took, absl::Milliseconds(500));
  EXPECT_LT(ping_took, absl::Milliseconds(300));  // answered while the start waited
  EXPECT_THAT(slow->client().InspectContainer(id),
              IsOkAndHolds(::testing::Field(&docker::ContainerInfo::running, true)));

  EXPECT_THAT(slow->Stop(), IsOkAndHolds(0));
  EXPECT_TRUE(std::filesystem::is_empty(volumes));
  std::error_code ignored;
  std::filesystem::remove_all(volumes, ignored);
}

}  // namespace
}  // namespace berth::fake_dockerd
