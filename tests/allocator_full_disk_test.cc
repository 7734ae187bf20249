// allocator-svc on a state disk that fills up (issue 11: a box can fill the file system of
// Berth's state): the real daemon, its --db on a small real tmpfs filled to the last byte.
// It stays up, refuses changes with a clear RESOURCE_EXHAUSTED (logged a few times, not once
// per call), answers reads, health and the watchdog, takes changes again by itself once space
// returns, and after a restart holds exactly what it acknowledged.
//
// Needs root (it mounts a tmpfs), as the suite runs.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "allocator-svc/testing/small_filesystem.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"
#include "testing_support/grpc_call.h"
#include "testing_support/notify_socket.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::allocator::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Generous: a loaded 2-core machine; the daemon retries a full disk every second.
constexpr absl::Duration kLiveness = absl::Seconds(30);

MATCHER_P(EqualsProto, expected, "") {
  std::string difference;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << difference;
  return false;
}

// How many lines of `log` contain `text`.
int LinesContaining(const std::string& log, absl::string_view text) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    count += absl::StrContains(line, text) ? 1 : 0;
  }
  return count;
}

class AllocatorFullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_EQ(mkdir(dir_.File("state").c_str(), 0700), 0);
    ASSERT_OK_AND_ASSIGN(fs_, SmallFilesystem::Mount(dir_.File("state"), 4 << 20));
    // The socket and the log stay off the small file system: only the state file is on it.
    flags_ =
        AllocatorFlagsIn(dir_, "allocator",
                         {"--tty_range=10-20", "--port_range=20000-20100", "--shutdown_grace=1s"});
    flags_.db = fs_->File("allocator.db");
    address_ = UnixAddress(flags_.socket);
  }

  std::string Log() const { return ReadFileOrEmpty(flags_.log_path); }

  // Expects that the daemon has not exited.
  void ExpectRunning(DaemonProcess& daemon) {
    EXPECT_THAT(daemon.Wait(absl::ZeroDuration()),
                StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_))
        << "allocator-svc exited; log:\n"
        << Log();
  }

  // Calls `reserve` until it succeeds (space came back and the daemon noticed), expecting
  // every failure on the way to be the full disk's.
  absl::StatusOr<v1::ReserveResponse> ReserveOnceSpaceIsBack(AllocatorClient& client,
                                                             const v1::ReserveRequest& request) {
    const absl::Time deadline = absl::Now() + kLiveness;
    while (true) {
      absl::StatusOr<v1::ReserveResponse> response = client.Reserve(request);
      if (response.ok() || response.status().code() != absl::StatusCode::kResourceExhausted ||
          absl::Now() > deadline) {
        return response;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  grpc::health::v1::HealthCheckResponse::ServingStatus Health() {
    auto stub = grpc::health::v1::Health::NewStub(NewTestChannel(address_));
    absl::StatusOr<grpc::health::v1::HealthCheckResponse> response =
        CallWithDeadline(&grpc::health::v1::Health::Stub::Check, stub.get(),
                         grpc::health::v1::HealthCheckRequest(), absl::Seconds(10));
    EXPECT_THAT(response, IsOk());
    return response.ok() ? response->status() : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }

  TempDir dir_;
  std::unique_ptr<SmallFilesystem> fs_;
  AllocatorFlags flags_;
  std::string address_;
};

TEST_F(AllocatorFullDiskTest, StaysUpRefusingChangesAndTakesThemAgainOnceSpaceReturns) {
  NotifySocket notify(dir_.File("notify"));
  ASSERT_TRUE(notify.ok());
  // A watchdog ping every 200 ms while the daemon is healthy.
  flags_.env = {absl::StrCat("NOTIFY_SOCKET=", notify.path()), "WATCHDOG_USEC=400000"};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags_));
  AllocatorClient client(address_);

  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse b1,
                       client.Reserve(ReserveRequest("b1", {Port(32262, v1::PROTOCOL_TCP)},
                                                     /*tty=*/true)));
  ASSERT_OK(client.Bind("b1", "c0ffee1"));
  ASSERT_OK_AND_ASSIGN(
      v1::ReserveResponse b2,
      client.Reserve(ReserveRequest(
          "b2", {Port(32262, v1::PROTOCOL_TCP), Port(32263, v1::PROTOCOL_UDP)}, /*tty=*/true)));
  ASSERT_OK_AND_ASSIGN(v1::ListResponse before, client.List());
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity_before, client.Capacity());
  ASSERT_EQ(before.leases_size(), 2);

  ASSERT_OK(fs_->Fill());

  // Every change is refused, saying why.
  const auto full = StatusIs(absl::StatusCode::kResourceExhausted,
                             AllOf(HasSubstr("the state disk is full: " + flags_.db),
                                   HasSubstr("changes are refused until space returns")));
  EXPECT_THAT(client.Reserve(ReserveRequest("b3", {Port(32262, v1::PROTOCOL_TCP)})), full);
  EXPECT_THAT(client.Release("b2"), full);
  EXPECT_THAT(client.Bind("b2", "c0ffee2"), full);
  v1::ReconcileRequest reconcile;  // Would release b2, whose box it does not list.
  reconcile.add_live_boxes()->set_box_id("b1");
  EXPECT_THAT(client.Reconcile(reconcile), full);

  // A storm of changes: every one refused.
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AllocatorClient storm_client(address_);
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<v1::ReserveResponse> response = storm_client.Reserve(
            ReserveRequest(absl::StrCat("storm-", t, "-", i), {Port(1, v1::PROTOCOL_UDP)}));
        if (response.status().code() == absl::StatusCode::kResourceExhausted) refused++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(refused.load(), kThreads * kPerThread);

  // Reads answer what is durable; health, the watchdog and the process carry on.
  ExpectRunning(*daemon);
  ASSERT_OK_AND_ASSIGN(v1::ListResponse list_while_full, client.List());
  EXPECT_THAT(list_while_full, EqualsProto(before));
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity_while_full, client.Capacity());
  EXPECT_THAT(capacity_while_full, EqualsProto(capacity_before));
  ASSERT_OK_AND_ASSIGN(v1::Lease b2_while_full, client.Get("b2"));
  EXPECT_THAT(b2_while_full, EqualsProto(b2.lease()));
  EXPECT_EQ(Health(), grpc::health::v1::HealthCheckResponse::SERVING);
  notify.SkipReceived();
  const absl::Time pings_from = absl::Now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(notify.WaitFor("WATCHDOG=1", pings_from + kLiveness).has_value())
        << "watchdog ping " << i << " while the disk is full; log:\n"
        << Log();
  }
  // Loud, but not once per refused call (over 200 of them).
  const int full_lines = LinesContaining(Log(), "the state disk is full");
  EXPECT_GE(full_lines, 1) << Log();
  EXPECT_LE(full_lines, 3) << Log();

  // Space returns: changes are taken again without a restart.
  ASSERT_OK(fs_->Free());
  ASSERT_OK_AND_ASSIGN(
      v1::ReserveResponse b3,
      ReserveOnceSpaceIsBack(client, ReserveRequest("b3", {Port(32262, v1::PROTOCOL_TCP)})));
  EXPECT_TRUE(b3.created());
  ASSERT_OK_AND_ASSIGN(v1::ReleaseResponse released, client.Release("b2"));
  EXPECT_TRUE(released.released());
  ASSERT_OK(client.Bind("b3", "c0ffee3"));
  EXPECT_THAT(Log(), HasSubstr("changes are accepted again"));
  ASSERT_OK_AND_ASSIGN(v1::ListResponse acknowledged, client.List());
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity, client.Capacity());
  ASSERT_EQ(acknowledged.leases_size(), 2);
  EXPECT_EQ(acknowledged.leases(0).box_id(), "b1");
  EXPECT_EQ(acknowledged.leases(1).box_id(), "b3");

  // After a restart: what was acknowledged, and nothing that was refused.
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Terminate());
  EXPECT_EQ(exit_code, 0) << Log();
  ASSERT_OK_AND_ASSIGN(daemon, StartServingAllocator(flags_));
  AllocatorClient restarted(address_);
  ASSERT_OK_AND_ASSIGN(v1::ListResponse after_restart, restarted.List());
  EXPECT_THAT(after_restart, EqualsProto(acknowledged));
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity_after_restart, restarted.Capacity());
  EXPECT_THAT(capacity_after_restart, EqualsProto(capacity));
}

