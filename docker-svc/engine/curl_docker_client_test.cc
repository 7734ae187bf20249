#include "docker-svc/engine/curl_docker_client.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/engine/testing/curl_docker_client_fixture.h"
#include "docker-svc/engine/testing/fake_docker_http_server.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

// The client's calls: create, inspect, list, start, stop, kill, remove, ping, version, and how
// engine failures become Statuses. The event stream: curl_docker_events_test.cc.
namespace berth::docker {
namespace {

using ::berth::docker::testing::CannedResponse;
using ::berth::docker::testing::RecordedRequest;
using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using ::testing::_;

// `docker inspect` of a running box on Docker 20.10.24 (trimmed of fields Berth ignores,
// keeping nulls where Docker sends them).
constexpr char kInspectRunning[] = R"({
  "Id": "4f1c0e7a9b2d4e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
  "Created": "2023-11-14T22:13:19.991Z",
  "Path": "/usr/bin/entrypoint.sh",
  "Args": [],
  "State": {
    "Status": "running", "Running": true, "Paused": false, "Restarting": false,
    "OOMKilled": false, "Dead": false, "Pid": 41234, "ExitCode": 0, "Error": "",
    "StartedAt": "2023-11-14T22:13:20.123456789Z", "FinishedAt": "0001-01-01T00:00:00Z"
  },
  "Image": "sha256:9d2a6c1b",
  "ResolvConfPath": "/var/lib/docker/containers/4f1c/resolv.conf",
  "Name": "/berth-box1",
  "RestartCount": 0,
  "Driver": "overlay2",
  "Platform": "linux",
  "MountLabel": "",
  "ProcessLabel": "",
  "AppArmorProfile": "docker-default",
  "ExecIDs": null,
  "HostConfig": {
    "Binds": ["/var/lib/berth/boxes/box1:/berth:ro"],
    "ContainerIDFile": "",
    "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "default",
    "PortBindings": {
      "32262/tcp": [{"HostIp": "", "HostPort": "20001"}],
      "32263/udp": [{"HostIp": "", "HostPort": "20002"}]
    },
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": false,
    "CapAdd": ["SYS_NICE"],
    "CapDrop": null,
    "Dns": [],
    "ShmSize": 2147483648,
    "Memory": 8589934592,
    "NanoCpus": 4000000000,
    "Devices": [{"PathOnHost": "/dev/tty10", "PathInContainer": "/dev/tty10",
                 "CgroupPermissions": "rwm"}],
    "DeviceRequests": null,
    "PidsLimit": 512,
    "Ulimits": null,
    "Tmpfs": {"/run": "size=52428800"},
    "MaskedPaths": ["/proc/asound"],
    "ReadonlyPaths": ["/proc/bus"]
  },
  "GraphDriver": {"Data": {"MergedDir": "/var/lib/docker/overlay2/x/merged"}, "Name": "overlay2"},
  "Mounts": [{"Type": "bind", "Source": "/var/lib/berth/boxes/box1", "Destination": "/berth",
              "Mode": "ro", "RW": false, "Propagation": "rprivate"}],
  "Config": {
    "Hostname": "4f1c0e7a9b2d", "Domainname": "", "User": "",
    "AttachStdin": false, "Tty": false,
    "ExposedPorts": {"32262/tcp": {}, "32263/udp": {}},
    "Env": ["BERTH_BOX_ID=box1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"],
    "Cmd": null,
    "Image": "berth/browser:1.2",
    "Volumes": null,
    "WorkingDir": "",
    "Entrypoint": ["/usr/bin/entrypoint.sh"],
    "OnBuild": null,
    "Labels": {"berth.app": "browser", "berth.box_id": "box1", "berth.user_id": "u-7"},
    "StopSignal": "SIGTERM",
    "StopTimeout": 10
  },
  "NetworkSettings": {
    "Bridge": "", "SandboxID": "a1b2", "HairpinMode": false,
    "Ports": {"32262/tcp": [{"HostIp": "0.0.0.0", "HostPort": "20001"},
                            {"HostIp": "::", "HostPort": "20001"}],
              "32263/udp": [{"HostIp": "0.0.0.0", "HostPort": "20002"}]},
    "SecondaryIPAddresses": null,
    "Networks": {"bridge": {"IPAMConfig": null, "Links": null, "Aliases": null,
                            "IPAddress": "172.17.0.2"}}
  }
})";

