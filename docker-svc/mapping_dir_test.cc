#include "docker-svc/mapping_dir.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::ReadFileOrEmpty;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

allocator::v1::PortBinding Binding(uint32_t container_port, allocator::v1::Protocol protocol,
                                   uint32_t host_port) {
  allocator::v1::PortBinding binding;
  binding.set_container_port(container_port);
  binding.set_protocol(protocol);
  binding.set_host_port(host_port);
  return binding;
}

TEST(MappingDirTest, StartupParamsAreTheWhistFilesWithParamsReadyLast) {
  TempDir boxes;
  ASSERT_OK_AND_ASSIGN(MappingDir dir, MappingDir::Create(boxes.path(), "box-1"));
  EXPECT_EQ(dir.path(), boxes.File("box-1"));
  StartupParams params;
  params.tty = 11;
  params.ports = {Binding(32261, allocator::v1::PROTOCOL_TCP, 20001),
                  Binding(32263, allocator::v1::PROTOCOL_UDP, 20002)};
  params.session_id = "session-7";
  params.dpi = 192;
  ASSERT_THAT(dir.WriteStartupParams(params), IsOk());
  EXPECT_EQ(Names(dir.path()),
            (std::set<std::string>{"tty", "gpu_index", "hostPort_for_my_32261_tcp",
                                   "hostPort_for_my_32263_udp", "timeout", "session_id", "DPI",
                                   ".paramsReady"}));
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/DPI"), "192");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/tty"), "11");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/gpu_index"), "0");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/hostPort_for_my_32261_tcp"), "20001");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/hostPort_for_my_32263_udp"), "20002");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/timeout"), "30");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/session_id"), "session-7");
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/.paramsReady"), ".paramsReady");
  // .paramsReady is the newest file: written after every other one.
  const auto ready_time = std::filesystem::last_write_time(dir.path() + "/.paramsReady");
  for (const std::string& name : Names(dir.path())) {
    EXPECT_LE(std::filesystem::last_write_time(dir.path() + "/" + name), ready_time) << name;
  }
  struct stat st {};
  ASSERT_EQ(stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0777u);
}

TEST(MappingDirTest, NoTtyMeansNoTtyFileAndAGpuIsNamed) {
  TempDir boxes;
  ASSERT_OK_AND_ASSIGN(MappingDir dir, MappingDir::Create(boxes.path(), "box-1"));
  StartupParams params;
  params.gpu_index = 2;
  ASSERT_THAT(dir.WriteStartupParams(params), IsOk());
  EXPECT_FALSE(dir.Has("tty"));
  EXPECT_FALSE(dir.Has("session_id"));
  EXPECT_FALSE(dir.Has("DPI"));
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/gpu_index"), "2");
}

TEST(MappingDirTest, ConfigMarkersAndRemoval) {
  TempDir boxes;
  ASSERT_OK_AND_ASSIGN(MappingDir dir, MappingDir::Create(boxes.path(), "box-1"));
  ASSERT_THAT(dir.WriteConfig(R"({"dark_mode":true})"), IsOk());
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/config.json"), R"({"dark_mode":true})");
  EXPECT_FALSE(dir.Has("done_sleeping_until_X_clients"));
  std::ofstream(dir.path() + "/done_sleeping_until_X_clients") << "";
  EXPECT_TRUE(dir.Has("done_sleeping_until_X_clients"));
  ASSERT_THAT(dir.Remove(), IsOk());
  EXPECT_FALSE(std::filesystem::exists(dir.path()));
  EXPECT_THAT(dir.Remove(), IsOk());
}

TEST(MappingDirTest, OnlyValidBoxIdsBecomeDirectories) {
  TempDir boxes;
  for (const char* bad : {"../escape", "", ".hidden", "a/b"}) {
    EXPECT_THAT(MappingDir::Create(boxes.path(), bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("box_id")))
        << bad;
  }
  EXPECT_TRUE(Names(boxes.path()).empty());
}

}  // namespace
}  // namespace berth::docker
