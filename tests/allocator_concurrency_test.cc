// Many concurrent clients of the real allocator-svc: no resource is ever in two live leases,
// no GPU holds more boxes than its cap, and nothing leaks.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
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

constexpr int kThreads = 64;
constexpr int kCycles = 20'000;  // Reserve + Release pairs, over all threads.
// Exactly as many TTYs, GPU slots and box slots as there are clients: every Reserve must
// succeed, and does so only when every Release really gives everything back.
constexpr int kGpus = 16;
constexpr int kBoxesPerGpu = 4;
constexpr int kTtyBegin = 10;
constexpr int kTtyEnd = kTtyBegin + kThreads;

// What the clients hold right now, by their own account: filled after a Reserve succeeds and
// emptied before the Release is sent, so it never holds more than the daemon does. A resource
// it finds held by another box was handed out twice.
class Ledger {
 public:
  explicit Ledger(int boxes_per_gpu) : boxes_per_gpu_(boxes_per_gpu) {}

  // Records the lease of `box_id`; returns what it found held by another box.
  std::vector<std::string> Take(const v1::Lease& lease) {
    std::vector<std::string> violations;
    absl::MutexLock lock(&mu_);
    auto take = [&](const std::string& resource) {
      auto [it, inserted] = holders_.emplace(resource, lease.box_id());
      if (!inserted) {
        violations.push_back(
            absl::StrCat(resource, " leased to ", lease.box_id(), " while held by ", it->second));
      }
    };
    take(absl::StrCat("tty ", lease.tty()));
    for (const v1::PortBinding& port : lease.ports()) {
      take(absl::StrCat(v1::Protocol_Name(port.protocol()), " host port ", port.host_port()));
    }
    const int on_gpu = ++gpu_boxes_[lease.gpu_index()];
    max_on_gpu_ = std::max(max_on_gpu_, on_gpu);
    if (on_gpu > boxes_per_gpu_) {
      violations.push_back(absl::StrCat("gpu ", lease.gpu_index(), " holds ", on_gpu,
                                        " boxes with ", lease.box_id()));
    }
    max_live_ = std::max<int>(max_live_, static_cast<int>(++live_));
    return violations;
  }

  // Forgets the lease; returns what was not recorded as held by it.
  std::vector<std::string> Give(const v1::Lease& lease) {
    std::vector<std::string> violations;
    absl::MutexLock lock(&mu_);
    auto give = [&](const std::string& resource) {
      auto it = holders_.find(resource);
      if (it == holders_.end() || it->second != lease.box_id()) {
        violations.push_back(absl::StrCat(resource, " released by ", lease.box_id(),
                                          " which did not hold it"));
        return;
      }
      holders_.erase(it);
    };
    give(absl::StrCat("tty ", lease.tty()));
    for (const v1::PortBinding& port : lease.ports()) {
      give(absl::StrCat(v1::Protocol_Name(port.protocol()), " host port ", port.host_port()));
    }
    --gpu_boxes_[lease.gpu_index()];
    --live_;
    return violations;
  }

  bool empty() const {
    absl::MutexLock lock(&mu_);
    return holders_.empty() && live_ == 0;
  }
  int max_live() const {
    absl::MutexLock lock(&mu_);
    return max_live_;
  }
  // The most boxes the clients held on one GPU at once.
  int max_on_gpu() const {
    absl::MutexLock lock(&mu_);
    return max_on_gpu_;
  }

 private:
  const int boxes_per_gpu_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> holders_ ABSL_GUARDED_BY(mu_);
  std::map<int32_t, int> gpu_boxes_ ABSL_GUARDED_BY(mu_);
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  int max_live_ ABSL_GUARDED_BY(mu_) = 0;
  int max_on_gpu_ ABSL_GUARDED_BY(mu_) = 0;
};

// Everything the clients saw go wrong, reported once they are done.
class Problems {
 public:
  void Add(std::string problem) {
    absl::MutexLock lock(&mu_);
    ++count_;
    if (examples_.size() < 20) examples_.push_back(std::move(problem));
  }
  void Add(const std::vector<std::string>& problems) {
    for (const std::string& problem : problems) Add(problem);
  }
  int count() const {
    absl::MutexLock lock(&mu_);
    return count_;
  }
  std::string Examples() const {
    absl::MutexLock lock(&mu_);
    return absl::StrJoin(examples_, "\n");
  }

