// Hostile boxes against the real daemons and dockerd: the hostile test box
// (tests/hostile-box/, berth/hostile-box:latest) attacks from inside its box what docker-svc
// does in its mapping directory (links, hard links and FIFOs at every name docker-svc writes
// and at the temporary names it used to write through, a root-owned directory tree, a full
// mapping directory, a full writable layer). Nothing outside the box may change, no lock may
// be held, nothing of the box may outlive it, and the next box of its id starts clean.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "openssl/sha.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kHostileApp[] = "hostile";
constexpr uint64_t kDiskLimitBytes = 8 << 20;
constexpr long kTmpfsMagic = 0x01021994;

// The hostile box's profile; its links point at `target`, a file of the host's.
std::string HostileProfile(const std::string& target) {
  return absl::StrCat(R"pb(
    name: "hostile"
    image: "berth/hostile-box:latest"
    ports { port: 32262 protocol: PROTOCOL_TCP }
    env { key: "BERTH_MAPPINGS_DIR" value: "/whist/resourceMappings" }
    env { key: "HOSTILE_LAYER_MB" value: "24" }
    env { key: "HOSTILE_TARGET" value: ")pb",
                      target, R"pb(" }
    overridable_env: "HOSTILE_MODE"
    readiness_marker: "ready"
    readiness_timeout_seconds: 60
    config_timeout_seconds: 300
    disk_limit_bytes: 8388608
    stop_grace_seconds: 1
    tty: true
  )pb");
}

// SHA-256 and mode of a file, to tell whether anything changed it.
std::string Fingerprint(const std::string& path) {
  const std::string contents = ReadFileOrEmpty(path);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(contents.data()), contents.size(), digest);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "(gone)";
  std::string text;
  for (unsigned char byte : digest) absl::StrAppend(&text, absl::Hex(byte, absl::kZeroPad2));
  return absl::StrCat(text, " mode ", absl::Hex(st.st_mode & 07777), " uid ", st.st_uid);
}

class BoxHostileTest : public BoxTest {
 protected:
  void SetUp() override {
    BoxTest::SetUp();
    if (HasFatalFailure()) return;
    // A root-owned, mode-0600 file outside Berth's directories: what the attack aims at.
    ASSERT_EQ(mkdir(canary_dir_.File("host").c_str(), 0700), 0);
    WriteCanary();
    canary_before_ = Fingerprint(canary_);
    BoxHostOptions options;
    options.profiles[kHostileApp] = HostileProfile(canary_);
    options.docker_svc_flags = {"--disk_check_interval=1s"};
    ASSERT_NO_FATAL_FAILURE(StartHost(options));
  }

