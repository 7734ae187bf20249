// allocator-svc's answers to requests it cannot grant, over its real socket: malformed
// requests are INVALID_ARGUMENT and change nothing; conflicts, exhaustion and missing leases
// get their own codes and change nothing either; plus the reserve grace and Reconcile.
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "common/proto_time.h"
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
using ::testing::_;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr uint16_t kPoolBegin = 20000;
constexpr uint16_t kPoolEnd = 32768;  // Exclusive, as --port_range.

// Everything a client can see of the allocator's state.
struct Snapshot {
  v1::ListResponse list;
  v1::CapacityResponse capacity;
};

bool operator==(const Snapshot& a, const Snapshot& b) {
  return MessageDifferencer::Equals(a.list, b.list) &&
         MessageDifferencer::Equals(a.capacity, b.capacity);
}

std::ostream& operator<<(std::ostream& out, const Snapshot& snapshot) {
  return out << "{leases: " << snapshot.list.ShortDebugString()
             << " capacity: " << snapshot.capacity.ShortDebugString() << "}";
}

v1::LiveBox LiveBoxOf(const v1::Lease& lease, const std::string& container_id) {
  v1::LiveBox box;
  box.set_box_id(lease.box_id());
  box.set_container_id(container_id);
  *box.mutable_ports() = lease.ports();
  box.set_tty(lease.tty());
  box.set_gpu_index(lease.gpu_index());
  return box;
}

v1::PortBinding Binding(uint32_t container_port, v1::Protocol protocol, uint32_t host_port) {
  v1::PortBinding binding;
  binding.set_container_port(container_port);
  binding.set_protocol(protocol);
  binding.set_host_port(host_port);
  return binding;
}

// A TCP socket listening on 0.0.0.0:`port`, as another process on the host would hold it.
class TcpListener {
 public:
  explicit TcpListener(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(port);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 1) != 0) {
      Close();
    }
  }
  ~TcpListener() { Close(); }
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  bool ok() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class AllocatorBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }

  // Starts allocator-svc with `extra` flags on a fresh socket and state file of this test.
  void Start(std::vector<std::string> extra) {
    flags_.socket = dir_.File("allocator.sock");
    flags_.db = dir_.File("allocator.db");
    flags_.log_path = dir_.File("allocator.log");
    flags_.extra = std::move(extra);
    ASSERT_OK_AND_ASSIGN(daemon_, StartServingAllocator(flags_));
    client_ = std::make_unique<AllocatorClient>(UnixAddress(flags_.socket));
  }

  // Stops the daemon with SIGTERM; a clean stop exits 0. (The client goes first: an idle
  // connection would hold up the daemon's graceful stop.)
  void Stop() {
    client_.reset();
    ASSERT_OK_AND_ASSIGN(int exit_code, daemon_->Terminate());
    ASSERT_EQ(exit_code, 0);
  }

  absl::StatusOr<Snapshot> Take() {
    Snapshot snapshot;
    absl::StatusOr<v1::ListResponse> list = client_->List();
    if (!list.ok()) return list.status();
    absl::StatusOr<v1::CapacityResponse> capacity = client_->Capacity();
    if (!capacity.ok()) return capacity.status();
    snapshot.list = *std::move(list);
    snapshot.capacity = *std::move(capacity);
    return snapshot;
  }

  // A port of the pool that nobody on the host holds.
  uint16_t FreePoolPort() {
    std::optional<uint16_t> port = FindFreePortRange(1, 24000, kPoolEnd);
    EXPECT_TRUE(port.has_value());
    return port.value_or(24000);
  }

  TempDir dir_;
  AllocatorFlags flags_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<AllocatorClient> client_;
};

