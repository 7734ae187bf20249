// docker-svc's boxes from Create to Stop against the real dockerd: the container, its labels and
// env, the mapping files (README, Mapping directory), reachability through the leased host
// ports, Get/List, idempotent Create, wait_for_ready, and many boxes at once.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
namespace alloc = ::berth::allocator::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

// The test-box profile's ports, in its order.
const std::vector<std::pair<uint32_t, alloc::Protocol>>& TestBoxPorts() {
  static const auto* ports =
      new std::vector<std::pair<uint32_t, alloc::Protocol>>{{32261, alloc::PROTOCOL_TCP},
                                                            {32262, alloc::PROTOCOL_TCP},
                                                            {32263, alloc::PROTOCOL_UDP},
                                                            {32273, alloc::PROTOCOL_TCP}};
  return *ports;
}

std::string Proto(alloc::Protocol protocol) {
  return protocol == alloc::PROTOCOL_UDP ? "udp" : "tcp";
}

// The mapping files docker-svc gives a test box (README, Mapping directory; no config.json before
// a client config).
// docker-svc/boxes/mapping_dir.h adds Whist's DPI file when a DPI is given.
std::vector<std::string> ExpectedMappingFiles(bool with_session, bool with_dpi) {
  std::vector<std::string> files = {"tty", "gpu_index", "timeout", ".paramsReady", kTestBoxMarker};
  for (const auto& [port, protocol] : TestBoxPorts()) {
    files.push_back(absl::StrCat("hostPort_for_my_", port, "_", Proto(protocol)));
  }
  if (with_session) files.push_back("session_id");
  if (with_dpi) files.push_back("DPI");
  return files;
}

std::vector<std::string> Ids(const std::vector<v1::Box>& boxes) {
  std::vector<std::string> ids;
  for (const v1::Box& box : boxes) ids.push_back(box.box_id());
  return ids;
}

class BoxLifecycleTest : public BoxTest {
 protected:
  // Checks what a box of the test-box app holds: ports in profile order within this host's
  // range, a TTY of the pool, no GPU, and a lease that says the same.
  void ExpectTestBoxResources(const v1::Box& box) {
    SCOPED_TRACE(box.box_id());
    EXPECT_EQ(box.app(), kTestBoxApp);
    EXPECT_FALSE(box.container_id().empty());
    EXPECT_GE(box.tty(), 10);
    EXPECT_LT(box.tty(), 60);
    EXPECT_EQ(box.gpu_index(), -1);
    ASSERT_EQ(box.ports_size(), 4);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(box.ports(i).container_port(), TestBoxPorts()[i].first);
      EXPECT_EQ(box.ports(i).protocol(), TestBoxPorts()[i].second);
      EXPECT_GE(box.ports(i).host_port(), host().port_begin());
      EXPECT_LT(box.ports(i).host_port(), host().port_end());
    }
    ASSERT_OK_AND_ASSIGN(alloc::Lease lease, host().leases().Get(box.box_id()));
    EXPECT_EQ(lease.state(), alloc::LEASE_STATE_BOUND);
    EXPECT_EQ(lease.container_id(), box.container_id());
    EXPECT_EQ(lease.tty(), box.tty());
    ASSERT_EQ(lease.ports_size(), box.ports_size());
    for (int i = 0; i < lease.ports_size(); ++i) {
      EXPECT_TRUE(MessageDifferencer::Equals(lease.ports(i), box.ports(i)))
          << lease.ports(i).ShortDebugString() << " vs " << box.ports(i).ShortDebugString();
    }
  }

  // Every TCP port of the box answers with its box id.
  void ExpectReachable(const v1::Box& box) {
    for (const alloc::PortBinding& port : box.ports()) {
      if (port.protocol() != alloc::PROTOCOL_TCP) continue;
      EXPECT_TRUE(WaitForGreeting(static_cast<uint16_t>(port.host_port()), box.box_id() + "\n",
                                  absl::Seconds(20)))
          << box.box_id() << " is not reachable on host port " << port.host_port()
          << " (container port " << port.container_port() << "); greeting now: \""
          << ReadGreeting(static_cast<uint16_t>(port.host_port())) << "\"";
    }
  }
};