  void WriteCanary() {
    int fd = open(canary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    const std::string secret = "the host's secret\n";
    ASSERT_EQ(write(fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
    close(fd);
  }

  // A WAITING hostile box running `mode`, once it has planted its attack (its readiness).
  absl::StatusOr<v1::Box> CreateHostile(const std::string& name, const std::string& mode) {
    v1::CreateRequest request = CreateRequest(kHostileApp, BoxId(name));
    (*request.mutable_env())["HOSTILE_MODE"] = mode;
    absl::StatusOr<v1::CreateResponse> created = boxes().Create(request);
    if (!created.ok()) return created.status();
    // Not wait_for_ready: that would make it RUNNING rather than WAITING for an assign.
    absl::StatusOr<v1::Box> box = created->box();
    WaitUntil([&] {
      box = boxes().Get(request.box_id());
      return !box.ok() || box->has_ready_at();
    }, absl::Seconds(60));
    if (box.ok() && !box->has_ready_at()) {
      return absl::DeadlineExceededError(absl::StrCat(request.box_id(), " never got ready"));
    }
    return box;
  }

  absl::StatusOr<v1::AssignResponse> Assign(const std::string& box_id, const std::string& user) {
    v1::AssignRequest request;
    request.set_box_id(box_id);
    request.set_user_id(user);
    request.set_session_id(absl::StrCat("session-of-", user));
    v1::AssignResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    const grpc::Status status = boxes().stub().Assign(&context, request, &response);
    if (!status.ok()) return FromGrpc(status);
    return response;
  }

  absl::StatusOr<v1::SetConfigResponse> SetConfig(const std::string& box_id,
                                                  const std::string& json) {
    v1::SetConfigRequest request;
    request.set_box_id(box_id);
    request.set_json_data(json);
    v1::SetConfigResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    const grpc::Status status = boxes().stub().SetConfig(&context, request, &response);
    if (!status.ok()) return FromGrpc(status);
    return response;
  }

  static absl::Status FromGrpc(const grpc::Status& status) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }

  // A test box of `name` (the next incarnation of a hostile box's id, say).
  absl::StatusOr<v1::Box> CreateTestBox(const std::string& box_id) {
    v1::CreateRequest request = CreateRequest(kTestBoxApp, box_id, "u-next");
    request.set_wait_for_ready(true);
    absl::StatusOr<v1::CreateResponse> created = boxes().Create(request);
    if (!created.ok()) return created.status();
    return created->box();
  }

  void ExpectCanaryUntouched() {
    EXPECT_EQ(Fingerprint(canary_), canary_before_) << "a box changed a file of the host's";
    EXPECT_EQ(ReadFileOrEmpty(canary_), "the host's secret\n");
  }

  TempDir canary_dir_;
  const std::string canary_ = canary_dir_.File("host/canary");
  std::string canary_before_;
};

// Links, hard links and FIFOs at every name, and a root-owned tree: a box's assign and config
// still land in its own directory only, no call hangs (another box is made meanwhile), and
// once the boxes stop nothing of them is left; the next box of each id starts clean.
TEST_F(BoxHostileTest, APlantedMappingDirectoryNeverReachesTheHostNorHoldsALock) {
  const std::vector<std::string> modes = {"symlink", "hardlink", "fifo", "rootdir"};
  std::map<std::string, std::future<absl::StatusOr<v1::Box>>> creating;
  for (const std::string& mode : modes) {
    creating[mode] = std::async(std::launch::async, [this, mode] {
      return CreateHostile(mode, mode);
    });
  }
  for (auto& [mode, created] : creating) {
    ASSERT_OK(created.get().status()) << mode;
  }
  for (const std::string& mode : modes) {
    const std::string box_id = BoxId(mode);
    // The writes that used to go through the box's links: session_id and config.json (and a
    // FIFO at their old temporary names used to block here, holding docker-svc's locks).
    auto configured = std::async(std::launch::async, [&]() -> absl::Status {
      absl::StatusOr<v1::AssignResponse> assigned = Assign(box_id, "victim-" + mode);
      if (!assigned.ok()) return assigned.status();
      return SetConfig(box_id, R"({"client":"config"})").status();
    });
    // Meanwhile another create goes through.
    ASSERT_OK_AND_ASSIGN(v1::Box other, CreateTestBox(BoxId("bystander-" + mode)));
    ASSERT_EQ(configured.wait_for(std::chrono::seconds(90)), std::future_status::ready)
        << mode << ": the config never came back";
    EXPECT_OK(configured.get()) << mode;
    ExpectCanaryUntouched();
    const std::string dir = host().BoxDir(box_id);
    EXPECT_EQ(ReadFileOrEmpty(dir + "/config.json"), R"({"client":"config"})") << mode;
    EXPECT_EQ(ReadFileOrEmpty(dir + "/session_id"), "session-of-victim-" + mode) << mode;
    struct stat st {};
    EXPECT_TRUE(lstat((dir + "/config.json").c_str(), &st) == 0 && S_ISREG(st.st_mode))
        << mode << ": config.json is not docker-svc's file";
    if (mode == "hardlink") {
      EXPECT_EQ(ReadFileOrEmpty(dir + "/own"), "the box's own file\n")
          << "a write went through a hard link";
    }
    ASSERT_OK(boxes().Stop(other.box_id()).status());
  }
  ExpectCanaryUntouched();

  std::map<std::string, std::string> dirs;
  for (const std::string& mode : modes) dirs[mode] = host().BoxDir(BoxId(mode));
  for (const std::string& mode : modes) {
    ASSERT_OK(boxes().Stop(BoxId(mode)).status()) << mode;
    EXPECT_EQ(Leftovers(host(), BoxId(mode)), "") << mode;
    EXPECT_FALSE(std::filesystem::exists(dirs[mode])) << mode << ": its directory survived it";
  }
  EXPECT_THAT(host().MappingDirs(), IsEmpty());
  ExpectCanaryUntouched();

  // The next box of each id starts clean: none of the attack is there.
  for (const std::string& mode : modes) {
    ASSERT_OK_AND_ASSIGN(v1::Box next, CreateTestBox(BoxId(mode)));
    const std::vector<std::string> files = ListDir(host().BoxDir(next.box_id()));
    EXPECT_THAT(files, Not(::testing::Contains("own"))) << mode;
    EXPECT_THAT(files, Not(::testing::Contains("rootdir"))) << mode;
    EXPECT_THAT(files, Not(::testing::Contains("session_id"))) << mode;
    EXPECT_THAT(files, ::testing::Contains(".paramsReady")) << mode;
    ASSERT_OK(boxes().Stop(next.box_id()).status());
  }
  EXPECT_EQ(HostDisagreement(host(), [this](const std::string& id) { return Mine(id); }), "");
}

// A box that fills its mapping directory fills a small filesystem of its own, never the one of
// Berth's state; its own config then fails, and other boxes go on.
TEST_F(BoxHostileTest, ABoxFillingItsMappingDirectoryFillsOnlyItsOwnFilesystem) {
  ASSERT_OK_AND_ASSIGN(v1::Box full, CreateHostile("fill", "fill"));
  const std::string dir = host().BoxDir(full.box_id());
  struct statfs box_fs {};
  ASSERT_EQ(statfs(dir.c_str(), &box_fs), 0);
  EXPECT_EQ(static_cast<long>(box_fs.f_type), kTmpfsMagic);
  EXPECT_LE(static_cast<uint64_t>(box_fs.f_blocks) * box_fs.f_bsize, uint64_t{4} << 20);
  EXPECT_EQ(box_fs.f_bavail, 0u) << "the box did not fill its directory";
  struct stat box_dir {}, state_dir {};
  ASSERT_EQ(stat(dir.c_str(), &box_dir), 0);
  ASSERT_EQ(stat(host().boxes_dir().c_str(), &state_dir), 0);
  EXPECT_NE(box_dir.st_dev, state_dir.st_dev) << "the mapping directory is on Berth's filesystem";

  // An assign of the app that meets the full box first ends it and takes another box: one
  // hostile box cannot hold up the sessions of the app.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  ASSERT_OK_AND_ASSIGN(v1::Box calm, CreateHostile("calm", "none"));
  v1::AssignRequest request;
  request.set_app(kHostileApp);
  request.set_user_id("someone");
  request.set_session_id("s-1");
  v1::AssignResponse assigned;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(boxes().stub().Assign(&context, request, &assigned).ok());
  EXPECT_EQ(assigned.box().box_id(), calm.box_id());
  EXPECT_OK(SetConfig(calm.box_id(), "{}").status());
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(full.box_id(), absl::Seconds(30)));
  EXPECT_EQ(gone.event.box().reason(), "its mapping directory cannot be written");
  EXPECT_THAT(ReadFileOrEmpty(host().docker_svc_log()), HasSubstr("No space left on device"));
  ASSERT_OK(boxes().Stop(calm.box_id()).status());
  EXPECT_THAT(host().MappingDirs(), IsEmpty());
}

// A box that writes more than its app's disk_limit_bytes into its writable layer is stopped
// with reason "disk", and nothing of it is left.
TEST_F(BoxHostileTest, ABoxOverItsDiskLimitIsStoppedWithReasonDisk) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  ASSERT_OK_AND_ASSIGN(v1::Box calm, CreateHostile("calm", "none"));
  // The writer of 24 MiB may be stopped before it is even ready.
  v1::CreateRequest request = CreateRequest(kHostileApp, BoxId("layer"));
  (*request.mutable_env())["HOSTILE_MODE"] = "layer";
  ASSERT_OK(boxes().Create(request).status());
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(BoxId("layer"), absl::Seconds(60)));
  EXPECT_EQ(gone.event.box().reason(), "disk") << watcher->Describe();
  EXPECT_EQ(Leftovers(host(), BoxId("layer")), "");
  // The box under its limit runs on.
  ASSERT_OK_AND_ASSIGN(v1::Box still, boxes().Get(calm.box_id()));
  EXPECT_EQ(still.state(), v1::BOX_STATE_WAITING);
  EXPECT_THAT(ReadFileOrEmpty(host().docker_svc_log()), HasSubstr("over its app's limit of 8388608"));
  ASSERT_OK(boxes().Stop(calm.box_id()).status());
}

}  // namespace
}  // namespace berth::testing