TEST_F(AllocatorBadInputTest, MalformedRequestsAreInvalidArgumentAndChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(Start({"--gpus=0,1"}));
  // State for the malformed requests to damage: a RESERVED and a BOUND lease.
  ASSERT_OK(client_->Reserve(ReserveRequest(
      "held", {Port(80, v1::PROTOCOL_TCP), Port(81, v1::PROTOCOL_UDP)}, true, true)));
  ASSERT_OK(client_->Reserve(ReserveRequest("bound", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Bind("bound", "c0ffee"));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  const uint16_t free_port = FreePoolPort();

  // Valid but for one thing, and asking for every kind of resource, so that a request that
  // got past validation would take something.
  auto reserve = [&](const std::string& box_id, std::vector<v1::PortRequest> ports) {
    std::vector<v1::PortRequest> all = {Port(1000, v1::PROTOCOL_TCP)};
    all.insert(all.end(), ports.begin(), ports.end());
    return [this, box_id, all] {
      return client_->Reserve(ReserveRequest(box_id, all, true, true)).status();
    };
  };
  auto reconcile = [&](std::vector<v1::LiveBox> boxes) {
    v1::ReconcileRequest request;
    for (v1::LiveBox& box : boxes) *request.add_live_boxes() = std::move(box);
    // If it were obeyed, "bound" (not listed) would be released.
    return [this, request] { return client_->Reconcile(request).status(); };
  };
  v1::LiveBox live;
  live.set_box_id("live");
  live.set_container_id("abc");
  live.set_tty(-1);
  live.set_gpu_index(-1);
  *live.add_ports() = Binding(80, v1::PROTOCOL_TCP, free_port);
  auto live_with = [&](std::function<void(v1::LiveBox*)> change) {
    v1::LiveBox box = live;
    change(&box);
    return box;
  };
  std::vector<v1::PortRequest> too_many;
  for (uint32_t i = 0; i < 65; ++i) too_many.push_back(Port(2000 + i, v1::PROTOCOL_TCP));

  const std::vector<std::pair<std::string, std::function<absl::Status()>>> cases = {
      {"Reserve empty box id", reserve("", {})},
      {"Reserve 65-character box id", reserve(std::string(65, 'a'), {})},
      {"Reserve box id starting with .", reserve(".box", {})},
      {"Reserve box id starting with -", reserve("-box", {})},
      {"Reserve box id with /", reserve("a/b", {})},
      {"Reserve box id with space", reserve("a b", {})},
      {"Reserve box id with NUL", reserve(std::string("a\0b", 3), {})},
      {"Reserve protocol UNSPECIFIED",
       reserve("new", {Port(81, v1::PROTOCOL_UNSPECIFIED)})},
      {"Reserve protocol 7", reserve("new", {Port(81, static_cast<v1::Protocol>(7))})},
      {"Reserve container port 0", reserve("new", {Port(0, v1::PROTOCOL_TCP)})},
      {"Reserve container port 70000", reserve("new", {Port(70000, v1::PROTOCOL_TCP)})},
      {"Reserve host port below the pool",
       reserve("new", {Port(81, v1::PROTOCOL_TCP, kPoolBegin - 1)})},
      {"Reserve host port at the pool's end",
       reserve("new", {Port(81, v1::PROTOCOL_TCP, kPoolEnd)})},
      {"Reserve host port 70000", reserve("new", {Port(81, v1::PROTOCOL_UDP, 70000)})},
      {"Reserve duplicate container port",
       reserve("new", {Port(1000, v1::PROTOCOL_TCP, free_port)})},
      {"Reserve duplicate fixed host port",
       reserve("new", {Port(81, v1::PROTOCOL_UDP, free_port),
                       Port(82, v1::PROTOCOL_UDP, free_port)})},
      {"Reserve 65 ports", reserve("new", too_many)},
      {"Reserve of a held box with a bad port", reserve("held", {Port(0, v1::PROTOCOL_TCP)})},
      {"Bind empty container id", [this] { return client_->Bind("held", "").status(); }},
      {"Bind container id with -", [this] { return client_->Bind("held", "abc-def").status(); }},
      {"Bind container id with /", [this] { return client_->Bind("held", "abc/def").status(); }},
      {"Bind 129-character container id",
       [this] { return client_->Bind("held", std::string(129, 'a')).status(); }},
      {"Bind empty box id", [this] { return client_->Bind("", "abc").status(); }},
      {"Bind bad box id", [this] { return client_->Bind("-held", "abc").status(); }},
      {"Release empty box id", [this] { return client_->Release("").status(); }},
      {"Release bad box id", [this] { return client_->Release("held/..").status(); }},
      {"Release 65-character box id",
       [this] { return client_->Release(std::string(65, 'b')).status(); }},
      {"Get empty box id", [this] { return client_->Get("").status(); }},
      {"Get bad box id", [this] { return client_->Get(".held").status(); }},
      {"List state 9",
       [this] { return client_->List(static_cast<v1::LeaseState>(9)).status(); }},
      {"Reconcile duplicate box id", reconcile({live, live})},
      {"Reconcile bad box id",
       reconcile({live_with([](v1::LiveBox* box) { box->set_box_id("a b"); })})},
      {"Reconcile host port 0",
       reconcile({live_with([](v1::LiveBox* box) { box->mutable_ports(0)->set_host_port(0); })})},
      {"Reconcile host port 70000", reconcile({live_with([](v1::LiveBox* box) {
         box->mutable_ports(0)->set_host_port(70000);
       })})},
      {"Reconcile container port 0", reconcile({live_with([](v1::LiveBox* box) {
         box->mutable_ports(0)->set_container_port(0);
       })})},
      {"Reconcile protocol UNSPECIFIED", reconcile({live_with([](v1::LiveBox* box) {
         box->mutable_ports(0)->set_protocol(v1::PROTOCOL_UNSPECIFIED);
       })})},
      {"Reconcile a box holding a host port twice", reconcile({live_with([](v1::LiveBox* box) {
         *box->add_ports() = Binding(81, v1::PROTOCOL_TCP, box->ports(0).host_port());
       })})},
  };
  for (const auto& [name, call] : cases) {
    SCOPED_TRACE(name);
    EXPECT_THAT(call(), StatusIs(absl::StatusCode::kInvalidArgument, _));
    ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
    EXPECT_EQ(after, before);
  }
  EXPECT_TRUE(daemon_->running());
}

TEST_F(AllocatorBadInputTest, BoundaryValuesAreAccepted) {
  std::optional<uint16_t> begin = FindFreePortRange(100, 22000, kPoolEnd);
  ASSERT_TRUE(begin.has_value());
  const uint32_t first = *begin;
  const uint32_t last = *begin + 99;
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--port_range=", first, "-", last + 1)}));

  const std::string longest(64, 'z');
  for (const std::string& box_id :
       {longest, std::string("0"), std::string("123e4567-e89b-12d3-a456-426614174000"),
        std::string("a_b.c-d")}) {
    SCOPED_TRACE(box_id);
    ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve,
                         client_->Reserve(ReserveRequest(box_id, {})));
    EXPECT_EQ(reserve.lease().box_id(), box_id);
    EXPECT_OK(client_->Get(box_id));
    EXPECT_OK(client_->Bind(box_id, std::string(128, 'f')));
  }
  // Both ends of the container port range and of the pool, and one container port under
  // both protocols.
  ASSERT_OK_AND_ASSIGN(
      v1::ReserveResponse ends,
      client_->Reserve(ReserveRequest("ends", {Port(1, v1::PROTOCOL_TCP, first),
                                               Port(65535, v1::PROTOCOL_TCP, last),
                                               Port(1, v1::PROTOCOL_UDP, first)})));
  ASSERT_EQ(ends.lease().ports_size(), 3);
  EXPECT_EQ(ends.lease().ports(0).host_port(), first);
  EXPECT_EQ(ends.lease().ports(1).host_port(), last);
  EXPECT_EQ(ends.lease().ports(2).host_port(), first);
  EXPECT_EQ(ends.lease().tty(), -1);
  EXPECT_EQ(ends.lease().gpu_index(), -1);
  // 64 ports, the most one lease may hold.
  std::vector<v1::PortRequest> most;
  for (uint32_t i = 0; i < 64; ++i) most.push_back(Port(3000 + i, v1::PROTOCOL_TCP));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse many, client_->Reserve(ReserveRequest("many", most)));
  EXPECT_EQ(many.lease().ports_size(), 64);
  ASSERT_OK_AND_ASSIGN(v1::CapacityResponse capacity, client_->Capacity());
  EXPECT_EQ(capacity.tcp_ports().used(), 66u);
  EXPECT_EQ(capacity.udp_ports().used(), 1u);
}