// Acceptance 1: a box from a profile with three TCP ports and one UDP port, from Create to Stop.
TEST_F(BoxLifecycleTest, FourPortBoxFromCreateToStop) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  const std::string id = BoxId("one");
  v1::CreateRequest request = CreateRequest(kTestBoxApp, id, "user-1");
  request.set_session_id("session-1");
  request.set_dpi(192);
  const absl::Time before_create = absl::Now();
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));
  EXPECT_TRUE(created.created());
  const v1::Box& box = created.box();
  EXPECT_EQ(box.box_id(), id);
  EXPECT_EQ(box.user_id(), "user-1");
  EXPECT_EQ(box.session_id(), "session-1");
  EXPECT_EQ(box.dpi(), 192u);
  EXPECT_EQ(box.state(), v1::BOX_STATE_ALLOCATED);
  EXPECT_TRUE(box.has_created_at());
  EXPECT_GE(google::protobuf::util::TimeUtil::TimestampToTimeT(box.created_at()),
            absl::ToTimeT(before_create) - 1);
  ASSERT_NO_FATAL_FAILURE(ExpectTestBoxResources(box));

  // The container: its name, labels, env, published ports and TTY device.
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo info,
                       Docker().InspectContainer(absl::StrCat("berth-", id)));
  EXPECT_EQ(info.id, box.container_id());
  EXPECT_EQ(info.name, absl::StrCat("berth-", id));
  EXPECT_TRUE(info.running) << info.status;
  EXPECT_EQ(info.image, kTestBoxImage);
  EXPECT_EQ(info.labels["berth.box_id"], id);
  EXPECT_EQ(info.labels["berth.app"], kTestBoxApp);
  EXPECT_EQ(info.labels["berth.user_id"], "user-1");
  EXPECT_THAT(info.env, Contains(absl::StrCat("BERTH_BOX_ID=", id)));
  EXPECT_THAT(info.env, Contains("BERTH_MAPPINGS_DIR=/whist/resourceMappings"));
  EXPECT_THAT(info.env, Contains(absl::StrCat("BERTH_READY_MARKER=", kTestBoxMarker)));
  EXPECT_THAT(info.env, Contains(MatchesRegex(absl::StrCat(kTestBoxAesKeyEnv, "=[0-9a-f]{32}"))))
      << "the box's AES key: 32 hex characters";
  for (const alloc::PortBinding& port : box.ports()) {
    EXPECT_THAT(info.ports,
                Contains(AllOf(Field(&docker::PortBinding::container_port, port.container_port()),
                               Field(&docker::PortBinding::protocol, Proto(port.protocol())),
                               Field(&docker::PortBinding::host_port, port.host_port()))))
        << "published " << port.ShortDebugString();
  }
  EXPECT_EQ(info.ports.size(), 4u);
  EXPECT_THAT(info.devices, Contains(Field(&docker::DeviceMapping::path_on_host,
                                           absl::StrCat("/dev/tty", box.tty()))));

  // The mapping files, exactly ExpectedMappingFiles', once the box has written its readiness
  // marker.
  const std::string dir = host().BoxDir(id);
  ASSERT_TRUE(WaitUntil([&] { return absl::c_linear_search(ListDir(dir), kTestBoxMarker); },
                        absl::Seconds(20)))
      << "the box never wrote its readiness marker; files: "
      << ::testing::PrintToString(ListDir(dir));
  EXPECT_THAT(ListDir(dir), UnorderedElementsAreArray(
                                ExpectedMappingFiles(/*with_session=*/true, /*with_dpi=*/true)));
  EXPECT_EQ(ReadFileOrEmpty(dir + "/tty"), absl::StrCat(box.tty()));
  EXPECT_EQ(ReadFileOrEmpty(dir + "/gpu_index"), "0");
  for (const alloc::PortBinding& port : box.ports()) {
    EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(dir, "/hostPort_for_my_", port.container_port(), "_",
                                           Proto(port.protocol()))),
              absl::StrCat(port.host_port()));
  }
  int timeout_seconds = 0;
  EXPECT_TRUE(absl::SimpleAtoi(ReadFileOrEmpty(dir + "/timeout"), &timeout_seconds) &&
              timeout_seconds > 0)
      << "timeout file: \"" << ReadFileOrEmpty(dir + "/timeout") << "\"";
  EXPECT_EQ(ReadFileOrEmpty(dir + "/session_id"), "session-1");
  EXPECT_EQ(ReadFileOrEmpty(dir + "/DPI"), "192");

  // The host reaches the box's server through each leased TCP port.
  ExpectReachable(box);

  // Get and List show it.
  ASSERT_OK_AND_ASSIGN(v1::Box got, boxes().Get(id));
  EXPECT_EQ(got.box_id(), id);
  EXPECT_EQ(got.container_id(), box.container_id());
  EXPECT_EQ(got.user_id(), "user-1");
  EXPECT_EQ(got.tty(), box.tty());
  EXPECT_THAT(got.state(),
              AnyOf(v1::BOX_STATE_ALLOCATED, v1::BOX_STATE_CONNECTING, v1::BOX_STATE_RUNNING));
  ASSERT_EQ(got.ports_size(), box.ports_size());
  for (int i = 0; i < got.ports_size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(got.ports(i), box.ports(i)));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> listed, boxes().List());
  EXPECT_THAT(Ids(listed), ElementsAre(id));
  EXPECT_OK(watcher->WaitFor(
      [&](const v1::BoxEvent& event) {
        return event.kind() == v1::BoxEvent::KIND_CHANGED && event.box().box_id() == id;
      },
      absl::Seconds(5)));

  // Stop: it returns once container, directory and lease are gone.
  ASSERT_OK_AND_ASSIGN(v1::StopResponse stopped, boxes().Stop(id));
  EXPECT_EQ(stopped.box().box_id(), id);
  EXPECT_EQ(Leftovers(host(), id), "");
  EXPECT_THAT(boxes().Get(id), StatusIs(absl::StatusCode::kNotFound, HasSubstr(id)));
  ASSERT_OK_AND_ASSIGN(listed, boxes().List());
  EXPECT_THAT(listed, IsEmpty());
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(id, absl::Seconds(5)));
  EXPECT_EQ(gone.event.box().reason(), "stopped");
  EXPECT_EQ(gone.event.exit_code(), 0) << "the test box exits 0 on SIGTERM";
  EXPECT_FALSE(gone.event.oom_killed());
  EXPECT_GT(google::protobuf::util::TimeUtil::DurationToMilliseconds(gone.event.run_time()), 0);
  // Nothing about the box follows its GONE event.
  EXPECT_EQ(watcher->EventsOf(id).back().kind(), v1::BoxEvent::KIND_GONE) << watcher->Describe();
}

