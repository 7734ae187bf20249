// SIGKILL of allocator-svc in the middle of a stream of Reserves and Releases: after a restart
// on the same state file, every change the daemon acknowledged is there, and nothing is held
// twice.
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "testing_support/allocator_client.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::allocator::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

constexpr int kThreads = 16;
constexpr int kKillCycles = 3;
constexpr int kOksBeforeKill = 2000;
constexpr int kGpus = 8;
constexpr int kBoxesPerGpu = 1000;

// What the clients learned from the daemon before it died.
class Outcomes {
 public:
  // A Reserve the daemon acknowledged.
  void Reserved(const v1::Lease& lease) {
    absl::MutexLock lock(&mu_);
    held_[lease.box_id()] = lease;
    ++oks_;
  }
  // A Release is about to be sent: from now on the lease may or may not exist.
  void Releasing(const std::string& box_id) {
    absl::MutexLock lock(&mu_);
    held_.erase(box_id);
  }
  // A Release the daemon acknowledged.
  void Released(const std::string& box_id) {
    absl::MutexLock lock(&mu_);
    released_.insert(box_id);
    ++oks_;
  }

  int oks() const {
    absl::MutexLock lock(&mu_);
    return oks_;
  }
  bool WaitForOks(int oks, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, oks]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return oks_ >= oks; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  std::map<std::string, v1::Lease> held() const {
    absl::MutexLock lock(&mu_);
    return held_;
  }
  std::set<std::string> released() const {
    absl::MutexLock lock(&mu_);
    return released_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, v1::Lease> held_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> released_ ABSL_GUARDED_BY(mu_);
  int oks_ ABSL_GUARDED_BY(mu_) = 0;
};

v1::ReserveRequest CrashReserve(const std::string& box_id) {
  return ReserveRequest(box_id,
                        {Port(32261, v1::PROTOCOL_TCP), Port(32262, v1::PROTOCOL_TCP),
                         Port(32273, v1::PROTOCOL_UDP)},
                        /*tty=*/true, /*gpu=*/true);
}

// Checks that the leases the daemon lists hold no resource twice and agree with Capacity.
void ExpectConsistent(AllocatorClient& client) {
  ASSERT_OK_AND_ASSIGN(v1::ListResponse list, client.List());
  std::map<std::string, std::string> holders;
  std::map<int32_t, uint32_t> gpu_boxes;
  uint32_t ttys = 0;
  uint32_t tcp = 0;
  uint32_t udp = 0;
  for (const v1::Lease& lease : list.leases()) {
    auto hold = [&](const std::string& resource) {
      auto [it, inserted] = holders.emplace(resource, lease.box_id());
      EXPECT_TRUE(inserted) << resource << " is leased to both " << it->second << " and "
                            << lease.box_id();
    };
    if (lease.tty() >= 0) {
      hold(absl::StrCat("tty ", lease.tty()));
      ++ttys;
    }
    for (const v1::PortBinding& port : lease.ports()) {
      hold(absl::StrCat(v1::Protocol_Name(port.protocol()), " ", port.host_port()));
      ++(port.protocol() == v1::PROTOCOL_UDP ? udp : tcp);
    }
    if (lease.gpu_index() >= 0) ++gpu_boxes[lease.gpu_index()];
  }
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity, client.Capacity());
  EXPECT_EQ(capacity.boxes().used(), static_cast<uint32_t>(list.leases_size()));
  EXPECT_EQ(capacity.ttys().used(), ttys);
  EXPECT_EQ(capacity.tcp_ports().used(), tcp);
  EXPECT_EQ(capacity.udp_ports().used(), udp);
  for (const v1::GpuUsage& gpu : capacity.gpus()) {
    EXPECT_EQ(gpu.slots().used(), gpu_boxes[gpu.gpu_index()]) << "gpu " << gpu.gpu_index();
    EXPECT_LE(gpu.slots().used(), static_cast<uint32_t>(kBoxesPerGpu));
  }
}