// An exited box the kernel OOM-killed, created without ports or labels (Docker sends null).
constexpr char kInspectOomKilled[] = R"({
  "Id": "deadbeef00",
  "Created": "2023-11-14T22:13:19.991Z",
  "Args": null,
  "State": {
    "Status": "exited", "Running": false, "Paused": false, "Restarting": false,
    "OOMKilled": true, "Dead": false, "Pid": 0, "ExitCode": 137, "Error": "",
    "StartedAt": "2023-11-14T22:13:20.5Z", "FinishedAt": "2023-11-14T22:15:00.000000001Z",
    "Health": null
  },
  "Image": "sha256:9d2a6c1b",
  "Name": "/berth-box2",
  "ExecIDs": null,
  "HostConfig": {"Binds": null, "PortBindings": {}, "Devices": null, "CapAdd": null,
                 "Tmpfs": null, "Memory": 268435456},
  "Mounts": [],
  "Config": {"Image": "berth/browser:1.2", "Env": null, "Cmd": ["sleep", "infinity"],
             "Labels": null, "ExposedPorts": null},
  "NetworkSettings": {"Ports": {}, "Networks": null}
})";

absl::Time Rfc3339(const std::string& text) {
  absl::Time time;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &time, &error)) << error;
  return time;
}

class CurlDockerClientTest : public testing::CurlDockerClientFixture {};

// --- create ---------------------------------------------------------------------------------

// A spec that sets every field CreateRequestBody() sends.
ContainerSpec FullSpec() {
  ContainerSpec spec;
  spec.name = "berth-box1";
  spec.image = "berth/browser:1.2";
  spec.cmd = {"/start", "--fast"};
  spec.env = {"BERTH_BOX_ID=box1", "DPI=192"};
  spec.labels = {{"berth.box_id", "box1"}, {"berth.app", "browser"}};
  spec.ports = {{32262, "tcp", 20001, ""}, {32263, "udp", 20002, "127.0.0.1"}};
  spec.binds = {"/var/lib/berth/boxes/box1:/berth:ro"};
  spec.devices = {{"/dev/tty10", "/dev/tty10", "rwm"}};
  spec.cap_add = {"SYS_NICE"};
  spec.cap_drop = {"ALL"};
  spec.security_opt = {"apparmor=berth"};
  spec.shm_size_bytes = int64_t{2} << 30;
  spec.tmpfs = {{"/run", "size=50m"}};
  spec.memory_bytes = int64_t{8} << 30;
  spec.nano_cpus = 4'000'000'000;
  spec.pids_limit = 512;
  spec.stop_signal = "SIGTERM";
  spec.stop_timeout_seconds = 10;
  return spec;
}