TEST_F(AllocatorBadInputTest, DifferentReserveForAHeldBoxIsAlreadyExists) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  ASSERT_OK_AND_ASSIGN(
      v1::ReserveResponse original,
      client_->Reserve(ReserveRequest("box1", {Port(80, v1::PROTOCOL_TCP)}, /*tty=*/true)));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());

  for (const v1::ReserveRequest& different :
       {ReserveRequest("box1", {Port(81, v1::PROTOCOL_TCP)}, true),
        ReserveRequest("box1", {Port(80, v1::PROTOCOL_TCP)}, false),
        ReserveRequest("box1", {Port(80, v1::PROTOCOL_UDP)}, true),
        ReserveRequest("box1", {Port(80, v1::PROTOCOL_TCP), Port(81, v1::PROTOCOL_TCP)}, true)}) {
    SCOPED_TRACE(different.ShortDebugString());
    EXPECT_THAT(client_->Reserve(different),
                StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("box1")));
    ASSERT_OK_AND_ASSIGN(v1::Lease lease, client_->Get("box1"));
    EXPECT_TRUE(MessageDifferencer::Equals(lease, original.lease()))
        << lease.ShortDebugString() << " vs " << original.lease().ShortDebugString();
    ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
    EXPECT_EQ(after, before);
  }
}

TEST_F(AllocatorBadInputTest, SameReserveTwiceReturnsTheSameLease) {
  ASSERT_NO_FATAL_FAILURE(Start({"--gpus=0"}));
  const v1::ReserveRequest request = ReserveRequest(
      "box1", {Port(80, v1::PROTOCOL_TCP), Port(81, v1::PROTOCOL_UDP)}, true, true);
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse first, client_->Reserve(request));
  EXPECT_TRUE(first.created());
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse second, client_->Reserve(request));
  EXPECT_FALSE(second.created());
  EXPECT_TRUE(MessageDifferencer::Equals(first.lease(), second.lease()))
      << first.lease().ShortDebugString() << " vs " << second.lease().ShortDebugString();
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  // Still the same once bound: the retry of a Reserve whose reply was lost.
  ASSERT_OK(client_->Bind("box1", "abc"));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse third, client_->Reserve(request));
  EXPECT_FALSE(third.created());
  EXPECT_EQ(third.lease().tty(), first.lease().tty());
  EXPECT_EQ(third.lease().state(), v1::LEASE_STATE_BOUND);
}