 private:
  mutable absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> examples_ ABSL_GUARDED_BY(mu_);
};

std::string GpuList(int count) {
  std::vector<int> gpus;
  for (int i = 0; i < count; ++i) gpus.push_back(i);
  return absl::StrJoin(gpus, ",");
}

TEST(AllocatorConcurrencyTest, ConcurrentClientsNeverShareAResource) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = AllocatorFlagsIn(
      dir, "allocator",
      {absl::StrCat("--tty_range=", kTtyBegin, "-", kTtyEnd),
       absl::StrCat("--max_boxes=", kThreads), absl::StrCat("--gpus=", GpuList(kGpus)),
       absl::StrCat("--boxes_per_gpu=", kBoxesPerGpu), "--log_level=warn"});
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags));
  const std::string address = UnixAddress(flags.socket);

  Ledger ledger(kBoxesPerGpu);
  Problems problems;
  std::atomic<int> reserved{0};
  std::atomic<int> released{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      AllocatorClient client(address);
      for (int cycle = t; cycle < kCycles; cycle += kThreads) {
        const std::string box_id = absl::StrCat("box-", t, "-", cycle);
        v1::ReserveRequest request =
            ReserveRequest(box_id,
                           {Port(32261, v1::PROTOCOL_TCP), Port(32262, v1::PROTOCOL_TCP),
                            Port(32263, v1::PROTOCOL_TCP), Port(32273, v1::PROTOCOL_UDP)},
                           /*tty=*/true, /*gpu=*/true);
        absl::StatusOr<v1::ReserveResponse> reserve = client.Reserve(request);
        if (!reserve.ok()) {
          problems.Add(absl::StrCat("Reserve ", box_id, ": ", reserve.status().ToString()));
          continue;
        }
        ++reserved;
        const v1::Lease& lease = reserve->lease();
        if (!reserve->created() || lease.box_id() != box_id || lease.ports_size() != 4 ||
            lease.tty() < kTtyBegin || lease.tty() >= kTtyEnd || lease.gpu_index() < 0 ||
            lease.gpu_index() >= kGpus || lease.state() != v1::LEASE_STATE_RESERVED) {
          problems.Add(absl::StrCat("Reserve ", box_id, " answered ", reserve->ShortDebugString()));
        }
        problems.Add(ledger.Take(lease));
        // Hold the lease for a round trip, as the daemon sees it.
        absl::StatusOr<v1::Lease> held = client.Get(box_id);
        if (!held.ok() || !MessageDifferencer::Equals(*held, lease)) {
          problems.Add(absl::StrCat("Get ", box_id, ": ", held.status().ToString()));
        }
        problems.Add(ledger.Give(lease));
        absl::StatusOr<v1::ReleaseResponse> release = client.Release(box_id);
        if (!release.ok()) {
          problems.Add(absl::StrCat("Release ", box_id, ": ", release.status().ToString()));
          continue;
        }
        ++released;
        if (!release->released() || release->lease().tty() != lease.tty() ||
            release->lease().gpu_index() != lease.gpu_index()) {
          problems.Add(absl::StrCat("Release ", box_id, " answered ", release->ShortDebugString(),
                                    " for lease ", lease.ShortDebugString()));
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();

  EXPECT_EQ(problems.count(), 0) << problems.Examples() << "\nlog:\n"
                                 << ReadFileOrEmpty(flags.log_path);
  EXPECT_EQ(reserved.load(), kCycles);
  EXPECT_EQ(released.load(), kCycles);
  EXPECT_TRUE(ledger.empty());
  EXPECT_GT(ledger.max_live(), 1) << "the clients never overlapped";

  auto client = std::make_unique<AllocatorClient>(address);
  ASSERT_OK_AND_ASSIGN(v1::ListResponse list, client->List());
  EXPECT_EQ(list.leases_size(), 0) << list.ShortDebugString();
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity, client->Capacity());
  EXPECT_EQ(capacity.boxes().used(), 0u);
  EXPECT_EQ(capacity.boxes().total(), static_cast<uint32_t>(kThreads));
  EXPECT_EQ(capacity.ttys().used(), 0u);
  EXPECT_EQ(capacity.ttys().free(), static_cast<uint32_t>(kThreads));
  EXPECT_EQ(capacity.tcp_ports().used(), 0u);
  EXPECT_EQ(capacity.udp_ports().used(), 0u);
  EXPECT_EQ(capacity.gpu_slots().used(), 0u);
  EXPECT_EQ(capacity.gpu_slots().total(), static_cast<uint32_t>(kGpus * kBoxesPerGpu));
  ASSERT_EQ(capacity.gpus_size(), kGpus);
  for (const v1::GpuUsage& gpu : capacity.gpus()) {
    EXPECT_EQ(gpu.slots().used(), 0u) << "gpu " << gpu.gpu_index();
    EXPECT_EQ(gpu.slots().total(), static_cast<uint32_t>(kBoxesPerGpu));
  }

  client.reset();  // An idle connection would hold up the graceful stop.
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Terminate());
  EXPECT_EQ(exit_code, 0);
}