TEST(AllocatorCrashTest, AcknowledgedChangesSurviveSigkill) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = AllocatorFlagsIn(
      dir, "allocator",
      {"--tty_range=10-60000", "--max_boxes=60000", "--gpus=0,1,2,3,4,5,6,7",
       absl::StrCat("--boxes_per_gpu=", kBoxesPerGpu), "--reserve_grace=1h", "--log_level=warn"});
  const std::string address = UnixAddress(flags.socket);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags));

  Outcomes outcomes;
  for (int kill_cycle = 0; kill_cycle < kKillCycles; ++kill_cycle) {
    SCOPED_TRACE(absl::StrCat("kill cycle ", kill_cycle));
    const int oks_before = outcomes.oks();
    std::atomic<bool> stop{false};
    std::atomic<int> failed_calls{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
      clients.emplace_back([&, t] {
        AllocatorClient client(address, absl::Seconds(5));
        for (int i = 0; !stop.load(); ++i) {
          const std::string box_id = absl::StrCat("k", kill_cycle, "-t", t, "-", i);
          absl::StatusOr<v1::ReserveResponse> reserve = client.Reserve(CrashReserve(box_id));
          if (!reserve.ok()) {
            ++failed_calls;  // Killed: the lease may or may not exist.
            continue;
          }
          outcomes.Reserved(reserve->lease());
          // Every other lease is released again, so acknowledged releases are checked too.
          if (i % 2 == 1) {
            outcomes.Releasing(box_id);
            absl::StatusOr<v1::ReleaseResponse> release = client.Release(box_id);
            if (release.ok() && release->released()) {
              outcomes.Released(box_id);
            } else {
              ++failed_calls;
            }
          }
        }
      });
    }
    const bool enough = outcomes.WaitForOks(oks_before + kOksBeforeKill, absl::Seconds(120));
    daemon->Kill();  // SIGKILL while the clients are still calling.
    stop = true;
    for (std::thread& client : clients) client.join();
    ASSERT_TRUE(enough) << "only " << outcomes.oks() - oks_before << " calls succeeded; log:\n"
                        << ReadFileOrEmpty(flags.log_path);
    EXPECT_GT(failed_calls.load(), 0) << "the kill did not land while calls were in flight";

    ASSERT_OK_AND_ASSIGN(daemon, StartServingAllocator(flags));
    AllocatorClient client(address);
    const std::map<std::string, v1::Lease> held = outcomes.held();
    int missing = 0;
    for (const auto& [box_id, lease] : held) {
      absl::StatusOr<v1::Lease> now = client.Get(box_id);
      if (!now.ok()) {
        if (++missing <= 10) ADD_FAILURE() << "acknowledged lease " << box_id << " is lost: "
                                            << now.status();
        continue;
      }
      EXPECT_EQ(now->tty(), lease.tty()) << box_id;
      EXPECT_EQ(now->gpu_index(), lease.gpu_index()) << box_id;
      EXPECT_EQ(now->state(), v1::LEASE_STATE_RESERVED) << box_id;
      EXPECT_TRUE(MessageDifferencer::Equals(*now, lease))
          << box_id << " was " << lease.ShortDebugString() << ", is " << now->ShortDebugString();
    }
    EXPECT_EQ(missing, 0) << "of " << held.size() << " acknowledged leases";
    int resurrected = 0;
    for (const std::string& box_id : outcomes.released()) {
      absl::StatusOr<v1::Lease> now = client.Get(box_id);
      if (!absl::IsNotFound(now.status()) && ++resurrected <= 10) {
        ADD_FAILURE() << "released lease " << box_id << " is back: " << now.status();
      }
    }
    EXPECT_EQ(resurrected, 0);
    ExpectConsistent(client);

    // The restarted daemon serves new work on top of the recovered leases.
    const std::string fresh = absl::StrCat("fresh-", kill_cycle);
    ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve, client.Reserve(CrashReserve(fresh)));
    EXPECT_TRUE(reserve.created());
    for (const auto& [box_id, lease] : held) {
      EXPECT_NE(lease.tty(), reserve.lease().tty()) << "fresh lease got the tty of " << box_id;
    }
    ExpectConsistent(client);
    ASSERT_OK_AND_ASSIGN(v1::ReleaseResponse release, client.Release(fresh));
    EXPECT_TRUE(release.released());
    EXPECT_THAT(client.Get(fresh), StatusIs(absl::StatusCode::kNotFound, HasSubstr(fresh)));
    if (HasFailure()) break;
  }
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Terminate());
  EXPECT_EQ(exit_code, 0);
}

}  // namespace
}  // namespace berth::testing
