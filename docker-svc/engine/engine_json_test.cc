#include "docker-svc/engine/engine_json.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker::engine_json {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::_;

TEST(CreateRequestBodyTest, LargeQuantitiesAreJsonNumbersNotStrings) {
  ContainerSpec spec;
  spec.image = "img";
  spec.memory_bytes = int64_t{8} << 30;
  spec.nano_cpus = 2'500'000'000;
  spec.shm_size_bytes = int64_t{1} << 31;
  spec.pids_limit = 512;
  ASSERT_OK_AND_ASSIGN(std::string body, CreateRequestBody(spec));
  EXPECT_THAT(body, HasSubstr(R"("Memory":8589934592)"));
  EXPECT_THAT(body, HasSubstr(R"("NanoCpus":2500000000)"));
  EXPECT_THAT(body, HasSubstr(R"("ShmSize":2147483648)"));
  EXPECT_THAT(body, HasSubstr(R"("PidsLimit":512)"));
}

TEST(CreateRequestBodyTest, DefaultsAreOmitted) {
  ContainerSpec spec;
  spec.image = "img";
  ASSERT_OK_AND_ASSIGN(std::string body, CreateRequestBody(spec));
  EXPECT_EQ(body, R"({"Image":"img","HostConfig":{}})");
}

TEST(CreateRequestBodyTest, RejectsUnusableSpecs) {
  ContainerSpec spec;
  EXPECT_THAT(CreateRequestBody(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("no image")));
  spec.image = "img";
  spec.ports.push_back({80, "sctp", 20000, ""});
  EXPECT_THAT(CreateRequestBody(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("sctp")));
  spec.ports = {{70000, "tcp", 20000, ""}};
  EXPECT_THAT(CreateRequestBody(spec), StatusIs(absl::StatusCode::kInvalidArgument, _));
  spec.ports.clear();
  spec.memory_bytes = int64_t{1} << 60;
  EXPECT_THAT(CreateRequestBody(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("memory_bytes")));
}

TEST(CreateRequestBodyTest, ATmpfsVolumeIsAnAnonymousLocalVolumeMount) {
  ContainerSpec spec;
  spec.image = "img";
  spec.tmpfs_volumes.push_back(
      {"/whist/resourceMappings", 4 << 20, "0777", 4096, {{"berth.box_id", "b1"}}});
  ASSERT_OK_AND_ASSIGN(std::string body, CreateRequestBody(spec));
  EXPECT_THAT(body, HasSubstr(R"("Mounts":[{"Type":"volume","Target":"/whist/resourceMappings",)"
                              R"("VolumeOptions":{"NoCopy":true,"Labels":{"berth.box_id":"b1"},)"
                              R"("DriverConfig":{"Name":"local","Options":{)"));
  // The driver's options, in the order protobuf's map gives them.
  EXPECT_THAT(body, HasSubstr(R"("device":"tmpfs")"));
  EXPECT_THAT(body, HasSubstr(R"("type":"tmpfs")"));
  EXPECT_THAT(body, HasSubstr(R"("o":"size=4194304,mode=0777,nr_inodes=4096,nodev,nosuid,noexec")"));
  spec.tmpfs_volumes[0].size_bytes = 0;
  EXPECT_THAT(CreateRequestBody(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("no size")));
  spec.tmpfs_volumes[0] = {"relative", 1, "0777", 4096, {}};
  EXPECT_THAT(CreateRequestBody(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("absolute")));
}

TEST(ParseInspectResponseTest, MountsAndTheirSources) {
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, ParseInspectResponse(R"({"Id": "abc",
    "Mounts": [{"Type": "volume", "Name": "v1", "Driver": "local", "RW": true,
                "Source": "/var/lib/docker/volumes/v1/_data",
                "Destination": "/whist/resourceMappings"},
               {"Type": "bind", "Source": "/srv/fonts", "Destination": "/usr/share/fonts"}]})"));
  ASSERT_EQ(info.mounts.size(), 2u);
  EXPECT_EQ(info.mounts[0].type, "volume");
  EXPECT_EQ(info.mounts[0].name, "v1");
  EXPECT_EQ(info.mounts[0].source, "/var/lib/docker/volumes/v1/_data");
  EXPECT_EQ(info.mounts[0].destination, "/whist/resourceMappings");
  EXPECT_EQ(info.mounts[1].type, "bind");
}

TEST(ParseVolumeListResponseTest, NamesAndNulls) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, ParseVolumeListResponse(
      R"({"Volumes": [{"Name": "a", "Labels": null}, {"Name": "b"}], "Warnings": null})"));
  EXPECT_THAT(names, ElementsAre("a", "b"));
  ASSERT_OK_AND_ASSIGN(names, ParseVolumeListResponse(R"({"Volumes": null, "Warnings": null})"));
  EXPECT_THAT(names, IsEmpty());
}