TEST_F(BoxLifecycleTest, WaitForReadyAnswersRunningOnceTheMarkerIsThere) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("ready");
  v1::CreateRequest request = CreateRequest(kTestBoxApp, id);
  request.set_wait_for_ready(true);
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));
  EXPECT_EQ(created.box().state(), v1::BOX_STATE_RUNNING);
  EXPECT_TRUE(created.box().has_ready_at());
  EXPECT_TRUE(created.box().has_started_at());
  EXPECT_GE(google::protobuf::util::TimeUtil::TimestampToMilliseconds(created.box().ready_at()),
            google::protobuf::util::TimeUtil::TimestampToMilliseconds(created.box().started_at()));
  // The marker is there at the moment Create answers.
  EXPECT_THAT(ListDir(host().BoxDir(id)), Contains(kTestBoxMarker));
  // No user: no session file.
  EXPECT_THAT(ListDir(host().BoxDir(id)), Not(Contains("session_id")));
  // Ready means serving.
  const uint16_t port = static_cast<uint16_t>(created.box().ports(0).host_port());
  EXPECT_EQ(ReadGreeting(port), id + "\n");
  ASSERT_OK_AND_ASSIGN(v1::Box got, boxes().Get(id));
  EXPECT_EQ(got.state(), v1::BOX_STATE_RUNNING);
  ASSERT_OK(boxes().Stop(id).status());
  EXPECT_EQ(Leftovers(host(), id), "");
}

