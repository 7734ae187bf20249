// Creates that must fail fail clearly and leave nothing behind (no container, mapping dir or
// lease); a malformed app profile stops docker-svc before it serves, naming file, line and field.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
namespace alloc = ::berth::allocator::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The test box's profile with an image that is not on this host (Berth never pulls).
constexpr char kGhostProfile[] = R"pb(
  name: "ghost"
  image: "berth/no-such-image:never"
  ports { port: 32261 protocol: PROTOCOL_TCP }
  ports { port: 32263 protocol: PROTOCOL_UDP }
  env { key: "BERTH_MAPPINGS_DIR" value: "/whist/resourceMappings" }
  tty: true
)pb";

class BoxFailuresTest : public BoxTest {
 protected:
  // Nothing of `box_id` anywhere, and no lease of any box but `keep` in the allocator.
  void ExpectNothingLeft(const std::string& box_id, std::vector<std::string> keep = {}) {
    EXPECT_EQ(Leftovers(host(), box_id), "") << box_id;
    EXPECT_THAT(boxes().Get(box_id), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
    ASSERT_OK_AND_ASSIGN(alloc::ListResponse leases, host().leases().List());
    std::vector<std::string> leased;
    for (const alloc::Lease& lease : leases.leases()) leased.push_back(lease.box_id());
    EXPECT_THAT(leased, ::testing::UnorderedElementsAreArray(keep));
    ASSERT_OK_AND_ASSIGN(auto containers,
                         BerthContainers([this](const std::string& id) { return Mine(id); }));
    EXPECT_EQ(containers.size(), keep.size());
  }

  // Starts a host whose apps include `name` with `profile`, expects docker-svc to refuse to
  // start (exit 1), and returns its log.
  std::string LogOfRefusedStart(const std::string& name, const std::string& profile) {
    BoxHostOptions options;
    options.profiles[name] = profile;
    BoxHost& host = NewHost(options);
    EXPECT_OK(host.ok());
    EXPECT_OK(host.StartAllocator());
    EXPECT_OK(host.LaunchDockerSvc());
    absl::StatusOr<int> exit_code = host.docker_svc()->Wait(absl::Seconds(30));
    EXPECT_TRUE(exit_code.ok() && *exit_code == 1)
        << (exit_code.ok() ? absl::StrCat("exit code ", *exit_code) : exit_code.status().ToString());
    // It never served: nothing answers on its socket.
    BoxesClient client(host.boxes_address(), absl::Seconds(2));
    EXPECT_THAT(client.List(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
    return ReadFileOrEmpty(host.docker_svc_log());
  }
};

// docker-svc waiting at start for an engine that does not answer ends at once on SIGTERM (as
// `systemctl stop` or Ctrl-C sends), exit code 0, instead of ignoring it until SIGKILL.
TEST_F(BoxFailuresTest, SigtermWhileWaitingForTheEngineAtStartEndsTheProcess) {
  BoxHostOptions options;
  options.docker_svc_flags = {"--docker_socket=/nonexistent/docker.sock"};
  BoxHost& host = NewHost(options);
  ASSERT_OK(host.ok());
  ASSERT_OK(host.StartAllocator());
  ASSERT_OK(host.LaunchDockerSvc());
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::StrContains(ReadFileOrEmpty(host.docker_svc_log()), "retrying"); },
      absl::Seconds(20)))
      << ReadFileOrEmpty(host.docker_svc_log());
  const absl::Time asked = absl::Now();
  ASSERT_OK_AND_ASSIGN(int exit_code, host.docker_svc()->Terminate(absl::Seconds(20)));
  EXPECT_EQ(exit_code, 0);
  EXPECT_LT(absl::Now() - asked, absl::Seconds(5)) << "the signal waited for the start-up";
  EXPECT_THAT(ReadFileOrEmpty(host.docker_svc_log()),
              ::testing::HasSubstr("stopping on signal 15 before serving"));
}

// Acceptance 5: an unknown image.
TEST_F(BoxFailuresTest, UnknownImageFailsAndLeavesNothing) {
  BoxHostOptions options;
  options.profiles["ghost"] = kGhostProfile;
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  const std::string id = BoxId("ghost");
  EXPECT_THAT(
      boxes().Create(CreateRequest("ghost", id, "user-1")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("berth/no-such-image:never")));
  ExpectNothingLeft(id);
  // The host still works.
  const std::string good = BoxId("good");
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, good)).status());
  ASSERT_OK(boxes().Stop(good).status());
  ExpectNothingLeft(good);
  // A box that never existed has no GONE on the stream.
  for (const v1::BoxEvent& event : watcher->EventsOf(id)) {
    EXPECT_NE(event.kind(), v1::BoxEvent::KIND_SNAPSHOT) << DescribeEvent(event);
  }
}