TEST(ParseInspectResponseTest, NullsParseAsEmpty) {
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, ParseInspectResponse(R"({
    "Id": "abc", "Name": "/x", "Args": null, "Mounts": null,
    "State": {"Status": "created", "Running": false, "StartedAt": "0001-01-01T00:00:00Z",
              "FinishedAt": "0001-01-01T00:00:00Z", "Health": null},
    "HostConfig": {"PortBindings": null, "Devices": null, "Binds": null, "Tmpfs": null},
    "Config": {"Image": "img", "Env": null, "Labels": null, "Cmd": null}})"));
  EXPECT_EQ(info.name, "x");
  EXPECT_THAT(info.ports, IsEmpty());
  EXPECT_THAT(info.devices, IsEmpty());
  EXPECT_THAT(info.labels, IsEmpty());
  EXPECT_EQ(info.started_at, absl::InfinitePast());
  EXPECT_EQ(info.finished_at, absl::InfinitePast());
}

TEST(ParseInspectResponseTest, PortBindingsWithNullAndSeveralHostBindings) {
  ASSERT_OK_AND_ASSIGN(ContainerInfo info, ParseInspectResponse(R"({
    "Id": "abc",
    "HostConfig": {"PortBindings": {
      "80/tcp": [{"HostIp": "", "HostPort": "20001"}, {"HostIp": "::", "HostPort": "20001"}],
      "5000/udp": [{"HostIp": "127.0.0.1", "HostPort": "20002"}],
      "9/tcp": null}}})"));
  EXPECT_THAT(info.ports, ElementsAre(PortBinding{80, "tcp", 20001, ""},
                                      PortBinding{80, "tcp", 20001, "::"},
                                      PortBinding{5000, "udp", 20002, "127.0.0.1"}));
}

TEST(ParseInspectResponseTest, RejectsNonJsonAndNonObjects) {
  EXPECT_THAT(ParseInspectResponse("<html>"), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ParseInspectResponse("{}"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                   HasSubstr("no Id")));
}

TEST(ParseListResponseTest, EmptyArrayAndNullLabels) {
  ASSERT_OK_AND_ASSIGN(auto empty, ParseListResponse("[]"));
  EXPECT_THAT(empty, IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto one, ParseListResponse(
      R"([{"Id":"a","Names":["/berth-1"],"Labels":null,"State":"running","Ports":[]}])"));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_THAT(one[0].names, ElementsAre("berth-1"));
}

TEST(ParseEventTest, UsesNanosecondTime) {
  ASSERT_OK_AND_ASSIGN(Event event, ParseEvent(
      R"({"status":"die","id":"c1","Type":"container","Action":"die",)"
      R"("Actor":{"ID":"c1","Attributes":{"exitCode":"137","berth.box_id":"b1"}},)"
      R"("scope":"local","time":1700000000,"timeNano":1700000000123456789})"));
  EXPECT_EQ(event.type, "container");
  EXPECT_EQ(event.action, "die");
  EXPECT_EQ(event.actor_id, "c1");
  EXPECT_EQ(event.attributes.at("exitCode"), "137");
  EXPECT_EQ(absl::ToUnixNanos(event.time), 1700000000123456789);
}

TEST(ParseErrorMessageTest, OnlyDockerErrorBodies) {
  EXPECT_EQ(ParseErrorMessage(R"({"message":"No such container: x"})"),
            "No such container: x");
  EXPECT_EQ(ParseErrorMessage("oops"), std::nullopt);
  EXPECT_EQ(ParseErrorMessage(""), std::nullopt);
}

TEST(FiltersJsonTest, MapOfArrays) {
  EXPECT_EQ(FiltersJson({{"label", {"berth.box_id"}}, {"type", {"container"}}}),
            R"({"label":["berth.box_id"],"type":["container"]})");
  EXPECT_EQ(FiltersJson({{"label", {"a=\"b\"", "c\\d"}}}), R"({"label":["a=\"b\"","c\\d"]})");
  EXPECT_EQ(FiltersJson({}), "{}");
}

TEST(CompareApiVersionsTest, Numeric) {
  EXPECT_EQ(*CompareApiVersions("1.9", "1.41"), -1);
  EXPECT_EQ(*CompareApiVersions("1.43", "1.41"), 1);
  EXPECT_EQ(*CompareApiVersions("1.41", "1.41"), 0);
  EXPECT_THAT(CompareApiVersions("x", "1.41"), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

}  // namespace
}  // namespace berth::docker::engine_json