TEST_F(BoxLifecycleTest, WithoutUserTheBoxIsWaiting) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("warm");
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(CreateRequest(kTestBoxApp, id)));
  EXPECT_EQ(created.box().state(), v1::BOX_STATE_WAITING);
  EXPECT_EQ(created.box().user_id(), "");
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo info,
                       Docker().InspectContainer(absl::StrCat("berth-", id)));
  EXPECT_EQ(info.labels["berth.box_id"], id);
  EXPECT_EQ(info.labels["berth.app"], kTestBoxApp);
  ASSERT_OK(boxes().Stop(id).status());
  EXPECT_EQ(Leftovers(host(), id), "");
}

TEST_F(BoxLifecycleTest, CreateIsIdempotentOnBoxId) {
  BoxHostOptions options;
  options.profiles["test-box-b"] = TestBoxProfileAs("test-box-b");
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  const std::string id = BoxId("same");
  const v1::CreateRequest request = CreateRequest(kTestBoxApp, id, "user-1");
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse first, boxes().Create(request));
  EXPECT_TRUE(first.created());

  // The same request again: the same box, not a second one.
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse again, boxes().Create(request));
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.box().box_id(), id);
  EXPECT_EQ(again.box().container_id(), first.box().container_id());
  EXPECT_EQ(again.box().tty(), first.box().tty());
  ASSERT_EQ(again.box().ports_size(), first.box().ports_size());
  for (int i = 0; i < again.box().ports_size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(again.box().ports(i), first.box().ports(i)));
  }

  // The same box id for another user or another app is refused and changes nothing.
  EXPECT_THAT(boxes().Create(CreateRequest(kTestBoxApp, id, "user-2")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(id)));
  EXPECT_THAT(boxes().Create(CreateRequest("test-box-b", id, "user-1")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(id)));
  ASSERT_OK_AND_ASSIGN(v1::Box got, boxes().Get(id));
  EXPECT_EQ(got.user_id(), "user-1");
  EXPECT_EQ(got.app(), kTestBoxApp);
  EXPECT_EQ(got.container_id(), first.box().container_id());
  ASSERT_OK_AND_ASSIGN(auto containers,
                       BerthContainers([this](const std::string& box_id) { return Mine(box_id); }));
  EXPECT_EQ(containers.size(), 1u);
  ASSERT_OK_AND_ASSIGN(alloc::Lease lease, host().leases().Get(id));
  EXPECT_EQ(lease.container_id(), first.box().container_id());

  ASSERT_OK(boxes().Stop(id).status());
  EXPECT_EQ(Leftovers(host(), id), "");
}

TEST_F(BoxLifecycleTest, ConcurrentIdenticalCreatesMakeOneBox) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("race");
  constexpr int kCallers = 6;
  std::vector<absl::StatusOr<v1::CreateResponse>> results(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      BoxesClient client(host().boxes_address());
      results[i] = client.Create(CreateRequest(kTestBoxApp, id, "user-1"));
    });
  }
  for (std::thread& caller : callers) caller.join();
  int created = 0;
  std::set<std::string> container_ids;
  for (const auto& result : results) {
    ASSERT_OK(result.status());
    created += result->created() ? 1 : 0;
    container_ids.insert(result->box().container_id());
  }
  EXPECT_EQ(created, 1) << "exactly one caller makes the box";
  EXPECT_EQ(container_ids.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto containers,
                       BerthContainers([this](const std::string& box_id) { return Mine(box_id); }));
  EXPECT_EQ(containers.size(), 1u);
  ASSERT_OK(boxes().Stop(id).status());
  EXPECT_EQ(Leftovers(host(), id), "");
}