TEST_F(AllocatorBadInputTest, FixedHostPortLeasedToAnotherBoxIsResourceExhausted) {
  ASSERT_NO_FATAL_FAILURE(Start({"--gpus=0"}));
  const uint16_t port = FreePoolPort();
  ASSERT_OK(client_->Reserve(ReserveRequest("first", {Port(80, v1::PROTOCOL_TCP, port)})));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());

  // Asks for a tty, a gpu and an any-port too: all of it must be given back.
  EXPECT_THAT(client_->Reserve(ReserveRequest(
                  "second", {Port(81, v1::PROTOCOL_TCP), Port(80, v1::PROTOCOL_TCP, port)},
                  true, true)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr(absl::StrCat(port)), HasSubstr("first"))));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  EXPECT_THAT(client_->Get("second"), StatusIs(absl::StatusCode::kNotFound, _));
  // The same number over UDP is another pool's port.
  EXPECT_OK(client_->Reserve(ReserveRequest("third", {Port(80, v1::PROTOCOL_UDP, port)})));
}

TEST_F(AllocatorBadInputTest, ReservedPortIsNeverHandedOut) {
  std::optional<uint16_t> begin = FindFreePortRange(3, 22000, kPoolEnd);
  ASSERT_TRUE(begin.has_value());
  const uint32_t reserved = *begin + 1;
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--port_range=", *begin, "-", *begin + 3),
                                 absl::StrCat("--reserved_ports=", reserved)}));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_EQ(before.capacity.tcp_ports().total(), 2u);
  EXPECT_EQ(before.capacity.udp_ports().total(), 2u);

  EXPECT_THAT(client_->Reserve(ReserveRequest("fixed", {Port(80, v1::PROTOCOL_TCP, reserved)})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(absl::StrCat(reserved))));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);

  std::set<uint32_t> handed_out;
  for (const std::string box_id : {"a", "b"}) {
    ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve,
                         client_->Reserve(ReserveRequest(box_id, {Port(80, v1::PROTOCOL_TCP)})));
    handed_out.insert(reserve.lease().ports(0).host_port());
  }
  EXPECT_THAT(handed_out, UnorderedElementsAre(uint32_t{*begin}, uint32_t{*begin} + 2));
  EXPECT_THAT(client_->Reserve(ReserveRequest("c", {Port(80, v1::PROTOCOL_TCP)})),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tcp")));
}

