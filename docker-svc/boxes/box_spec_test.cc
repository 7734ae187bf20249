#include "docker-svc/boxes/box_spec.h"

#include <set>

#include "absl/strings/match.h"
#include "common/testing/status_matchers.h"
#include "docker-svc/boxes/app_profiles.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kProfile[] = R"pb(
name: "browser"
image: "berth/test-box:latest"
cmd: "/box/entrypoint.sh"
ports { port: 32261 protocol: PROTOCOL_TCP }
ports { port: 32263 protocol: PROTOCOL_UDP }
env { key: "LANG" value: "C.UTF-8" }
env { key: "MODE" value: "default" }
overridable_env: "MODE"
binds { host_path: "/srv/fonts" container_path: "/usr/share/fonts" read_only: true }
devices { host_path: "/dev/fuse" }
cap_add: "SYS_NICE"
cap_drop: "NET_RAW"
security_opt: "no-new-privileges"
shm_size_bytes: 1048576
tmpfs { key: "/run" value: "size=16m" }
memory_bytes: 268435456
cpus: 1.5
pids_limit: 128
readiness_marker: "ready"
tty: true
gpu: true
aes_key_env: "BERTH_AES_KEY"
stop_grace_seconds: 7
)pb";

box::v1::AppProfile Profile() {
  absl::StatusOr<box::v1::AppProfile> profile = ParseAppProfile("browser.textproto", kProfile);
  EXPECT_THAT(profile.status(), IsOk());
  return *profile;
}

box::v1::CreateRequest Request() {
  box::v1::CreateRequest request;
  request.set_app("browser");
  request.set_box_id("box-1");
  request.set_user_id("user-7");
  request.set_session_id("1700000000");
  request.set_dpi(192);
  return request;
}

TEST(ValidateCreateRequestTest, AGoodRequestPasses) {
  const box::v1::AppProfile profile = Profile();
  box::v1::CreateRequest request = Request();
  (*request.mutable_env())["MODE"] = "fast";
  request.mutable_ttl()->set_seconds(60);
  EXPECT_THAT(ValidateCreateRequest(request, &profile, "browser"), IsOk());
  request.clear_box_id();  // generated
  EXPECT_THAT(ValidateCreateRequest(request, &profile, "browser"), IsOk());
}