TEST_F(BoxLifecycleTest, EmptyBoxIdGetsAUuid) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  absl::StatusOr<v1::CreateResponse> created = boxes().Create(CreateRequest(kTestBoxApp, ""));
  if (created.ok()) Track(created->box().box_id());
  ASSERT_OK(created.status());
  const std::string id = created->box().box_id();
  EXPECT_THAT(id, MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo info,
                       Docker().InspectContainer(absl::StrCat("berth-", id)));
  EXPECT_EQ(info.labels["berth.box_id"], id);
  EXPECT_THAT(info.env, Contains(absl::StrCat("BERTH_BOX_ID=", id)));
  ASSERT_OK(boxes().Stop(id).status());
  EXPECT_EQ(Leftovers(host(), id), "");
}

TEST_F(BoxLifecycleTest, AllowedEnvOverrideReachesTheBox) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("env");
  v1::CreateRequest request = CreateRequest(kTestBoxApp, id);
  // The profile lets requests set BERTH_ALLOCATE_MB; 1 MB is far below the box's limit.
  (*request.mutable_env())["BERTH_ALLOCATE_MB"] = "1";
  request.set_wait_for_ready(true);
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));
  ASSERT_OK_AND_ASSIGN(docker::ContainerInfo info,
                       Docker().InspectContainer(absl::StrCat("berth-", id)));
  EXPECT_THAT(info.env, Contains("BERTH_ALLOCATE_MB=1"));
  ASSERT_OK(boxes().Stop(id).status());
  EXPECT_EQ(Leftovers(host(), id), "");
}

TEST_F(BoxLifecycleTest, ListFiltersByStateAppAndUserInBoxIdOrder) {
  BoxHostOptions options;
  options.profiles["test-box-b"] = TestBoxProfileAs("test-box-b");
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  // Created out of order: List sorts by box id. The boxes with a user wait for readiness, so
  // that they are RUNNING for good when listed; the one without stays WAITING.
  const std::string a = BoxId("a"), b = BoxId("b"), c = BoxId("c"), d = BoxId("d");
  auto ready = [](v1::CreateRequest request) {
    request.set_wait_for_ready(true);
    return request;
  };
  ASSERT_OK(boxes().Create(ready(CreateRequest(kTestBoxApp, c, "user-2"))).status());
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, a)).status());
  ASSERT_OK(boxes().Create(ready(CreateRequest("test-box-b", d, "user-1"))).status());
  ASSERT_OK(boxes().Create(ready(CreateRequest(kTestBoxApp, b, "user-1"))).status());

  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> all, boxes().List());
  EXPECT_THAT(Ids(all), ElementsAre(a, b, c, d));
  v1::ListRequest waiting;
  waiting.set_state(v1::BOX_STATE_WAITING);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> listed, boxes().List(waiting));
  EXPECT_THAT(Ids(listed), ElementsAre(a));
  v1::ListRequest running;
  running.set_state(v1::BOX_STATE_RUNNING);
  ASSERT_OK_AND_ASSIGN(listed, boxes().List(running));
  EXPECT_THAT(Ids(listed), ElementsAre(b, c, d));
  v1::ListRequest allocated;
  allocated.set_state(v1::BOX_STATE_ALLOCATED);
  ASSERT_OK_AND_ASSIGN(listed, boxes().List(allocated));
  EXPECT_THAT(listed, IsEmpty());
  v1::ListRequest by_user;
  by_user.set_user_id("user-1");
  ASSERT_OK_AND_ASSIGN(listed, boxes().List(by_user));
  EXPECT_THAT(Ids(listed), ElementsAre(b, d));
  v1::ListRequest by_app;
  by_app.set_app("test-box-b");
  ASSERT_OK_AND_ASSIGN(listed, boxes().List(by_app));
  EXPECT_THAT(Ids(listed), ElementsAre(d));
  v1::ListRequest both;
  both.set_app(kTestBoxApp);
  both.set_user_id("user-1");
  ASSERT_OK_AND_ASSIGN(listed, boxes().List(both));
  EXPECT_THAT(Ids(listed), ElementsAre(b));
  v1::ListRequest nobody;
  nobody.set_user_id("nobody");
  ASSERT_OK_AND_ASSIGN(listed, boxes().List(nobody));
  EXPECT_THAT(listed, IsEmpty());

  for (const std::string& id : {a, b, c, d}) {
    ASSERT_OK(boxes().Stop(id).status());
    EXPECT_EQ(Leftovers(host(), id), "");
  }
}

