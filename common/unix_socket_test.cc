#include "common/unix_socket.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;

// A unix socket bound at `path`; listening when `listen` is set. Closed on destruction.
class BoundSocket {
 public:
  BoundSocket(const std::string& path, bool listen) {
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          (!listen || ::listen(fd_, 1) == 0);
  }
  ~BoundSocket() { close(fd_); }
  bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_ = false;
};

TEST(UnixSocketPathTest, AcceptsTheGrpcForms) {
  EXPECT_EQ(*UnixSocketPath("unix:/run/berth/a.sock"), "/run/berth/a.sock");
  EXPECT_EQ(*UnixSocketPath("unix:///run/berth/a.sock"), "/run/berth/a.sock");
  EXPECT_EQ(*UnixSocketPath("unix:a.sock"), "a.sock");
  EXPECT_THAT(UnixSocketPath("/run/a.sock"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unix:")));
  EXPECT_THAT(UnixSocketPath("unix:"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no path")));
  EXPECT_THAT(UnixSocketPath("unix:/" + std::string(120, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer")));
}

TEST(UnixSocketClaimTest, CreatesTheParentDirectory) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(UnixSocketClaim claim, UnixSocketClaim::Claim("unix:" + dir.File("run/x/a.sock")));
  struct stat st {};
  EXPECT_EQ(stat(dir.File("run/x").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(UnixSocketClaimTest, ASecondClaimIsRefusedWhileTheFirstLives) {
  TempDir dir;
  const std::string address = "unix:" + dir.File("a.sock");
  {
    ASSERT_OK_AND_ASSIGN(UnixSocketClaim first, UnixSocketClaim::Claim(address));
    EXPECT_THAT(UnixSocketClaim::Claim(address),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("another server")));
  }
  EXPECT_THAT(UnixSocketClaim::Claim(address), IsOk());
}

TEST(UnixSocketClaimTest, AStaleSocketIsRemoved) {
  TempDir dir;
  const std::string path = dir.File("a.sock");
  { BoundSocket stale(path, /*listen=*/false); ASSERT_TRUE(stale.ok()); }
  ASSERT_EQ(access(path.c_str(), F_OK), 0);
  ASSERT_OK_AND_ASSIGN(UnixSocketClaim claim, UnixSocketClaim::Claim("unix:" + path));
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST(UnixSocketClaimTest, ALiveServerOfAnyKindIsNotReplaced) {
  TempDir dir;
  const std::string path = dir.File("a.sock");
  BoundSocket live(path, /*listen=*/true);
  ASSERT_TRUE(live.ok());
  EXPECT_THAT(UnixSocketClaim::Claim("unix:" + path),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already answers")));
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
}

TEST(UnixSocketClaimTest, ARegularFileIsNotRemoved) {
  TempDir dir;
  const std::string path = dir.File("a.sock");
  std::ofstream(path) << "keep me";
  EXPECT_THAT(UnixSocketClaim::Claim("unix:" + path),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a socket")));
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
}

TEST(UnixSocketClaimTest, RestrictModeMakesTheSocket0660AndReleaseRemovesIt) {
  TempDir dir;
  const std::string path = dir.File("a.sock");
  {
    ASSERT_OK_AND_ASSIGN(UnixSocketClaim claim, UnixSocketClaim::Claim("unix:" + path));
    BoundSocket server(path, /*listen=*/true);
    ASSERT_TRUE(server.ok());
    ASSERT_THAT(claim.RestrictMode(), IsOk());
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST(UnixSocketClaimTest, RestrictModeGivesTheSocketToItsGroup) {
  TempDir dir;
  const std::string path = dir.File("a.sock");
  ASSERT_OK_AND_ASSIGN(UnixSocketClaim claim, UnixSocketClaim::Claim("unix:" + path));
  BoundSocket server(path, /*listen=*/true);
  ASSERT_TRUE(server.ok());
  // A group of this process's (its primary one), by name.
  struct group* own = getgrgid(getegid());
  ASSERT_NE(own, nullptr);
  ASSERT_THAT(claim.RestrictMode(own->gr_name), IsOk());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, getegid());
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_THAT(claim.RestrictMode("no-such-group-berth"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not exist")));
}

}  // namespace
}  // namespace berth::common