TEST(ValidateCreateRequestTest, EveryBadFieldIsNamed) {
  const box::v1::AppProfile profile = Profile();
  EXPECT_THAT(ValidateCreateRequest(Request(), nullptr, "browser, editor"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unknown app \"browser\""), HasSubstr("browser, editor"))));
  box::v1::CreateRequest request = Request();
  request.set_app("");
  EXPECT_THAT(ValidateCreateRequest(request, nullptr, "browser"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("app is required")));

  struct Case {
    std::function<void(box::v1::CreateRequest&)> spoil;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.set_box_id("../etc"); }, "box_id"},
      {[](auto& r) { r.set_box_id(std::string(65, 'a')); }, "box_id"},
      {[](auto& r) { r.set_user_id("has space"); }, "user_id"},
      {[](auto& r) { r.set_user_id(std::string(257, 'u')); }, "user_id"},
      {[](auto& r) { r.set_session_id("line\nbreak"); }, "session_id"},
      {[](auto& r) { r.set_dpi(5000); }, "dpi"},
      {[](auto& r) { (*r.mutable_env())["LANG"] = "x"; }, "does not let a request set \"LANG\""},
      {[](auto& r) { (*r.mutable_env())["MODE"] = std::string("a\0b", 3); }, "NUL"},
      {[](auto& r) { r.mutable_ttl()->set_seconds(-1); }, "ttl"},
      {[](auto& r) { r.mutable_ttl()->set_nanos(-5); }, "ttl"},
  };
  for (const Case& c : cases) {
    box::v1::CreateRequest bad = Request();
    c.spoil(bad);
    EXPECT_THAT(ValidateCreateRequest(bad, &profile, "browser"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
}

TEST(SameBoxRequestTest, WaitForReadyAndAGeneratedIdDoNotMatter) {
  box::v1::CreateRequest original = Request();
  box::v1::CreateRequest retry = Request();
  retry.set_wait_for_ready(true);
  EXPECT_TRUE(SameBoxRequest(original, retry));
  retry.clear_box_id();
  EXPECT_TRUE(SameBoxRequest(original, retry));
  retry.set_user_id("someone-else");
  EXPECT_FALSE(SameBoxRequest(original, retry));
  retry = Request();
  (*retry.mutable_env())["MODE"] = "fast";
  EXPECT_FALSE(SameBoxRequest(original, retry));
}

TEST(ReserveRequestForTest, AsksForTheProfilesPortsTtyAndGpu) {
  const allocator::v1::ReserveRequest request = ReserveRequestFor(Profile(), "box-1");
  EXPECT_EQ(request.box_id(), "box-1");
  ASSERT_EQ(request.ports_size(), 2);
  EXPECT_EQ(request.ports(0).container_port(), 32261u);
  EXPECT_EQ(request.ports(0).protocol(), allocator::v1::PROTOCOL_TCP);
  EXPECT_EQ(request.ports(0).host_port(), 0u);
  EXPECT_EQ(request.ports(1).container_port(), 32263u);
  EXPECT_EQ(request.ports(1).protocol(), allocator::v1::PROTOCOL_UDP);
  EXPECT_TRUE(request.tty());
  EXPECT_TRUE(request.gpu());
}

internal::BoxRecord LeasedRecord() {
  internal::BoxRecord record;
  *record.mutable_request() = Request();
  (*record.mutable_request()->mutable_env())["MODE"] = "fast";
  record.set_aes_key("00112233445566778899aabbccddeeff");
  box::v1::Box& box = *record.mutable_box();
  box.set_box_id("box-1");
  box.set_app("browser");
  box.set_user_id("user-7");
  box.set_session_id("1700000000");
  box.set_tty(12);
  box.set_gpu_index(1);
  auto* tcp = box.add_ports();
  tcp->set_container_port(32261);
  tcp->set_protocol(allocator::v1::PROTOCOL_TCP);
  tcp->set_host_port(20001);
  auto* udp = box.add_ports();
  udp->set_container_port(32263);
  udp->set_protocol(allocator::v1::PROTOCOL_UDP);
  udp->set_host_port(20002);
  return record;
}

TEST(ContainerSpecForTest, TheProfileGrantsAndTheLeaseBinds) {
  const ContainerSpec spec = ContainerSpecFor(Profile(), LeasedRecord(), "/var/lib/berth/boxes");
  EXPECT_EQ(spec.name, "berth-box-1");
  EXPECT_EQ(spec.image, "berth/test-box:latest");
  EXPECT_THAT(spec.cmd, ElementsAre("/box/entrypoint.sh"));
  EXPECT_THAT(spec.env, UnorderedElementsAre("LANG=C.UTF-8", "MODE=fast", "BERTH_BOX_ID=box-1",
                                             "BERTH_AES_KEY=00112233445566778899aabbccddeeff",
                                             "NVIDIA_VISIBLE_DEVICES=1"));
  EXPECT_EQ(spec.labels.at("berth.box_id"), "box-1");
  EXPECT_EQ(spec.labels.at("berth.app"), "browser");
  EXPECT_EQ(spec.labels.at("berth.user_id"), "user-7");
  EXPECT_EQ(spec.labels.at("berth.session_id"), "1700000000");
  EXPECT_EQ(spec.labels.at("berth.boxes_dir"), "/var/lib/berth/boxes");
  EXPECT_EQ(OwnerLabelFilter("/var/lib/berth/boxes"), "berth.boxes_dir=/var/lib/berth/boxes");
  EXPECT_THAT(spec.ports, ElementsAre(PortBinding{32261, "tcp", 20001, ""},
                                      PortBinding{32263, "udp", 20002, ""}));
  EXPECT_THAT(spec.binds, ElementsAre("/srv/fonts:/usr/share/fonts:ro"));
  // The mapping directory is a tmpfs of the box's own, made and removed with its container.
  ASSERT_EQ(spec.tmpfs_volumes.size(), 1u);
  EXPECT_EQ(spec.tmpfs_volumes[0].target, "/whist/resourceMappings");
  EXPECT_EQ(spec.tmpfs_volumes[0].size_bytes, 4 << 20);
  EXPECT_EQ(spec.tmpfs_volumes[0].mode, "0777");
  EXPECT_EQ(spec.tmpfs_volumes[0].labels.at("berth.box_id"), "box-1");
  EXPECT_EQ(spec.tmpfs_volumes[0].labels.at("berth.boxes_dir"), "/var/lib/berth/boxes");
  EXPECT_THAT(spec.devices, ElementsAre(DeviceMapping{"/dev/fuse", "/dev/fuse", "rwm"},
                                        DeviceMapping{"/dev/tty12", "/dev/tty12", "rwm"}));
  EXPECT_THAT(spec.cap_add, ElementsAre("SYS_NICE"));
  EXPECT_THAT(spec.cap_drop, ElementsAre("NET_RAW"));
  EXPECT_THAT(spec.security_opt, ElementsAre("no-new-privileges"));
  EXPECT_EQ(spec.shm_size_bytes, 1048576);
  EXPECT_EQ(spec.tmpfs.at("/run"), "size=16m");
  EXPECT_EQ(spec.memory_bytes, 268435456);
  EXPECT_EQ(spec.nano_cpus, 1500000000);
  EXPECT_EQ(spec.pids_limit, 128);
  EXPECT_EQ(spec.stop_timeout_seconds, 7);
}

TEST(ContainerSpecForTest, ARequestCannotOverrideWhatBerthSets) {
  box::v1::AppProfile profile = Profile();
  profile.add_overridable_env("BERTH_BOX_ID");
  internal::BoxRecord record = LeasedRecord();
  (*record.mutable_request()->mutable_env())["BERTH_BOX_ID"] = "other-box";
  const ContainerSpec spec = ContainerSpecFor(profile, record, "/boxes");
  EXPECT_THAT(spec.env, Contains("BERTH_BOX_ID=box-1"));
  EXPECT_THAT(spec.env, Not(Contains("BERTH_BOX_ID=other-box")));
}

TEST(MappingDirOfTest, TheSourceOfTheMountAtTheMappingsDir) {
  ContainerInfo info;
  info.mounts = {{"bind", "", "/srv/fonts", "/usr/share/fonts"},
                 {"volume", "v1", "/var/lib/docker/volumes/v1/_data", "/whist/resourceMappings"}};
  EXPECT_EQ(MappingDirOf(info, "/whist/resourceMappings"), "/var/lib/docker/volumes/v1/_data");
  EXPECT_EQ(MappingDirOf(info, "/elsewhere"), std::nullopt);
}

TEST(LiveBoxOfTest, ReadsBackWhatTheSpecSet) {
  const ContainerSpec spec = ContainerSpecFor(Profile(), LeasedRecord(), "/boxes");
  ContainerInfo info;
  info.id = "abc123";
  info.ports = spec.ports;
  info.devices = spec.devices;
  info.env = spec.env;
  const allocator::v1::LiveBox live = LiveBoxOf("box-1", info);
  EXPECT_EQ(live.box_id(), "box-1");
  EXPECT_EQ(live.container_id(), "abc123");
  EXPECT_EQ(live.tty(), 12);
  EXPECT_EQ(live.gpu_index(), 1);
  ASSERT_EQ(live.ports_size(), 2);
  EXPECT_EQ(live.ports(1).protocol(), allocator::v1::PROTOCOL_UDP);
  EXPECT_EQ(live.ports(1).host_port(), 20002u);

  const allocator::v1::LiveBox bare = LiveBoxOf("box-2", ContainerInfo{});
  EXPECT_EQ(bare.tty(), -1);
  EXPECT_EQ(bare.gpu_index(), -1);
}

TEST(BoxIdOfTest, OnlyANonEmptyLabelNamesABox) {
  EXPECT_EQ(BoxIdOf({{"berth.box_id", "b1"}}), "b1");
  EXPECT_EQ(BoxIdOf({{"berth.box_id", ""}}), std::nullopt);
  EXPECT_EQ(BoxIdOf({{"other", "b1"}}), std::nullopt);
}

TEST(NewBoxIdTest, IsAVersion4UuidAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewBoxId();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_THAT(std::string("89ab"), HasSubstr(std::string(1, id[19]))) << id;
    EXPECT_TRUE(seen.insert(id).second);
  }
  const std::string key = NewAesKey();
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(key, NewAesKey());
}

}  // namespace
}  // namespace berth::docker
