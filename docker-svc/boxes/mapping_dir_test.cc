#include "docker-svc/boxes/mapping_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;
using ::berth::testing::ReadFileOrEmpty;
using ::berth::testing::TempDir;
using ::testing::Not;

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

StartupParams FullParams() {
  StartupParams params;
  params.tty = 11;
  params.ports = {Binding(32261, allocator::v1::PROTOCOL_TCP, 20001),
                  Binding(32263, allocator::v1::PROTOCOL_UDP, 20002)};
  params.session_id = "session-7";
  params.dpi = 192;
  return params;
}

// Every name docker-svc writes, and the temporary names the old code wrote them through.
const std::vector<std::string>& WrittenNames() {
  static const std::vector<std::string> names = {
      "tty",     "gpu_index",  "hostPort_for_my_32261_tcp", "hostPort_for_my_32263_udp",
      "timeout", "session_id", "DPI",                       ".paramsReady",
      "config.json"};
  return names;
}

// A box's directory and, beside it, a file of the host's that the box must not reach.
class HostileDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::create_directory(box_dir_));
    std::ofstream(canary_) << "host secret";
    ASSERT_EQ(chmod(canary_.c_str(), 0600), 0);
  }

  // What the box would plant: `make` run on every written name and its old temporary name.
  template <typename Make>
  void PlantEverywhere(Make make) {
    for (const std::string& name : WrittenNames()) {
      make(box_dir_ + "/" + name);
      make(box_dir_ + "/." + name + ".tmp");
    }
  }

  // Runs `write` on another thread; fails if it does not finish within 10 s (a FIFO blocked it).
  absl::Status WithinTime(std::function<absl::Status()> write) {
    auto done = std::async(std::launch::async, std::move(write));
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "the write blocked";
      // Unblock it so that the test can end: open the FIFOs' other ends.
      for (const std::string& name : WrittenNames()) {
        for (const std::string& path : {box_dir_ + "/" + name, box_dir_ + "/." + name + ".tmp"}) {
          int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK);
          if (fd >= 0) close(fd);
        }
      }
    }
    return done.get();
  }

  void ExpectCanaryUntouched() {
    EXPECT_EQ(ReadFileOrEmpty(canary_), "host secret");
    struct stat st {};
    ASSERT_EQ(stat(canary_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }

  // The written names now hold regular files of docker-svc's, and no temporary file is left.
  void ExpectOnlyDockerSvcFiles() {
    for (const std::string& name : {std::string("tty"), std::string(".paramsReady"),
                                    std::string("config.json")}) {
      struct stat st {};
      ASSERT_EQ(lstat((box_dir_ + "/" + name).c_str(), &st), 0) << name;
      EXPECT_TRUE(S_ISREG(st.st_mode)) << name;
    }
    for (const std::string& name : Names(box_dir_)) {
      EXPECT_EQ(name.find(".berth-"), std::string::npos) << "temporary file left: " << name;
    }
  }

  TempDir temp_;
  const std::string box_dir_ = temp_.File("box");
  const std::string canary_ = temp_.File("canary");
};

TEST(MappingDirTest, StartupParamsAreTheWhistFilesWithParamsReadyLast) {
  TempDir dir_holder;
  MappingDir dir(dir_holder.path());
  ASSERT_THAT(dir.WriteStartupParams(FullParams()), IsOk());
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
}

TEST(MappingDirTest, FilesAreReadableByAnyUserOfTheBoxWhateverTheUmask) {
  TempDir dir_holder;
  const mode_t old_umask = umask(0077);
  absl::Status written = MappingDir(dir_holder.path()).WriteConfig("{}");
  umask(old_umask);
  ASSERT_THAT(written, IsOk());
  struct stat st {};
  ASSERT_EQ(stat(dir_holder.File("config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(MappingDirTest, NoTtyMeansNoTtyFileAndAGpuIsNamed) {
  TempDir dir_holder;
  MappingDir dir(dir_holder.path());
  StartupParams params;
  params.gpu_index = 2;
  ASSERT_THAT(dir.WriteStartupParams(params), IsOk());
  EXPECT_FALSE(dir.Has("tty"));
  EXPECT_FALSE(dir.Has("session_id"));
  EXPECT_FALSE(dir.Has("DPI"));
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/gpu_index"), "2");
}

TEST(MappingDirTest, ConfigAndMarkers) {
  TempDir dir_holder;
  MappingDir dir(dir_holder.path());
  ASSERT_THAT(dir.WriteConfig(R"({"dark_mode":true})"), IsOk());
  EXPECT_EQ(ReadFileOrEmpty(dir.path() + "/config.json"), R"({"dark_mode":true})");
  EXPECT_FALSE(dir.Has("done_sleeping_until_X_clients"));
  std::ofstream(dir.path() + "/done_sleeping_until_X_clients") << "";
  EXPECT_TRUE(dir.Has("done_sleeping_until_X_clients"));
  // Only names in the directory: never a path that could climb out of it.
  EXPECT_FALSE(dir.Has("../" + std::filesystem::path(dir.path()).filename().string()));
  EXPECT_FALSE(dir.Has(""));
}

TEST(MappingDirTest, AMissingDirectoryIsAnErrorAndHasNothing) {
  MappingDir none("");
  EXPECT_THAT(none.WriteConfig("{}"), Not(IsOk()));
  EXPECT_FALSE(none.Has("tmp"));  // never "/tmp" on the host
  TempDir temp;
  MappingDir gone(temp.File("gone"));
  EXPECT_THAT(gone.WriteStartupParams(FullParams()), Not(IsOk()));
  EXPECT_FALSE(std::filesystem::exists(temp.File("gone")));
}

TEST(MappingDirTest, AFilesystemOfItsOwnIsWrittenOnlyWhileMounted) {
  // A directory on the disk (the build tree's, where the test runs) stands in for Docker's
  // directory beneath the mount.
  char disk[] = "berth-disk-XXXXXX";
  ASSERT_NE(mkdtemp(disk), nullptr);
  const std::string on_disk = std::filesystem::absolute(disk).string();
  MappingDir unmounted(on_disk, /*own_filesystem=*/true);
  EXPECT_FALSE(unmounted.Reachable());
  EXPECT_TRUE(unmounted.Detached());
  EXPECT_FALSE(MappingDir(on_disk).Detached());  // the old layout is never "detached"
  EXPECT_THAT(unmounted.WriteConfig("{}"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not mounted")));
  EXPECT_FALSE(std::filesystem::exists(on_disk + "/config.json"));
  EXPECT_TRUE(MappingDir(on_disk).Reachable());  // a directory of the old layout
  std::filesystem::remove_all(on_disk);

  char shm[] = "/dev/shm/berth-mapping-test-XXXXXX";  // a tmpfs, as the box's own
  ASSERT_NE(mkdtemp(shm), nullptr);
  MappingDir mounted(shm, /*own_filesystem=*/true);
  EXPECT_TRUE(mounted.Reachable());
  EXPECT_THAT(mounted.WriteConfig("{}"), IsOk());
  EXPECT_FALSE(mounted.Detached());
  std::filesystem::remove_all(shm);
  EXPECT_FALSE(mounted.Reachable());
  EXPECT_FALSE(mounted.Detached());  // gone, not detached: the box's end tells why
}

TEST_F(HostileDirTest, SymlinksAtEveryNameNeverLeadAWriteOut) {
  PlantEverywhere([&](const std::string& path) {
    ASSERT_EQ(symlink(canary_.c_str(), path.c_str()), 0) << path;
  });
  MappingDir dir(box_dir_);
  ASSERT_THAT(dir.WriteStartupParams(FullParams()), IsOk());
  ASSERT_THAT(dir.WriteSessionId("s-2"), IsOk());
  ASSERT_THAT(dir.WriteConfig(R"({"a":1})"), IsOk());
  ExpectCanaryUntouched();
  ExpectOnlyDockerSvcFiles();
  EXPECT_EQ(ReadFileOrEmpty(box_dir_ + "/config.json"), R"({"a":1})");
}

TEST_F(HostileDirTest, HardLinksAtEveryNameAreReplacedNotWrittenThrough) {
  // The box's own file stands in for one it shares an inode with.
  PlantEverywhere([&](const std::string& path) {
    ASSERT_EQ(link(canary_.c_str(), path.c_str()), 0) << path;
  });
  MappingDir dir(box_dir_);
  ASSERT_THAT(dir.WriteStartupParams(FullParams()), IsOk());
  ASSERT_THAT(dir.WriteConfig(R"({"a":1})"), IsOk());
  ExpectCanaryUntouched();
  ExpectOnlyDockerSvcFiles();
}

TEST_F(HostileDirTest, FifosAtEveryNameNeverBlockAWrite) {
  PlantEverywhere([&](const std::string& path) {
    ASSERT_EQ(mkfifo(path.c_str(), 0666), 0) << path;
  });
  MappingDir dir(box_dir_);
  EXPECT_THAT(WithinTime([&] { return dir.WriteStartupParams(FullParams()); }), IsOk());
  EXPECT_THAT(WithinTime([&] { return dir.WriteConfig("{}"); }), IsOk());
  ExpectOnlyDockerSvcFiles();
}

TEST_F(HostileDirTest, ADirectoryAtANameFailsThatWriteCleanly) {
  ASSERT_TRUE(std::filesystem::create_directories(box_dir_ + "/config.json/inner"));
  MappingDir dir(box_dir_);
  EXPECT_THAT(WithinTime([&] { return dir.WriteConfig("{}"); }), Not(IsOk()));
  EXPECT_TRUE(std::filesystem::is_directory(box_dir_ + "/config.json/inner"));
  for (const std::string& name : Names(box_dir_)) {
    EXPECT_EQ(name.find(".berth-"), std::string::npos) << "temporary file left: " << name;
  }
}

TEST_F(HostileDirTest, AMarkerIsSeenWithoutFollowingIt) {
  MappingDir dir(box_dir_);
  // A dangling link is still the box's marker; a link to a host file tells nothing more.
  ASSERT_EQ(symlink("/nonexistent/berth", (box_dir_ + "/ready").c_str()), 0);
  EXPECT_TRUE(dir.Has("ready"));
  ASSERT_EQ(mkfifo((box_dir_ + "/shutdown").c_str(), 0666), 0);
  EXPECT_TRUE(dir.Has("shutdown"));
}

}  // namespace
}  // namespace berth::docker