// Acceptance 2: 20 concurrent Creates, then 20 concurrent Stops.
TEST_F(BoxLifecycleTest, TwentyConcurrentCreatesAndStops) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  constexpr int kBoxes = 20;
  std::vector<std::string> ids;
  for (int i = 0; i < kBoxes; ++i) ids.push_back(BoxId(absl::StrCat("c", i)));

  std::vector<absl::StatusOr<v1::CreateResponse>> created(kBoxes);
  std::vector<std::thread> callers;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kBoxes; ++i) {
    callers.emplace_back([&, i] {
      BoxesClient client(host().boxes_address(), absl::Seconds(120));
      created[i] = client.Create(CreateRequest(kTestBoxApp, ids[i], absl::StrCat("user-", i)));
    });
  }
  for (std::thread& caller : callers) caller.join();
  callers.clear();
  std::cerr << kBoxes << " concurrent creates took " << absl::Now() - start << "\n";

  std::map<int32_t, std::string> ttys;
  std::map<std::pair<int, uint32_t>, std::string> host_ports;
  for (int i = 0; i < kBoxes; ++i) {
    ASSERT_OK(created[i].status()) << ids[i];
    const v1::Box& box = created[i]->box();
    EXPECT_TRUE(created[i]->created());
    EXPECT_EQ(box.box_id(), ids[i]);
    ExpectTestBoxResources(box);
    auto [tty, new_tty] = ttys.emplace(box.tty(), ids[i]);
    EXPECT_TRUE(new_tty) << "tty " << box.tty() << " of both " << tty->second << " and " << ids[i];
    for (const alloc::PortBinding& port : box.ports()) {
      auto [held, new_port] =
          host_ports.emplace(std::make_pair(port.protocol(), port.host_port()), ids[i]);
      EXPECT_TRUE(new_port) << Proto(port.protocol()) << " host port " << port.host_port()
                            << " of both " << held->second << " and " << ids[i];
    }
  }
  for (int i = 0; i < kBoxes; ++i) ExpectReachable(created[i]->box());
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> listed, boxes().List());
  EXPECT_EQ(listed.size(), static_cast<size_t>(kBoxes));

  std::vector<absl::Status> stopped(kBoxes);
  for (int i = 0; i < kBoxes; ++i) {
    callers.emplace_back([&, i] {
      BoxesClient client(host().boxes_address(), absl::Seconds(120));
      stopped[i] = client.Stop(ids[i]).status();
    });
  }
  for (std::thread& caller : callers) caller.join();
  for (int i = 0; i < kBoxes; ++i) {
    EXPECT_OK(stopped[i]) << ids[i];
    EXPECT_EQ(Leftovers(host(), ids[i]), "");
  }
  ASSERT_OK_AND_ASSIGN(listed, boxes().List());
  EXPECT_THAT(listed, IsEmpty());
  ASSERT_OK_AND_ASSIGN(alloc::ListResponse leases, host().leases().List());
  EXPECT_EQ(leases.leases_size(), 0);
  ASSERT_OK_AND_ASSIGN(auto containers,
                       BerthContainers([this](const std::string& box_id) { return Mine(box_id); }));
  EXPECT_THAT(containers, IsEmpty());
  EXPECT_THAT(host().MappingDirs(), IsEmpty());
}

}  // namespace
}  // namespace berth::testing