TEST_F(CurlDockerClientTest, CreateSendsTheSpecAndReturnsTheId) {
  server_->Enqueue(CannedResponse::Json(201, R"({"Id":"c0ffee","Warnings":[]})"));
  const ContainerSpec spec = FullSpec();

  ASSERT_OK_AND_ASSIGN(std::string id, client_->CreateContainer(spec));
  EXPECT_EQ(id, "c0ffee");

  RecordedRequest request = OnlyRequest();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1.41/containers/create?name=berth-box1");
  EXPECT_EQ(request.headers["content-type"], "application/json");
  EXPECT_EQ(request.headers["host"], "localhost");

  google::protobuf::Struct body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(request.body, &body).ok())
      << request.body;
  google::protobuf::Struct expected;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(R"({
    "Image": "berth/browser:1.2",
    "Cmd": ["/start", "--fast"],
    "Env": ["BERTH_BOX_ID=box1", "DPI=192"],
    "Labels": {"berth.box_id": "box1", "berth.app": "browser"},
    "ExposedPorts": {"32262/tcp": {}, "32263/udp": {}},
    "StopSignal": "SIGTERM",
    "StopTimeout": 10,
    "HostConfig": {
      "Binds": ["/var/lib/berth/boxes/box1:/berth:ro"],
      "PortBindings": {"32262/tcp": [{"HostIp": "", "HostPort": "20001"}],
                       "32263/udp": [{"HostIp": "127.0.0.1", "HostPort": "20002"}]},
      "Devices": [{"PathOnHost": "/dev/tty10", "PathInContainer": "/dev/tty10",
                   "CgroupPermissions": "rwm"}],
      "CapAdd": ["SYS_NICE"],
      "CapDrop": ["ALL"],
      "SecurityOpt": ["apparmor=berth"],
      "ShmSize": 2147483648,
      "Tmpfs": {"/run": "size=50m"},
      "Memory": 8589934592,
      "NanoCpus": 4000000000,
      "PidsLimit": 512
    }})", &expected).ok());
  EXPECT_EQ(body.DebugString(), expected.DebugString()) << request.body;
  // Docker's decoder needs 64-bit quantities as JSON numbers, not strings.
  EXPECT_THAT(request.body, AllOf(HasSubstr(R"("Memory":8589934592)"),
                                  HasSubstr(R"("NanoCpus":4000000000)")));
}

TEST_F(CurlDockerClientTest, CreateNameConflictIsAlreadyExistsWithDockersMessage) {
  server_->Enqueue(CannedResponse::Json(
      409, R"({"message":"Conflict. The container name \"/berth-box1\" is already in use by )"
           R"(container \"c0ffee\". You have to remove (or rename) that container to be able )"
           R"(to reuse that name."})"));
  ContainerSpec spec;
  spec.name = "berth-box1";
  spec.image = "img";
  EXPECT_THAT(client_->CreateContainer(spec),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("create container berth-box1: Conflict. The container name "
                                 "\"/berth-box1\" is already in use")));
}

TEST_F(CurlDockerClientTest, CreateWithMissingImageIsNotFound) {
  server_->Enqueue(CannedResponse::Json(404, R"({"message":"No such image: nope:latest"})"));
  ContainerSpec spec;
  spec.name = "berth-box1";
  spec.image = "nope:latest";
  EXPECT_THAT(client_->CreateContainer(spec),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("create container berth-box1: No such image: nope:latest")));
}

TEST_F(CurlDockerClientTest, CreateRejectsBadSpecWithoutCallingTheEngine) {
  ContainerSpec spec;
  spec.name = "berth-box1";
  EXPECT_THAT(client_->CreateContainer(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("create container berth-box1: container spec has no image")));
  EXPECT_THAT(server_->requests(), IsEmpty());
}