TEST_F(AllocatorBadInputTest, BoxCapacityIsResourceExhausted) {
  ASSERT_NO_FATAL_FAILURE(Start({"--max_boxes=2"}));
  ASSERT_OK(client_->Reserve(ReserveRequest("a", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Reserve(ReserveRequest("b", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_THAT(client_->Reserve(ReserveRequest("c", {Port(80, v1::PROTOCOL_TCP)}, true)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("box")));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  EXPECT_EQ(after.capacity.boxes().used(), 2u);
  EXPECT_EQ(after.capacity.boxes().free(), 0u);
  // A retry of a granted Reserve is no new box.
  EXPECT_OK(client_->Reserve(ReserveRequest("a", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Release("a"));
  EXPECT_OK(client_->Reserve(ReserveRequest("c", {Port(80, v1::PROTOCOL_TCP)}, true)));
}

TEST_F(AllocatorBadInputTest, GpuOnAHostWithoutGpusIsResourceExhausted) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/dev", error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 6 && absl::StartsWith(name, "nvidia") &&
        std::all_of(name.begin() + 6, name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      GTEST_SKIP() << "this host has " << entry.path();
    }
  }
  ASSERT_NO_FATAL_FAILURE(Start({}));  // No --gpus: detected from /dev, none.
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_EQ(before.capacity.gpu_slots().total(), 0u);
  EXPECT_THAT(before.capacity.gpus(), IsEmpty());
  EXPECT_THAT(client_->Reserve(ReserveRequest("box1", {Port(80, v1::PROTOCOL_TCP)}, true, true)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("gpu")));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  EXPECT_OK(client_->Reserve(ReserveRequest("box1", {Port(80, v1::PROTOCOL_TCP)}, true, false)));
}

TEST_F(AllocatorBadInputTest, GpuSlotsAreCappedAndLeastLoadedFirst) {
  ASSERT_NO_FATAL_FAILURE(Start({"--gpus=0,1", "--boxes_per_gpu=2"}));
  std::vector<int32_t> gpus;
  for (const std::string box_id : {"a", "b", "c", "d"}) {
    ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve,
                         client_->Reserve(ReserveRequest(box_id, {}, false, true)));
    gpus.push_back(reserve.lease().gpu_index());
  }
  // Least-loaded first, ties to the lower index.
  EXPECT_THAT(gpus, ElementsAre(0, 1, 0, 1));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_THAT(client_->Reserve(ReserveRequest("e", {}, true, true)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("gpu")));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  ASSERT_OK(client_->Release("b"));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse e, client_->Reserve(ReserveRequest("e", {}, true, true)));
  EXPECT_EQ(e.lease().gpu_index(), 1);
}

TEST_F(AllocatorBadInputTest, TtyRangeExhaustedIsResourceExhaustedAndTakesNothing) {
  // More box slots than TTYs (by default there is one box per TTY), so that the TTY pool is
  // what runs out.
  ASSERT_NO_FATAL_FAILURE(Start({"--tty_range=10-12", "--max_boxes=10"}));
  std::set<int32_t> ttys;
  for (const std::string box_id : {"a", "b"}) {
    ASSERT_OK_AND_ASSIGN(
        v1::ReserveResponse reserve,
        client_->Reserve(ReserveRequest(box_id, {Port(80, v1::PROTOCOL_TCP)}, /*tty=*/true)));
    ttys.insert(reserve.lease().tty());
  }
  EXPECT_THAT(ttys, UnorderedElementsAre(10, 11));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_EQ(before.capacity.tcp_ports().used(), 2u);

  EXPECT_THAT(client_->Reserve(ReserveRequest(
                  "c",
                  {Port(80, v1::PROTOCOL_TCP), Port(81, v1::PROTOCOL_TCP),
                   Port(82, v1::PROTOCOL_UDP)},
                  /*tty=*/true)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tty")));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  EXPECT_EQ(after.capacity.tcp_ports().used(), 2u);
  EXPECT_EQ(after.capacity.udp_ports().used(), 0u);
  EXPECT_THAT(client_->Get("c"), StatusIs(absl::StatusCode::kNotFound, _));
}

TEST_F(AllocatorBadInputTest, ExhaustedPortPoolGivesBackTtyAndGpu) {
  std::optional<uint16_t> begin = FindFreePortRange(2, 22000, kPoolEnd);
  ASSERT_TRUE(begin.has_value());
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--port_range=", *begin, "-", *begin + 2),
                                 "--gpus=0", "--boxes_per_gpu=5"}));
  ASSERT_OK(client_->Reserve(
      ReserveRequest("a", {Port(80, v1::PROTOCOL_TCP), Port(81, v1::PROTOCOL_TCP)}, true, true)));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_THAT(client_->Reserve(ReserveRequest("b", {Port(80, v1::PROTOCOL_UDP),
                                                    Port(81, v1::PROTOCOL_TCP)},
                                              true, true)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tcp")));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
}

TEST_F(AllocatorBadInputTest, BindUnknownBoxIsNotFoundAndOtherContainerIsFailedPrecondition) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  EXPECT_THAT(client_->Bind("nobody", "abc"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
  ASSERT_OK(client_->Reserve(ReserveRequest("box1", {}, true)));
  ASSERT_OK_AND_ASSIGN(v1::BindResponse bound, client_->Bind("box1", "abc"));
  EXPECT_EQ(bound.lease().state(), v1::LEASE_STATE_BOUND);
  EXPECT_EQ(bound.lease().container_id(), "abc");
  EXPECT_TRUE(bound.lease().has_bound_at());
  // Idempotent for the same container.
  ASSERT_OK_AND_ASSIGN(v1::BindResponse again, client_->Bind("box1", "abc"));
  EXPECT_TRUE(MessageDifferencer::Equals(again.lease(), bound.lease()));
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_THAT(client_->Bind("box1", "def"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("abc")));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
  ASSERT_OK_AND_ASSIGN(v1::Lease lease, client_->Get("box1"));
  EXPECT_EQ(lease.container_id(), "abc");
}

TEST_F(AllocatorBadInputTest, ReleaseIsIdempotent) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve,
                       client_->Reserve(ReserveRequest("box1", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK_AND_ASSIGN(v1::ReleaseResponse first, client_->Release("box1"));
  EXPECT_TRUE(first.released());
  EXPECT_TRUE(MessageDifferencer::Equals(first.lease(), reserve.lease()));
  ASSERT_OK_AND_ASSIGN(v1::ReleaseResponse second, client_->Release("box1"));
  EXPECT_FALSE(second.released());
  EXPECT_THAT(client_->Get("box1"), StatusIs(absl::StatusCode::kNotFound, _));
  ASSERT_OK_AND_ASSIGN(v1::ReleaseResponse never, client_->Release("never-leased"));
  EXPECT_FALSE(never.released());
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_THAT(after.list.leases(), IsEmpty());
  EXPECT_EQ(after.capacity.ttys().used(), 0u);
  EXPECT_EQ(after.capacity.tcp_ports().used(), 0u);
}

TEST_F(AllocatorBadInputTest, HostPortHeldByAnotherProcessIsSkipped) {
  std::optional<uint16_t> found = FindFreePortRange(5, 21000, kPoolEnd);
  ASSERT_TRUE(found.has_value());
  const uint32_t begin = *found;
  const uint32_t held = begin + 2;
  TcpListener listener(static_cast<uint16_t>(held));
  ASSERT_TRUE(listener.ok()) << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--port_range=", begin, "-", begin + 5)}));

  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  EXPECT_THAT(client_->Reserve(ReserveRequest("fixed", {Port(80, v1::PROTOCOL_TCP, held)}, true)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr(absl::StrCat(held)), HasSubstr("held by another process"))));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);

  std::vector<uint32_t> handed_out;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(
        v1::ReserveResponse reserve,
        client_->Reserve(ReserveRequest(absl::StrCat("box", i), {Port(80, v1::PROTOCOL_TCP)})));
    handed_out.push_back(reserve.lease().ports(0).host_port());
  }
  EXPECT_THAT(handed_out, UnorderedElementsAreArray({begin, begin + 1, begin + 3, begin + 4}));
  EXPECT_THAT(client_->Reserve(ReserveRequest("box4", {Port(80, v1::PROTOCOL_TCP)})),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tcp")));
  EXPECT_THAT(client_->Reserve(ReserveRequest("fixed", {Port(80, v1::PROTOCOL_TCP, held)})),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("held by another process")));
  // The UDP port of the same number is free.
  EXPECT_OK(client_->Reserve(ReserveRequest("udp", {Port(80, v1::PROTOCOL_UDP, held)})));

  // Once the other process lets go, the port is handed out again.
  listener.Close();
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse reserve,
                       client_->Reserve(ReserveRequest("box4", {Port(80, v1::PROTOCOL_TCP)})));
  EXPECT_EQ(reserve.lease().ports(0).host_port(), held);
}

TEST_F(AllocatorBadInputTest, ReservationIsReclaimedAfterTheGraceButABoundLeaseStays) {
  ASSERT_NO_FATAL_FAILURE(Start({"--reserve_grace=1s"}));
  const absl::Time start = absl::Now();
  ASSERT_OK(client_->Reserve(ReserveRequest("reserved", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Reserve(ReserveRequest("bound", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Bind("bound", "abc"));
  EXPECT_OK(client_->Get("reserved"));

  // Polls for the change the daemon makes by itself, for at most 3 s.
  absl::Status reserved = absl::OkStatus();
  while (reserved.ok() && absl::Now() - start < absl::Seconds(3)) {
    reserved = client_->Get("reserved").status();
    if (reserved.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const absl::Duration gone_after = absl::Now() - start;
  EXPECT_THAT(reserved, StatusIs(absl::StatusCode::kNotFound, _))
      << "still leased after " << gone_after;
  EXPECT_GE(gone_after, absl::Seconds(1)) << "reclaimed before its grace ran out";

  ASSERT_OK_AND_ASSIGN(v1::Lease bound, client_->Get("bound"));
  EXPECT_EQ(bound.state(), v1::LEASE_STATE_BOUND);
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after.list.leases_size(), 1);
  EXPECT_EQ(after.capacity.ttys().used(), 1u);
  EXPECT_EQ(after.capacity.tcp_ports().used(), 1u);
}

// Leases: a RESERVED (young), b and c BOUND. Docker shows b, and d which has no lease.
// Two live boxes holding one port outside the pool: the first gets a lease with it, the second
// a conflict; the allocator goes on serving and its state file agrees after a restart.
TEST_F(AllocatorBadInputTest, ReconcileGivesAPortOutsideThePoolToOneBoxOnly) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  auto holder = [](const std::string& box_id) {
    v1::LiveBox box;
    box.set_box_id(box_id);
    box.set_container_id("c" + box_id);
    box.set_tty(-1);
    box.set_gpu_index(-1);
    *box.add_ports() = Binding(80, v1::PROTOCOL_TCP, kPoolEnd + 5);
    return box;
  };
  v1::ReconcileRequest request;
  *request.add_live_boxes() = holder("a");
  *request.add_live_boxes() = holder("b");
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, client_->Reconcile(request));
  EXPECT_THAT(response.leased(), ElementsAre("a"));
  ASSERT_EQ(response.conflicts_size(), 1);
  EXPECT_EQ(response.conflicts(0).box_id(), "b");
  EXPECT_THAT(response.conflicts(0).reason(), HasSubstr("leased to box a"));
  ASSERT_TRUE(daemon_->running()) << "a store failure ended the allocator";
  ASSERT_OK_AND_ASSIGN(const Snapshot before, Take());
  ASSERT_NO_FATAL_FAILURE(Stop());
  ASSERT_NO_FATAL_FAILURE(Start({}));
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after, before);
}

TEST_F(AllocatorBadInputTest, ReconcileReleasesGoneBoxesAndLeasesUnknownLiveOnes) {
  ASSERT_NO_FATAL_FAILURE(Start({"--gpus=0"}));
  ASSERT_OK(client_->Reserve(ReserveRequest("a", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse b,
                       client_->Reserve(ReserveRequest("b", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Bind("b", "cb"));
  ASSERT_OK(client_->Reserve(ReserveRequest("c", {Port(80, v1::PROTOCOL_TCP)}, true, true)));
  ASSERT_OK(client_->Bind("c", "cc"));
  ASSERT_OK_AND_ASSIGN(v1::Lease a_before, client_->Get("a"));
  ASSERT_OK_AND_ASSIGN(v1::Lease b_before, client_->Get("b"));

  // d holds a tty and a port nobody has leased.
  std::set<int32_t> leased_ttys;
  ASSERT_OK_AND_ASSIGN(v1::ListResponse list, client_->List());
  for (const v1::Lease& lease : list.leases()) leased_ttys.insert(lease.tty());
  int32_t d_tty = 63;
  ASSERT_EQ(leased_ttys.count(d_tty), 0u);
  const uint16_t d_port = FreePoolPort();
  v1::LiveBox d;
  d.set_box_id("d");
  d.set_container_id("cd");
  d.set_tty(d_tty);
  d.set_gpu_index(0);
  *d.add_ports() = Binding(8080, v1::PROTOCOL_TCP, d_port);

  v1::ReconcileRequest request;
  *request.add_live_boxes() = LiveBoxOf(b.lease(), "cb");
  *request.add_live_boxes() = d;
  // "late" is made after the caller listed its boxes: the late reconcile keeps its lease.
  *request.mutable_listed_at() = common::ToTimestamp(absl::Now());
  absl::SleepFor(absl::Milliseconds(5));
  ASSERT_OK(client_->Reserve(ReserveRequest("late", {Port(80, v1::PROTOCOL_TCP)}, false)));
  ASSERT_OK(client_->Bind("late", "cl"));
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, client_->Reconcile(request));
  EXPECT_THAT(response.released(), ElementsAre("c"));
  EXPECT_OK(client_->Get("late").status()) << "a lease newer than the list was released";
  ASSERT_OK(client_->Release("late"));
  EXPECT_THAT(response.leased(), ElementsAre("d"));
  EXPECT_THAT(response.bound(), IsEmpty());
  EXPECT_THAT(response.conflicts(), IsEmpty());

  EXPECT_THAT(client_->Get("c"), StatusIs(absl::StatusCode::kNotFound, _));
  ASSERT_OK_AND_ASSIGN(v1::Lease a_after, client_->Get("a"));
  EXPECT_TRUE(MessageDifferencer::Equals(a_after, a_before)) << "a young reservation was touched";
  ASSERT_OK_AND_ASSIGN(v1::Lease b_after, client_->Get("b"));
  EXPECT_TRUE(MessageDifferencer::Equals(b_after, b_before));
  ASSERT_OK_AND_ASSIGN(v1::Lease d_lease, client_->Get("d"));
  EXPECT_EQ(d_lease.state(), v1::LEASE_STATE_BOUND);
  EXPECT_EQ(d_lease.container_id(), "cd");
  EXPECT_EQ(d_lease.tty(), d_tty);
  EXPECT_EQ(d_lease.gpu_index(), 0);
  ASSERT_EQ(d_lease.ports_size(), 1);
  EXPECT_EQ(d_lease.ports(0).host_port(), d_port);
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after.capacity.boxes().used(), 3u);
  EXPECT_EQ(after.capacity.ttys().used(), 3u);
  EXPECT_EQ(after.capacity.tcp_ports().used(), 3u);
  EXPECT_EQ(after.capacity.gpu_slots().used(), 1u);

  // What d holds is no longer free: a fixed Reserve of its port is refused, naming d.
  EXPECT_THAT(client_->Reserve(ReserveRequest("e", {Port(80, v1::PROTOCOL_TCP, d_port)})),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("box d")));
  // The same Reconcile again changes nothing.
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse again, client_->Reconcile(request));
  EXPECT_THAT(again.released(), IsEmpty());
  EXPECT_THAT(again.leased(), IsEmpty());
  EXPECT_THAT(again.bound(), IsEmpty());
  EXPECT_THAT(again.conflicts(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(const Snapshot after_again, Take());
  EXPECT_EQ(after_again, after);
}

TEST_F(AllocatorBadInputTest, ReconcileReleasesAReservationOlderThanTheGrace) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  ASSERT_OK(client_->Reserve(ReserveRequest("old", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Reserve(ReserveRequest("young", {Port(80, v1::PROTOCOL_TCP)}, true)));
  // Age "old" by an hour in the stopped daemon's state file. The default grace (120 s) means
  // the reclaimer's first pass is 10 s after start, long after the Reconcile below.
  ASSERT_NO_FATAL_FAILURE(Stop());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(flags_.db.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE leases SET reserved_at_us = reserved_at_us - 3600000000 "
                           "WHERE box_id = 'old'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }
  ASSERT_NO_FATAL_FAILURE(Start({}));
  ASSERT_OK_AND_ASSIGN(v1::Lease old_lease, client_->Get("old"));
  ASSERT_LT(old_lease.reserved_at().seconds(), absl::ToUnixSeconds(absl::Now()) - 3000);

  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, client_->Reconcile(v1::ReconcileRequest()));
  EXPECT_THAT(response.released(), ElementsAre("old"));
  EXPECT_THAT(client_->Get("old"), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_OK(client_->Get("young"));
}

TEST_F(AllocatorBadInputTest, ReconcileReportsConflictsAndChangesNothingForThem) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse a,
                       client_->Reserve(ReserveRequest("a", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK_AND_ASSIGN(v1::ReserveResponse b,
                       client_->Reserve(ReserveRequest("b", {Port(80, v1::PROTOCOL_TCP)}, true)));
  ASSERT_OK(client_->Bind("b", "cb"));
  ASSERT_OK_AND_ASSIGN(v1::Lease b_before, client_->Get("b"));
  const uint32_t b_port = b.lease().ports(0).host_port();

  // e claims b's host port (and a tty of its own); a's RESERVED lease has its box now.
  v1::LiveBox e;
  e.set_box_id("e");
  e.set_container_id("ce");
  e.set_tty(60);
  e.set_gpu_index(-1);
  *e.add_ports() = Binding(8080, v1::PROTOCOL_TCP, b_port);
  v1::ReconcileRequest request;
  *request.add_live_boxes() = LiveBoxOf(a.lease(), "ca");
  *request.add_live_boxes() = LiveBoxOf(b.lease(), "cb");
  *request.add_live_boxes() = e;
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, client_->Reconcile(request));
  EXPECT_THAT(response.released(), IsEmpty());
  EXPECT_THAT(response.leased(), IsEmpty());
  EXPECT_THAT(response.bound(), ElementsAre("a"));
  ASSERT_EQ(response.conflicts_size(), 1) << response.ShortDebugString();
  EXPECT_EQ(response.conflicts(0).box_id(), "e");
  EXPECT_THAT(response.conflicts(0).reason(),
              AllOf(HasSubstr(absl::StrCat(b_port)), HasSubstr("box b")));

  EXPECT_THAT(client_->Get("e"), StatusIs(absl::StatusCode::kNotFound, _));
  ASSERT_OK_AND_ASSIGN(v1::Lease b_after, client_->Get("b"));
  EXPECT_TRUE(MessageDifferencer::Equals(b_after, b_before));
  ASSERT_OK_AND_ASSIGN(v1::Lease a_after, client_->Get("a"));
  EXPECT_EQ(a_after.state(), v1::LEASE_STATE_BOUND);
  EXPECT_EQ(a_after.container_id(), "ca");
  ASSERT_OK_AND_ASSIGN(const Snapshot after, Take());
  EXPECT_EQ(after.capacity.ttys().used(), 2u) << "e's tty was taken although e got no lease";
  EXPECT_EQ(after.capacity.tcp_ports().used(), 2u);

  // A live box whose lease differs from what it holds is a conflict too; its lease stays.
  v1::ReconcileRequest differing;
  *differing.add_live_boxes() = LiveBoxOf(a_after, "ca");
  v1::LiveBox b_moved = LiveBoxOf(b_after, "cb");
  b_moved.set_tty(61);
  *differing.add_live_boxes() = b_moved;
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse differ, client_->Reconcile(differing));
  ASSERT_EQ(differ.conflicts_size(), 1) << differ.ShortDebugString();
  EXPECT_EQ(differ.conflicts(0).box_id(), "b");
  EXPECT_THAT(differ.released(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(v1::Lease b_kept, client_->Get("b"));
  EXPECT_TRUE(MessageDifferencer::Equals(b_kept, b_before));
}

}  // namespace
}  // namespace berth::testing