// A box that fills the disk also makes every restart meet a full disk (systemd restarts a
// daemon that exits): the daemon starts on it, serves reads, refuses changes, and takes them
// again once space returns.
TEST_F(AllocatorFullDiskTest, StartsOnAFullDiskAndServesReads) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags_));
  {
    AllocatorClient client(address_);
    ASSERT_OK(client.Reserve(ReserveRequest("b1", {Port(32262, v1::PROTOCOL_TCP)}, true)));
  }
  ASSERT_OK(fs_->Fill());
  daemon->Kill();

  ASSERT_OK_AND_ASSIGN(daemon, StartServingAllocator(flags_));
  AllocatorClient client(address_);
  ASSERT_OK_AND_ASSIGN(v1::ListResponse list, client.List());
  ASSERT_EQ(list.leases_size(), 1);
  EXPECT_EQ(list.leases(0).box_id(), "b1");
  EXPECT_THAT(client.Reserve(ReserveRequest("b2", {Port(32262, v1::PROTOCOL_TCP)})),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("the state disk is full: " + flags_.db)));
  EXPECT_THAT(client.Get("b1"), IsOk());
  ExpectRunning(*daemon);

  ASSERT_OK(fs_->Free());
  EXPECT_THAT(ReserveOnceSpaceIsBack(client, ReserveRequest("b2", {Port(32262, v1::PROTOCOL_TCP)})),
              IsOk());
  ASSERT_OK_AND_ASSIGN(list, client.List());
  EXPECT_EQ(list.leases_size(), 2);
}

}  // namespace
}  // namespace berth::testing