TEST_F(CurlDockerClientTest, CreateBadRequestIsInvalidArgument) {
  server_->Enqueue(CannedResponse::Json(
      400, R"({"message":"invalid reference format: repository name must be lowercase"})"));
  ContainerSpec spec;
  spec.name = "berth-box1";
  spec.image = "UPPER";
  EXPECT_THAT(client_->CreateContainer(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid reference format")));
}

// --- inspect and list -----------------------------------------------------------------------

TEST_F(CurlDockerClientTest, InspectParsesARunningContainer) {
  server_->Enqueue(CannedResponse::Json(200, kInspectRunning));
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, client_->InspectContainer("berth-box1"));
  EXPECT_EQ(OnlyRequest().target, "/v1.41/containers/berth-box1/json");
  EXPECT_EQ(OnlyRequest().method, "GET");

  EXPECT_EQ(info.id, "4f1c0e7a9b2d4e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f");
  EXPECT_EQ(info.name, "berth-box1");
  EXPECT_EQ(info.image, "berth/browser:1.2");
  EXPECT_THAT(info.labels, UnorderedElementsAre(Pair("berth.app", "browser"),
                                                Pair("berth.box_id", "box1"),
                                                Pair("berth.user_id", "u-7")));
  EXPECT_EQ(info.status, "running");
  EXPECT_TRUE(info.running);
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_FALSE(info.oom_killed);
  EXPECT_EQ(info.started_at, Rfc3339("2023-11-14T22:13:20.123456789Z"));
  EXPECT_EQ(info.finished_at, absl::InfinitePast());
  EXPECT_THAT(info.ports, ElementsAre(PortBinding{32262, "tcp", 20001, ""},
                                      PortBinding{32263, "udp", 20002, ""}));
  EXPECT_THAT(info.devices, ElementsAre(DeviceMapping{"/dev/tty10", "/dev/tty10", "rwm"}));
  EXPECT_THAT(info.env, ElementsAre("BERTH_BOX_ID=box1",
                                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"));
}

TEST_F(CurlDockerClientTest, InspectParsesAnOomKilledContainerWithNulls) {
  server_->Enqueue(CannedResponse::Json(200, kInspectOomKilled));
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, client_->InspectContainer("deadbeef00"));
  EXPECT_EQ(info.name, "berth-box2");
  EXPECT_EQ(info.status, "exited");
  EXPECT_FALSE(info.running);
  EXPECT_EQ(info.exit_code, 137);
  EXPECT_TRUE(info.oom_killed);
  EXPECT_EQ(info.started_at, Rfc3339("2023-11-14T22:13:20.5Z"));
  EXPECT_EQ(info.finished_at, Rfc3339("2023-11-14T22:15:00.000000001Z"));
  EXPECT_THAT(info.labels, IsEmpty());
  EXPECT_THAT(info.ports, IsEmpty());
  EXPECT_THAT(info.devices, IsEmpty());
  EXPECT_THAT(info.env, IsEmpty());
}

TEST_F(CurlDockerClientTest, InspectMissingIsNotFound) {
  server_->Enqueue(CannedResponse::Json(404, R"({"message":"No such container: berth-x"})"));
  EXPECT_THAT(client_->InspectContainer("berth-x"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("inspect container berth-x: No such container: berth-x")));
}

TEST_F(CurlDockerClientTest, InspectUnparsableSuccessIsInternal) {
  server_->Enqueue(CannedResponse::Json(200, "not json"));
  EXPECT_THAT(client_->InspectContainer("x"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("inspect container x: malformed")));
}

TEST_F(CurlDockerClientTest, ListEncodesTheLabelFilterInTheQuery) {
  server_->Enqueue(CannedResponse::Json(200, R"([
    {"Id": "a1", "Names": ["/berth-box1"], "Image": "berth/browser:1.2",
     "Labels": {"berth.box_id": "box1"}, "State": "running", "Status": "Up 2 minutes",
     "Ports": [{"PrivatePort": 32262, "PublicPort": 20001, "Type": "tcp"}], "Mounts": []},
    {"Id": "b2", "Names": ["/berth-box2"], "Labels": null, "State": "exited",
     "Status": "Exited (137) 5 seconds ago", "Ports": null}
  ])"));
  ASSERT_OK_AND_ASSIGN(std::vector<ContainerSummary> list,
                       client_->ListContainers({"berth.box_id", "berth.app=browser"}, true));
  RecordedRequest request = OnlyRequest();
  EXPECT_EQ(request.method, "GET");
  // filters={"label":["berth.box_id","berth.app=browser"]}
  EXPECT_EQ(request.target,
            "/v1.41/containers/json?all=true&filters="
            "%7B%22label%22%3A%5B%22berth.box_id%22%2C%22berth.app%3Dbrowser%22%5D%7D");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "a1");
  EXPECT_THAT(list[0].names, ElementsAre("berth-box1"));
  EXPECT_THAT(list[0].labels, ElementsAre(Pair("berth.box_id", "box1")));
  EXPECT_EQ(list[0].state, "running");
  EXPECT_EQ(list[1].state, "exited");
  EXPECT_THAT(list[1].labels, IsEmpty());
}

TEST_F(CurlDockerClientTest, ListWithoutFilterOmitsIt) {
  server_->Enqueue(CannedResponse::Json(200, "[]"));
  ASSERT_OK_AND_ASSIGN(std::vector<ContainerSummary> list, client_->ListContainers({}, false));
  EXPECT_THAT(list, IsEmpty());
  EXPECT_EQ(OnlyRequest().target, "/v1.41/containers/json?all=false");
}

// --- start, stop, kill, remove --------------------------------------------------------------

TEST_F(CurlDockerClientTest, StartAndStopAcceptNotModified) {
  server_->Enqueue(CannedResponse::Json(204, ""));
  server_->Enqueue(CannedResponse::Json(304, ""));
  server_->Enqueue(CannedResponse::Json(204, ""));
  server_->Enqueue(CannedResponse::Json(304, ""));
  EXPECT_OK(client_->StartContainer("c1"));
  EXPECT_OK(client_->StartContainer("c1"));
  EXPECT_OK(client_->StopContainer("c1", absl::Milliseconds(9500)));
  EXPECT_OK(client_->StopContainer("c1", absl::ZeroDuration()));
  std::vector<RecordedRequest> requests = server_->requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1.41/containers/c1/start");
  EXPECT_EQ(requests[2].target, "/v1.41/containers/c1/stop?t=10");
  EXPECT_EQ(requests[3].target, "/v1.41/containers/c1/stop?t=0");
}

TEST_F(CurlDockerClientTest, StartFailureKeepsDockersMessage) {
  server_->Enqueue(CannedResponse::Json(
      500, R"({"message":"driver failed programming external connectivity on endpoint )"
           R"(berth-box1: Bind for 0.0.0.0:20001 failed: port is already allocated"})"));
  EXPECT_THAT(client_->StartContainer("berth-box1"),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("start container berth-box1: driver failed programming "
                                 "external connectivity")));
}