// Acceptance 5: an unknown app.
TEST_F(BoxFailuresTest, UnknownAppIsInvalidArgumentAndLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("noapp");
  EXPECT_THAT(boxes().Create(CreateRequest("no-such-app", id)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no-such-app")));
  ExpectNothingLeft(id);
}

// Acceptance 5: capacity exhausted (the allocator's --max_boxes).
TEST_F(BoxFailuresTest, CapacityExhaustedIsResourceExhaustedAndLeavesNothing) {
  BoxHostOptions options;
  options.max_boxes = 2;
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  const std::string first = BoxId("first");
  const std::string second = BoxId("second");
  const std::string third = BoxId("third");
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, first)).status());
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, second)).status());
  EXPECT_THAT(boxes().Create(CreateRequest(kTestBoxApp, third)),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  ExpectNothingLeft(third, {first, second});
  ASSERT_OK_AND_ASSIGN(v1::Box still, boxes().Get(first));
  EXPECT_EQ(still.state(), v1::BOX_STATE_WAITING);

  // Room again once a box is gone.
  ASSERT_OK(boxes().Stop(first).status());
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, third)).status());
  ASSERT_OK(boxes().Stop(second).status());
  ASSERT_OK(boxes().Stop(third).status());
  ExpectNothingLeft(third);
}

// A request may set only the env keys its profile lists as overridable.
TEST_F(BoxFailuresTest, EnvOverrideOfAnUnlistedKeyIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("env");
  // Not in the profile at all, set by the profile, and the box's key: each refused.
  for (const char* key : {"LD_PRELOAD", "BERTH_MAPPINGS_DIR", "BERTH_BOX_ID", kTestBoxAesKeyEnv}) {
    SCOPED_TRACE(key);
    v1::CreateRequest request = CreateRequest(kTestBoxApp, id);
    (*request.mutable_env())[key] = "x";
    EXPECT_THAT(boxes().Create(request),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(key)));
    ExpectNothingLeft(id);
  }
}

TEST_F(BoxFailuresTest, UnknownBoxIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("nobody");
  EXPECT_THAT(boxes().Stop(id), StatusIs(absl::StatusCode::kNotFound, HasSubstr(id)));
  EXPECT_THAT(boxes().Get(id), StatusIs(absl::StatusCode::kNotFound, HasSubstr(id)));
}

TEST_F(BoxFailuresTest, MalformedBoxIdIsInvalidArgument) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  EXPECT_THAT(boxes().Create(CreateRequest(kTestBoxApp, "../escape")),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(host().MappingDirs(), IsEmpty());
  EXPECT_THAT(ListDir(host().dir()), Not(::testing::Contains("escape")));
  ASSERT_OK_AND_ASSIGN(alloc::ListResponse leases, host().leases().List());
  EXPECT_EQ(leases.leases_size(), 0);
}

// Acceptance 9: a malformed profile stops the start before docker-svc serves; stderr names
// file, line and field ("<file>:<line>: <field path>: <what>") of every problem.
TEST_F(BoxFailuresTest, MalformedProfileStopsTheStartNamingFileLineAndField) {
  const std::string log = LogOfRefusedStart(
      "broken",
      "name: \"broken\"\n"                              // 1
      "image: \"berth/test-box:latest\"\n"              // 2
      "ports { port: 70000 protocol: PROTOCOL_TCP }\n"  // 3
      "cap_add: \"CAP_SYS_ADMIN\"\n");                  // 4
  EXPECT_THAT(log, HasSubstr("broken.textproto:3: ports[0]: "));
  EXPECT_THAT(log, HasSubstr("70000"));
  EXPECT_THAT(log, HasSubstr("broken.textproto:4: cap_add[0]: "));
  EXPECT_THAT(log, Not(HasSubstr("test-box.textproto:"))) << "the good profile is not blamed";
}

// A profile that does not even parse (an unknown field) is named the same way.
TEST_F(BoxFailuresTest, UnparsableProfileStopsTheStartNamingFileAndLine) {
  const std::string log = LogOfRefusedStart(
      "typo", "name: \"typo\"\nimage: \"berth/test-box:latest\"\nmemory_byte: 5\n");
  EXPECT_THAT(log, AllOf(HasSubstr("typo.textproto:3"), HasSubstr("memory_byte")));
}

}  // namespace
}  // namespace berth::testing
