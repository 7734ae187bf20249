// allocator-svc's life as systemd and operators see it: READY=1 only when calls work,
// watchdog pings, STOPPING=1 and a clean exit on SIGTERM, one instance per socket and per
// state file, stale sockets replaced, untrusted state files refused and left untouched.
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"
#include "testing_support/notify_socket.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::allocator::v1;
using ::testing::HasSubstr;

AllocatorFlags FlagsIn(const TempDir& dir, const std::string& name) {
  return AllocatorFlagsIn(dir, name, {"--tty_range=10-20", "--port_range=20000-20100"});
}

// Expects the daemon on `socket` to serve Reserve, Get and Release.
void ExpectServes(const std::string& socket, const std::string& box_id) {
  AllocatorClient client(UnixAddress(socket));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve,
                       client.Reserve(ReserveRequest(box_id, {}, /*tty=*/true)));
  EXPECT_TRUE(reserve.created());
  EXPECT_OK(client.Get(box_id));
  ASSERT_OK_AND_ASSIGN(v1::ReleaseResponse release, client.Release(box_id));
  EXPECT_TRUE(release.released());
}

std::string ReadBytes(const std::string& path) { return ReadFileOrEmpty(path); }

// Starts allocator-svc on `flags` and expects it to refuse: a non-zero exit with `log_says` in
// its log, no socket left behind, and the state file byte for byte as it was.
void ExpectRefusedAndStateFileUntouched(const AllocatorFlags& flags, const std::string& log_says) {
  const std::string before = ReadBytes(flags.db);
  ASSERT_FALSE(before.empty());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartAllocator(flags));
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Wait(absl::Seconds(20)));
  EXPECT_NE(exit_code, 0);
  const std::string log = ReadFileOrEmpty(flags.log_path);
  EXPECT_THAT(log, HasSubstr(log_says));
  EXPECT_TRUE(ReadBytes(flags.db) == before) << "the state file changed; log:\n" << log;
  struct stat st {};
  EXPECT_NE(lstat(flags.socket.c_str(), &st), 0) << "a refused start left its socket behind";
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(AllocatorLifecycleTest, NotifiesReadyWhenServingPingsWatchdogAndStopsOnSigterm) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  NotifySocket notify(dir.File("notify"));
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  flags.env = {absl::StrCat("NOTIFY_SOCKET=", notify.path()), "WATCHDOG_USEC=200000"};
  flags.extra.push_back("--shutdown_grace=1s");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartAllocator(flags));

  // The stub is made before READY=1 so that nothing but the call itself happens after it.
  auto stub = v1::Allocator::NewStub(
      grpc::CreateChannel(UnixAddress(flags.socket), grpc::InsecureChannelCredentials()));
  std::optional<absl::Time> ready_at =
      notify.WaitFor("READY=1", absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(ready_at.has_value()) << "lines: " << ::testing::PrintToString(notify.Lines())
                                    << "; log:\n" << ReadFileOrEmpty(flags.log_path);
  {
    // Ready means serving: no waiting for the socket (wait_for_ready off fails a call to a
    // socket nobody listens on at once; the deadline only bounds a slow machine).
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    context.set_wait_for_ready(false);
    v1::CapacityResponse capacity;
    grpc::Status status = stub->Capacity(&context, v1::CapacityRequest(), &capacity);
    ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    EXPECT_EQ(capacity.ttys().total(), 10u);
  }

  // WATCHDOG_USEC=200000: a ping every 100 ms, so 3 come well within 5 s.
  int watchdogs = 0;
  while (watchdogs < 3 &&
         notify.WaitFor("WATCHDOG=1", *ready_at + absl::Seconds(5)).has_value()) {
    ++watchdogs;
  }
  EXPECT_EQ(watchdogs, 3) << "watchdog pings in 5 s after READY=1; lines: "
                          << ::testing::PrintToString(notify.Lines());

  // SIGTERM: STOPPING=1, then a clean exit within --shutdown_grace (plus a margin), although
  // `stub` keeps its idle connection open as a long-lived client would.
  ASSERT_EQ(kill(daemon->pid(), SIGTERM), 0);
  const absl::Time terminated_at = absl::Now();
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", absl::Now() + absl::Seconds(10)).has_value())
      << "lines: " << ::testing::PrintToString(notify.Lines());
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Wait(absl::Seconds(20)));
  EXPECT_EQ(exit_code, 0) << ReadFileOrEmpty(flags.log_path);
  EXPECT_LT(absl::Now() - terminated_at, absl::Seconds(4));
  // A clean stop leaves no socket behind.
  struct stat st {};
  EXPECT_NE(lstat(flags.socket.c_str(), &st), 0);
}