TEST_F(CurlDockerClientTest, KillSendsTheSignalAndNotRunningIsFailedPrecondition) {
  server_->Enqueue(CannedResponse::Json(204, ""));
  server_->Enqueue(CannedResponse::Json(
      409, R"({"message":"Cannot kill container: c1: Container c1 is not running"})"));
  EXPECT_OK(client_->KillContainer("c1", "SIGKILL"));
  EXPECT_THAT(client_->KillContainer("c1", "SIGKILL"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not running")));
  EXPECT_EQ(server_->requests()[0].target, "/v1.41/containers/c1/kill?signal=SIGKILL");
}

TEST_F(CurlDockerClientTest, RemoveSendsFlagsAndMissingIsNotFound) {
  server_->Enqueue(CannedResponse::Json(204, ""));
  server_->Enqueue(CannedResponse::Json(404, R"({"message":"No such container: c1"})"));
  EXPECT_OK(client_->RemoveContainer("c1", /*force=*/true, /*remove_volumes=*/true));
  EXPECT_THAT(client_->RemoveContainer("c1", false, false),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("remove container c1: No such container: c1")));
  std::vector<RecordedRequest> requests = server_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "DELETE");
  EXPECT_EQ(requests[0].target, "/v1.41/containers/c1?force=true&v=true");
  EXPECT_EQ(requests[1].target, "/v1.41/containers/c1?force=false&v=false");
}

TEST_F(CurlDockerClientTest, RemoveInProgressIsFailedPrecondition) {
  server_->Enqueue(CannedResponse::Json(
      409, R"({"message":"removal of container c1 is already in progress"})"));
  EXPECT_THAT(client_->RemoveContainer("c1", true, true),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("removal of container c1 is already in progress")));
}

TEST_F(CurlDockerClientTest, IdsAreEscapedInThePath) {
  server_->Enqueue(CannedResponse::Json(204, ""));
  EXPECT_OK(client_->StartContainer("a/../b c"));
  EXPECT_EQ(OnlyRequest().target, "/v1.41/containers/a%2F..%2Fb%20c/start");
}