// GPU slots are the scarce resource here: more clients than slots, so Reserves race for the
// last slot of each GPU, and a GPU must never take a box over its cap.
TEST(AllocatorConcurrencyTest, GpuCapHoldsWhenClientsCompeteForSlots) {
  constexpr int kContendingGpus = 4;
  constexpr int kCap = 3;
  constexpr int kContendingCycles = 6'000;
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AllocatorFlags flags = AllocatorFlagsIn(
      dir, "allocator",
      {absl::StrCat("--tty_range=", kTtyBegin, "-", kTtyEnd),
       absl::StrCat("--max_boxes=", kThreads), absl::StrCat("--gpus=", GpuList(kContendingGpus)),
       absl::StrCat("--boxes_per_gpu=", kCap), "--log_level=warn"});
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DaemonProcess> daemon, StartServingAllocator(flags));
  const std::string address = UnixAddress(flags.socket);

  Ledger ledger(kCap);
  Problems problems;
  std::atomic<int> granted{0};
  std::atomic<int> exhausted{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      AllocatorClient client(address);
      for (int cycle = t; cycle < kContendingCycles; cycle += kThreads) {
        const std::string box_id = absl::StrCat("gpu-", t, "-", cycle);
        absl::StatusOr<v1::ReserveResponse> reserve = client.Reserve(
            ReserveRequest(box_id, {Port(32261, v1::PROTOCOL_TCP)}, /*tty=*/true, /*gpu=*/true));
        if (absl::IsResourceExhausted(reserve.status()) &&
            absl::StrContains(reserve.status().message(), "gpu")) {
          ++exhausted;
          continue;
        }
        if (!reserve.ok()) {
          problems.Add(absl::StrCat("Reserve ", box_id, ": ", reserve.status().ToString()));
          continue;
        }
        ++granted;
        problems.Add(ledger.Take(reserve->lease()));
        if (absl::Status held = client.Get(box_id).status(); !held.ok()) {
          problems.Add(absl::StrCat("Get ", box_id, ": ", held.ToString()));
        }
        problems.Add(ledger.Give(reserve->lease()));
        absl::StatusOr<v1::ReleaseResponse> release = client.Release(box_id);
        if (!release.ok() || !release->released()) {
          problems.Add(absl::StrCat("Release ", box_id, ": ", release.status().ToString()));
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();

  EXPECT_EQ(problems.count(), 0) << problems.Examples();
  EXPECT_EQ(granted.load() + exhausted.load(), kContendingCycles);
  EXPECT_GT(exhausted.load(), 0) << "the clients never competed for the last slot";
  EXPECT_EQ(ledger.max_on_gpu(), kCap) << "no GPU was ever full";
  EXPECT_TRUE(ledger.empty());

  auto client = std::make_unique<AllocatorClient>(address);
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity, client->Capacity());
  EXPECT_EQ(capacity.boxes().used(), 0u);
  EXPECT_EQ(capacity.ttys().used(), 0u);
  EXPECT_EQ(capacity.tcp_ports().used(), 0u);
  EXPECT_EQ(capacity.gpu_slots().used(), 0u);
  EXPECT_EQ(capacity.gpu_slots().total(), static_cast<uint32_t>(kContendingGpus * kCap));
  client.reset();
  ASSERT_OK_AND_ASSIGN(int exit_code, daemon->Terminate());
  EXPECT_EQ(exit_code, 0);
}

}  // namespace
}  // namespace berth::testing