TEST(AllocatorLifecycleTest, SecondInstanceOnTheSameSocketRefusesToStart) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags first_flags = FlagsIn(dir, "first");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> first,
                       StartServingAllocator(first_flags));
  AllocatorClient client(UnixAddress(first_flags.socket));
  ASSERT_OK(client.Reserve(ReserveRequest("kept", {}, /*tty=*/true)));

  AllocatorFlags second_flags = FlagsIn(dir, "second");
  second_flags.socket = first_flags.socket;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> second, StartAllocator(second_flags));
  ASSERT_OK_AND_ASSIGN(int exit_code, second->Wait(absl::Seconds(20)));
  EXPECT_NE(exit_code, 0);
  EXPECT_THAT(ReadFileOrEmpty(second_flags.log_path), HasSubstr(first_flags.socket));

  EXPECT_TRUE(first->running());
  EXPECT_OK(client.Get("kept"));
  ExpectServes(first_flags.socket, "after-second");
  // A fresh client (new connection) reaches the first instance too: its socket is intact.
  AllocatorClient fresh(UnixAddress(first_flags.socket));
  EXPECT_OK(fresh.Get("kept"));
}

TEST(AllocatorLifecycleTest, RefusedSecondInstanceLeavesTheLiveSocketAloneWithoutLockFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags first_flags = FlagsIn(dir, "first");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> first,
                       StartServingAllocator(first_flags));
  // Without the lock file (cleaned up by someone, or a server that takes none), the server
  // that answers on the socket is what stops a second instance.
  ASSERT_EQ(unlink(absl::StrCat(first_flags.socket, ".lock").c_str()), 0);

  AllocatorFlags second_flags = FlagsIn(dir, "second");
  second_flags.socket = first_flags.socket;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> second, StartAllocator(second_flags));
  ASSERT_OK_AND_ASSIGN(int exit_code, second->Wait(absl::Seconds(20)));
  EXPECT_NE(exit_code, 0);
  EXPECT_THAT(ReadFileOrEmpty(second_flags.log_path), HasSubstr("already answers"));

  EXPECT_TRUE(first->running());
  struct stat st {};
  EXPECT_EQ(lstat(first_flags.socket.c_str(), &st), 0)
      << "the refused instance removed the socket of the one that serves";
  AllocatorClient fresh(UnixAddress(first_flags.socket));
  EXPECT_OK(fresh.Capacity());
}

TEST(AllocatorLifecycleTest, StaleSocketIsReplacedAndSocketModeIs0660) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  {
    // A socket file nobody listens on, as a killed daemon leaves behind.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, flags.socket.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    close(fd);
  }
  struct stat before {};
  ASSERT_EQ(lstat(flags.socket.c_str(), &before), 0);
  ASSERT_TRUE(S_ISSOCK(before.st_mode));

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags));
  ExpectServes(flags.socket, "box1");
  struct stat after {};
  ASSERT_EQ(lstat(flags.socket.c_str(), &after), 0);
  EXPECT_TRUE(S_ISSOCK(after.st_mode));
  EXPECT_EQ(after.st_mode & 07777, 0660u) << std::oct << (after.st_mode & 07777);
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Terminate());
  EXPECT_EQ(exit_code, 0);
}