// --- engine failures ------------------------------------------------------------------------

TEST_F(CurlDockerClientTest, ServerErrorWithMalformedBodyStillGivesASaneStatus) {
  server_->Enqueue(CannedResponse::Json(500, "<html>\x01oops</html>"));
  server_->Enqueue(CannedResponse::Json(500, ""));
  EXPECT_THAT(client_->StartContainer("c1"),
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("start container c1: HTTP 500: <html>?oops</html>"))));
  EXPECT_THAT(client_->StartContainer("c1"),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("start container c1: HTTP 500 with an empty body")));
}

TEST_F(CurlDockerClientTest, ServiceUnavailableIsUnavailable) {
  server_->Enqueue(CannedResponse::Json(503, R"({"message":"daemon is shutting down"})"));
  EXPECT_THAT(client_->InspectContainer("c1"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("daemon is shutting down")));
}

TEST_F(CurlDockerClientTest, AbsentEngineIsUnavailableQuickly) {
  CurlDockerClientConfig config = config_;
  config.socket_path = dir_.File("nobody.sock");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DockerClient> client, MakeCurlDockerClient(config));
  const absl::Time start = absl::Now();
  EXPECT_THAT(client->Ping(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(config.socket_path)));
  EXPECT_THAT(client->InspectContainer("c1"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("inspect container c1: docker engine unreachable at")));
  // Under the two connect timeouts (2 s each) that waiting would cost.
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(CurlDockerClientTest, HungEngineIsDeadlineExceededWithinTheTimeout) {
  CurlDockerClientConfig config = config_;
  config.request_timeout = absl::Milliseconds(300);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DockerClient> client, MakeCurlDockerClient(config));
  server_->Enqueue(CannedResponse::Hang());
  const absl::Time start = absl::Now();
  EXPECT_THAT(client->InspectContainer("c1"),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("inspect container c1")));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_GE(elapsed, absl::Milliseconds(250));
  EXPECT_LT(elapsed, absl::Seconds(5));
}

TEST_F(CurlDockerClientTest, RejectsUnusableConfig) {
  CurlDockerClientConfig config;
  config.socket_path = std::string(120, 'x');
  EXPECT_THAT(MakeCurlDockerClient(config), StatusIs(absl::StatusCode::kInvalidArgument, _));
  config = CurlDockerClientConfig();
  config.api_version = "latest";
  EXPECT_THAT(MakeCurlDockerClient(config), StatusIs(absl::StatusCode::kInvalidArgument, _));
  config = CurlDockerClientConfig();
  config.request_timeout = absl::ZeroDuration();
  EXPECT_THAT(MakeCurlDockerClient(config), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

// --- ping and version -----------------------------------------------------------------------

TEST_F(CurlDockerClientTest, PingUsesTheUnversionedPath) {
  server_->Enqueue(CannedResponse::Json(200, "OK"));
  EXPECT_OK(client_->Ping());
  EXPECT_EQ(OnlyRequest().target, "/_ping");
}

TEST_F(CurlDockerClientTest, VersionReturnsTheEnginesApiVersion) {
  server_->Enqueue(CannedResponse::Json(
      200, R"({"Platform":{"Name":"Docker Engine - Community"},"Components":null,)"
           R"("Version":"24.0.7","ApiVersion":"1.43","MinAPIVersion":"1.12","Os":"linux"})"));
  ASSERT_OK_AND_ASSIGN(std::string version, client_->Version());
  EXPECT_EQ(version, "1.43");
  EXPECT_EQ(OnlyRequest().target, "/version");
}

TEST_F(CurlDockerClientTest, OlderEngineIsFailedPrecondition) {
  server_->Enqueue(CannedResponse::Json(
      200, R"({"Version":"19.03.15","ApiVersion":"1.40","MinAPIVersion":"1.12"})"));
  EXPECT_THAT(client_->Version(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("1.40"), HasSubstr("older than the 1.41"))));
}

}  // namespace
}  // namespace berth::docker