TEST(AllocatorLifecycleTest, SigtermWithAnIdleClientConnectionStopsAtOnce) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags));
  // A client that made a call and keeps its connection open, as docker-svc does.
  AllocatorClient client(UnixAddress(flags.socket));
  ASSERT_OK(client.Capacity().status());
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Terminate());
  EXPECT_EQ(exit_code, 0);
  // Nothing was in flight, so nothing waits for the 10 s shutdown grace.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(AllocatorLifecycleTest, SecondInstanceOnTheSameStateFileRefusesToStart) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags first_flags = FlagsIn(dir, "first");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> first,
                       StartServingAllocator(first_flags));
  auto client = std::make_unique<AllocatorClient>(UnixAddress(first_flags.socket));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse kept,
                       client->Reserve(ReserveRequest("kept", {}, /*tty=*/true)));

  AllocatorFlags second_flags = FlagsIn(dir, "second");
  second_flags.db = first_flags.db;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> second, StartAllocator(second_flags));
  ASSERT_OK_AND_ASSIGN(int exit_code, second->Wait(absl::Seconds(20)));
  EXPECT_NE(exit_code, 0) << ReadFileOrEmpty(second_flags.log_path);

  EXPECT_TRUE(first->running());
  ASSERT_OK_AND_ASSIGN(v1::Lease lease, client->Get("kept"));
  EXPECT_EQ(lease.tty(), kept.lease().tty());
  ExpectServes(first_flags.socket, "after-second");

  // What the first instance wrote is still there for its successor. (The client goes first:
  // an idle connection would hold up the daemon's graceful stop.)
  client.reset();
  ASSERT_OK_AND_ASSIGN(int first_exit, first->Terminate());
  EXPECT_EQ(first_exit, 0);
  ASSERT_OK_AND_ASSIGN(first, StartServingAllocator(first_flags));
  AllocatorClient again(UnixAddress(first_flags.socket));
  ASSERT_OK_AND_ASSIGN(v1::Lease restored, again.Get("kept"));
  EXPECT_EQ(restored.tty(), kept.lease().tty());
}

TEST(AllocatorLifecycleTest, RefusesStateFileOfUnknownSchemaAndLeavesItUntouched) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(flags.db.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE leases (box_id TEXT PRIMARY KEY);"
                           "INSERT INTO leases VALUES ('from-the-future');"
                           "PRAGMA user_version=99;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  ExpectRefusedAndStateFileUntouched(flags, "schema version 99");
  {
    // Still version 99 and still holding its row.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(flags.db.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(statement, 0), 99);
    sqlite3_finalize(statement);
    sqlite3_close(db);
  }
}

TEST(AllocatorLifecycleTest, RefusesForeignSqliteFileAndLeavesItUntouched) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  {
    // Some other program's database, given by mistake: user_version 0, tables of its own.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(flags.db.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE photos (name TEXT); INSERT INTO photos VALUES ('x');",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  ExpectRefusedAndStateFileUntouched(flags, "not a Berth state file");
}

TEST(AllocatorLifecycleTest, RefusesStateFileOfGarbageAndLeavesItUntouched) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  std::mt19937 random(42);
  std::string garbage(64 * 1024, '\0');
  for (char& byte : garbage) byte = static_cast<char>(random() & 0xff);
  WriteBytes(flags.db, garbage);
  ExpectRefusedAndStateFileUntouched(flags, "DATA_LOSS");
}

TEST(AllocatorLifecycleTest, RefusesASocketPathThatIsARegularFileAndKeepsTheFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = FlagsIn(dir, "allocator");
  WriteBytes(flags.socket, "not a socket\n");

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartAllocator(flags));
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Wait(absl::Seconds(20)));
  EXPECT_NE(exit_code, 0);
  EXPECT_THAT(ReadFileOrEmpty(flags.log_path), HasSubstr("not a socket"));
  struct stat st {};
  ASSERT_EQ(lstat(flags.socket.c_str(), &st), 0)
      << "allocator-svc said it would not remove " << flags.socket << " but did";
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(ReadBytes(flags.socket), "not a socket\n");
}

}  // namespace
}  // namespace berth::testing
