#include "allocator-svc/allocator.h"

#include <set>
#include <utility>

#include "common/proto_time.h"
#include "common/testing/fake_clock.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::allocator {
namespace {

using ::berth::testing::FakeClock;
using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Ports that "another process" holds, as the allocator's probe sees them.
class FakeProbe final : public HostPortProbe {
 public:
  bool InUse(v1::Protocol protocol, uint16_t port) override {
    return held_.count({protocol, port}) > 0;
  }
  void Hold(v1::Protocol protocol, uint16_t port) { held_.insert({protocol, port}); }

 private:
  std::set<std::pair<v1::Protocol, uint16_t>> held_;
};

v1::ReserveRequest Request(const std::string& box_id, int tcp_ports, int udp_ports,
                           bool tty = true, bool gpu = false) {
  v1::ReserveRequest request;
  request.set_box_id(box_id);
  request.set_tty(tty);
  request.set_gpu(gpu);
  for (int i = 0; i < tcp_ports; ++i) {
    v1::PortRequest* port = request.add_ports();
    port->set_container_port(32261 + i);
    port->set_protocol(v1::PROTOCOL_TCP);
  }
  for (int i = 0; i < udp_ports; ++i) {
    v1::PortRequest* port = request.add_ports();
    port->set_container_port(32263 + i);
    port->set_protocol(v1::PROTOCOL_UDP);
  }
  return request;
}

class AllocatorTest : public ::testing::Test {
 protected:
  AllocatorTest() {
    config_.ttys = {10, 13};
    config_.ports = {20000, 20006};
    config_.gpus = {0, 1};
    config_.boxes_per_gpu = 2;
    config_.max_boxes = 10;
    config_.reserve_grace = absl::Seconds(120);
    Recreate({});
  }

  void Recreate(const StoredState& stored) {
    auto created = Allocator::Create(config_, stored, &clock_, &probe_);
    ASSERT_THAT(created, IsOk());
    allocator_ = std::move(created).value();
  }

  v1::Lease Reserve(const v1::ReserveRequest& request) {
    std::vector<Mutation> changes;
    absl::StatusOr<v1::ReserveResponse> response = allocator_->Reserve(request, &changes);
    EXPECT_THAT(response, IsOk());
    if (!response.ok()) return {};
    EXPECT_TRUE(response->created());
    all_changes_.insert(all_changes_.end(), changes.begin(), changes.end());
    return response->lease();
  }

  absl::Status Release(const std::string& box_id) {
    v1::ReleaseRequest request;
    request.set_box_id(box_id);
    std::vector<Mutation> changes;
    absl::Status status = allocator_->Release(request, &changes).status();
    all_changes_.insert(all_changes_.end(), changes.begin(), changes.end());
    return status;
  }

  absl::Status Bind(const std::string& box_id, const std::string& container_id) {
    v1::BindRequest request;
    request.set_box_id(box_id);
    request.set_container_id(container_id);
    std::vector<Mutation> changes;
    absl::Status status = allocator_->Bind(request, &changes).status();
    all_changes_.insert(all_changes_.end(), changes.begin(), changes.end());
    return status;
  }

  // Everything observable, to prove a failed call changed nothing.
  std::string Snapshot() const {
    v1::ListRequest list;
    return allocator_->List(list)->SerializeAsString() +
           allocator_->Capacity().SerializeAsString();
  }

  // Replays every change so far into a StoredState, as the store would hold it.
  StoredState Replay() const {
    std::map<std::string, LeaseRecord> leases;
    StoredState state;
    for (const Mutation& mutation : all_changes_) {
      if (mutation.kind == Mutation::Kind::kDelete) {
        leases.erase(mutation.record.lease.box_id());
        for (const FreedValue& freed : mutation.freed) state.release_order.push_back(freed);
      } else {
        leases[mutation.record.lease.box_id()] = mutation.record;
      }
    }
    for (auto& [id, record] : leases) state.leases.push_back(record);
    return state;
  }

  AllocatorConfig config_;
  FakeClock clock_;
  FakeProbe probe_;
  std::unique_ptr<Allocator> allocator_;
  std::vector<Mutation> all_changes_;
};

TEST_F(AllocatorTest, ReserveLeasesDistinctResourcesInRange) {
  v1::Lease lease = Reserve(Request("box-1", 3, 1, /*tty=*/true, /*gpu=*/true));
  EXPECT_EQ(lease.box_id(), "box-1");
  EXPECT_EQ(lease.state(), v1::LEASE_STATE_RESERVED);
  EXPECT_GE(lease.tty(), 10);
  EXPECT_LT(lease.tty(), 13);
  EXPECT_EQ(lease.gpu_index(), 0);
  ASSERT_EQ(lease.ports_size(), 4);
  std::set<uint32_t> tcp;
  for (const v1::PortBinding& port : lease.ports()) {
    EXPECT_GE(port.host_port(), 20000u);
    EXPECT_LT(port.host_port(), 20006u);
    if (port.protocol() == v1::PROTOCOL_TCP) tcp.insert(port.host_port());
  }
  EXPECT_EQ(tcp.size(), 3u);
  EXPECT_EQ(lease.ports(0).container_port(), 32261u);  // Request order kept.
  EXPECT_EQ(lease.ports(3).protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(lease.reserved_at().seconds(), absl::ToUnixSeconds(clock_.Now()));
  ASSERT_EQ(all_changes_.size(), 1u);
  EXPECT_EQ(all_changes_[0].kind, Mutation::Kind::kInsert);
}

TEST_F(AllocatorTest, TcpAndUdpPoolsAreSeparate) {
  config_.ports = {20000, 20001};
  Recreate({});
  v1::Lease lease = Reserve(Request("box-1", 1, 1, false));
  ASSERT_EQ(lease.ports_size(), 2);
  EXPECT_EQ(lease.ports(0).host_port(), 20000u);
  EXPECT_EQ(lease.ports(1).host_port(), 20000u);
}

TEST_F(AllocatorTest, SameRequestAgainReturnsTheSameLeaseWithoutChanges) {
  v1::Lease first = Reserve(Request("box-1", 2, 1));
  std::vector<Mutation> changes;
  absl::StatusOr<v1::ReserveResponse> again =
      allocator_->Reserve(Request("box-1", 2, 1), &changes);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->created());
  EXPECT_EQ(again->lease().SerializeAsString(), first.SerializeAsString());
  EXPECT_THAT(changes, IsEmpty());
}

TEST_F(AllocatorTest, DifferentRequestForAHeldBoxIsAlreadyExists) {
  Reserve(Request("box-1", 2, 1));
  const std::string before = Snapshot();
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(Request("box-1", 1, 0), &changes),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("box-1")));
  EXPECT_THAT(changes, IsEmpty());
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(AllocatorTest, ExhaustedPortsRollBackEverythingTaken) {
  Reserve(Request("box-1", 4, 0, /*tty=*/false));
  const std::string before = Snapshot();
  std::vector<Mutation> changes;
  // Takes a TTY, a GPU slot and two TCP ports before the third is missing.
  EXPECT_THAT(allocator_->Reserve(Request("box-2", 3, 0, true, true), &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tcp host port")));
  EXPECT_THAT(changes, IsEmpty());
  EXPECT_EQ(Snapshot(), before);
  // Everything is still there for a request that fits.
  v1::Lease lease = Reserve(Request("box-3", 2, 0, true, true));
  EXPECT_EQ(lease.ports_size(), 2);
}

TEST_F(AllocatorTest, ExhaustedTtysAndBoxesAreNamed) {
  Reserve(Request("a", 0, 0));
  Reserve(Request("b", 0, 0));
  Reserve(Request("c", 0, 0));
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(Request("d", 0, 0), &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("tty")));
  config_.max_boxes = 1;
  Recreate({});
  Reserve(Request("a", 0, 0, false));
  EXPECT_THAT(allocator_->Reserve(Request("b", 0, 0, false), &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("box capacity")));
  EXPECT_THAT(changes, IsEmpty());
}

TEST_F(AllocatorTest, GpuLeastLoadedWithCapAndNoGpuHost) {
  EXPECT_EQ(Reserve(Request("a", 0, 0, false, true)).gpu_index(), 0);
  EXPECT_EQ(Reserve(Request("b", 0, 0, false, true)).gpu_index(), 1);
  EXPECT_EQ(Reserve(Request("c", 0, 0, false, true)).gpu_index(), 0);
  EXPECT_EQ(Reserve(Request("d", 0, 0, false, true)).gpu_index(), 1);
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(Request("e", 0, 0, false, true), &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("gpu")));
  ASSERT_THAT(Release("b"), IsOk());
  EXPECT_EQ(Reserve(Request("f", 0, 0, false, true)).gpu_index(), 1);

  config_.gpus = {};
  Recreate({});
  EXPECT_THAT(allocator_->Reserve(Request("a", 0, 0, false, true), &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("no gpu")));
}

TEST_F(AllocatorTest, FixedHostPortsAreHonouredBeforeAnyPorts) {
  v1::ReserveRequest request = Request("box-1", 2, 0, false);
  request.mutable_ports(1)->set_host_port(20000);  // The port an "any" would get first.
  v1::Lease lease = Reserve(request);
  EXPECT_EQ(lease.ports(1).host_port(), 20000u);
  EXPECT_NE(lease.ports(0).host_port(), 20000u);

  v1::ReserveRequest clash = Request("box-2", 1, 0, false);
  clash.mutable_ports(0)->set_host_port(20000);
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(clash, &changes),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("tcp host port 20000 is leased to box box-1")));
}

TEST_F(AllocatorTest, ReservedPortsAreRefusedAndSkipped) {
  config_.reserved_ports = {20000, 20001};
  Recreate({});
  v1::ReserveRequest fixed = Request("box-1", 1, 0, false);
  fixed.mutable_ports(0)->set_host_port(20001);
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(fixed, &changes),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reserved")));
  v1::Lease lease = Reserve(Request("box-2", 4, 0, false));
  for (const v1::PortBinding& port : lease.ports()) EXPECT_GE(port.host_port(), 20002u);
  EXPECT_THAT(allocator_->Reserve(Request("box-3", 1, 0, false), &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
}

TEST_F(AllocatorTest, PortsHeldByOtherProcessesAreNeverHandedOut) {
  probe_.Hold(v1::PROTOCOL_TCP, 20000);
  probe_.Hold(v1::PROTOCOL_TCP, 20003);
  v1::Lease lease = Reserve(Request("box-1", 4, 0, false));
  std::set<uint32_t> ports;
  for (const v1::PortBinding& port : lease.ports()) ports.insert(port.host_port());
  EXPECT_EQ(ports, (std::set<uint32_t>{20001, 20002, 20004, 20005}));

  ASSERT_THAT(Release("box-1"), IsOk());
  v1::ReserveRequest fixed = Request("box-2", 1, 0, false);
  fixed.mutable_ports(0)->set_host_port(20003);
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(fixed, &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("another process")));
  // A UDP port of the same number is another resource.
  v1::Lease udp = Reserve(Request("box-3", 0, 6, false));
  EXPECT_EQ(udp.ports_size(), 6);
}

TEST_F(AllocatorTest, JustReleasedValuesAreReusedLast) {
  v1::Lease first = Reserve(Request("box-1", 1, 0, true));
  ASSERT_THAT(Release("box-1"), IsOk());
  v1::Lease second = Reserve(Request("box-2", 1, 0, true));
  EXPECT_NE(second.tty(), first.tty());
  EXPECT_NE(second.ports(0).host_port(), first.ports(0).host_port());
}

TEST_F(AllocatorTest, ReuseOrderSurvivesARestore) {
  // Every TTY is taken, then given back as c, a, b: after a restore they are reused in that
  // order.
  v1::Lease a = Reserve(Request("a", 0, 0));
  v1::Lease b = Reserve(Request("b", 0, 0));
  v1::Lease c = Reserve(Request("c", 0, 0));
  ASSERT_THAT(Release("c"), IsOk());
  ASSERT_THAT(Release("a"), IsOk());
  ASSERT_THAT(Release("b"), IsOk());
  Recreate(Replay());
  EXPECT_EQ(Reserve(Request("x", 0, 0)).tty(), c.tty());
  EXPECT_EQ(Reserve(Request("y", 0, 0)).tty(), a.tty());
  EXPECT_EQ(Reserve(Request("z", 0, 0)).tty(), b.tty());
}

TEST_F(AllocatorTest, RestoreKeepsLeasesAndTheirResources) {
  v1::Lease a = Reserve(Request("a", 2, 1, true, true));
  ASSERT_THAT(Bind("a", "c0ffee"), IsOk());
  Reserve(Request("b", 1, 0));
  ASSERT_THAT(Release("b"), IsOk());
  const std::string before = Snapshot();
  Recreate(Replay());
  EXPECT_EQ(Snapshot(), before);
  std::vector<Mutation> changes;
  v1::ReserveRequest clash = Request("c", 1, 0, false);
  clash.mutable_ports(0)->set_host_port(a.ports(0).host_port());
  EXPECT_THAT(allocator_->Reserve(clash, &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("box a")));
}

TEST_F(AllocatorTest, ContradictoryStoredLeasesAreDataLoss) {
  v1::Lease a = Reserve(Request("a", 1, 0));
  StoredState stored = Replay();
  LeaseRecord copy = stored.leases[0];
  copy.lease.set_box_id("b");
  copy.lease.set_tty(-1);
  stored.leases.push_back(copy);  // Same TCP port as "a".
  EXPECT_THAT(Allocator::Create(config_, stored, &clock_, &probe_),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("tcp host port")));
}

TEST_F(AllocatorTest, BindMovesReservedToBoundOnce) {
  Reserve(Request("box-1", 1, 0));
  ASSERT_THAT(Bind("box-1", "abc123"), IsOk());
  v1::GetRequest get;
  get.set_box_id("box-1");
  EXPECT_EQ(allocator_->Get(get)->lease().state(), v1::LEASE_STATE_BOUND);
  EXPECT_EQ(allocator_->Get(get)->lease().container_id(), "abc123");
  const size_t changes_before = all_changes_.size();
  EXPECT_THAT(Bind("box-1", "abc123"), IsOk());  // Idempotent, nothing to persist.
  EXPECT_EQ(all_changes_.size(), changes_before);
  EXPECT_THAT(Bind("box-1", "def456"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("abc123")));
  EXPECT_THAT(Bind("nobody", "abc123"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
}

TEST_F(AllocatorTest, ReleaseIsIdempotentAndFreesEverything) {
  Reserve(Request("box-1", 3, 1, true, true));
  v1::ReleaseRequest request;
  request.set_box_id("box-1");
  std::vector<Mutation> changes;
  absl::StatusOr<v1::ReleaseResponse> first = allocator_->Release(request, &changes);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->released());
  EXPECT_EQ(first->lease().box_id(), "box-1");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Mutation::Kind::kDelete);
  EXPECT_EQ(changes[0].freed.size(), 5u);  // 1 tty + 4 ports; GPUs have no order.
  changes.clear();
  absl::StatusOr<v1::ReleaseResponse> second = allocator_->Release(request, &changes);
  ASSERT_THAT(second, IsOk());
  EXPECT_FALSE(second->released());
  EXPECT_THAT(changes, IsEmpty());
  v1::CapacityResponse capacity = allocator_->Capacity();
  EXPECT_EQ(capacity.boxes().used(), 0u);
  EXPECT_EQ(capacity.ttys().used(), 0u);
  EXPECT_EQ(capacity.tcp_ports().used(), 0u);
  EXPECT_EQ(capacity.udp_ports().used(), 0u);
  EXPECT_EQ(capacity.gpu_slots().used(), 0u);
}

TEST_F(AllocatorTest, CapacityCountsEveryPool) {
  config_.reserved_ports = {20005};
  Recreate({});
  Reserve(Request("box-1", 2, 1, true, true));
  v1::CapacityResponse capacity = allocator_->Capacity();
  EXPECT_EQ(capacity.boxes().total(), 10u);
  EXPECT_EQ(capacity.boxes().used(), 1u);
  EXPECT_EQ(capacity.ttys().total(), 3u);
  EXPECT_EQ(capacity.ttys().free(), 2u);
  EXPECT_EQ(capacity.tcp_ports().total(), 5u);
  EXPECT_EQ(capacity.tcp_ports().used(), 2u);
  EXPECT_EQ(capacity.udp_ports().used(), 1u);
  EXPECT_EQ(capacity.gpu_slots().total(), 4u);
  ASSERT_EQ(capacity.gpus_size(), 2);
  EXPECT_EQ(capacity.gpus(0).slots().used(), 1u);
  EXPECT_EQ(capacity.gpus(1).slots().used(), 0u);
}

TEST_F(AllocatorTest, ListFiltersByStateInBoxIdOrder) {
  Reserve(Request("b", 0, 0));
  Reserve(Request("a", 0, 0));
  Reserve(Request("c", 0, 0));
  ASSERT_THAT(Bind("c", "abc"), IsOk());
  v1::ListRequest request;
  std::vector<std::string> ids;
  ASSERT_OK_AND_ASSIGN(v1::ListResponse all, allocator_->List(request));
  for (const v1::Lease& lease : all.leases()) ids.push_back(lease.box_id());
  EXPECT_THAT(ids, ElementsAre("a", "b", "c"));
  request.set_state(v1::LEASE_STATE_BOUND);
  ASSERT_EQ(allocator_->List(request)->leases_size(), 1);
  request.set_state(static_cast<v1::LeaseState>(9));
  EXPECT_THAT(allocator_->List(request), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("9")));
}

TEST_F(AllocatorTest, ExpiredReservationsAreReclaimedButBoundLeasesStay) {
  Reserve(Request("old", 1, 0));
  Reserve(Request("bound", 1, 0));
  ASSERT_THAT(Bind("bound", "abc"), IsOk());
  clock_.Advance(absl::Seconds(100));
  Reserve(Request("young", 1, 0));
  clock_.Advance(absl::Seconds(20));
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->ReclaimExpired(&changes), ElementsAre("old"));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, Mutation::Kind::kDelete);
  EXPECT_EQ(allocator_->lease_count(), 2u);
}

TEST_F(AllocatorTest, BadRequestsChangeNothing) {
  Reserve(Request("box-1", 1, 0));
  const std::string before = Snapshot();
  std::vector<v1::ReserveRequest> bad;
  bad.push_back(Request("", 1, 0));
  bad.push_back(Request(std::string(65, 'a'), 1, 0));
  bad.push_back(Request(".hidden", 1, 0));
  bad.push_back(Request("-flag", 1, 0));
  bad.push_back(Request("a/b", 1, 0));
  v1::ReserveRequest no_protocol = Request("x", 1, 0);
  no_protocol.mutable_ports(0)->set_protocol(v1::PROTOCOL_UNSPECIFIED);
  bad.push_back(no_protocol);
  v1::ReserveRequest unknown_protocol = Request("x", 1, 0);
  unknown_protocol.mutable_ports(0)->set_protocol(static_cast<v1::Protocol>(7));
  bad.push_back(unknown_protocol);
  v1::ReserveRequest zero_port = Request("x", 1, 0);
  zero_port.mutable_ports(0)->set_container_port(0);
  bad.push_back(zero_port);
  v1::ReserveRequest huge_port = Request("x", 1, 0);
  huge_port.mutable_ports(0)->set_container_port(70000);
  bad.push_back(huge_port);
  v1::ReserveRequest outside = Request("x", 1, 0);
  outside.mutable_ports(0)->set_host_port(80);
  bad.push_back(outside);
  v1::ReserveRequest twice = Request("x", 2, 0);
  twice.mutable_ports(1)->set_container_port(twice.ports(0).container_port());
  bad.push_back(twice);
  v1::ReserveRequest fixed_twice = Request("x", 2, 0);
  fixed_twice.mutable_ports(0)->set_host_port(20003);
  fixed_twice.mutable_ports(1)->set_host_port(20003);
  bad.push_back(fixed_twice);
  v1::ReserveRequest too_many = Request("x", 0, 0);
  for (int i = 0; i < 65; ++i) {
    v1::PortRequest* port = too_many.add_ports();
    port->set_container_port(1000 + i);
    port->set_protocol(v1::PROTOCOL_TCP);
  }
  bad.push_back(too_many);
  for (const v1::ReserveRequest& request : bad) {
    std::vector<Mutation> changes;
    EXPECT_THAT(allocator_->Reserve(request, &changes),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << request.ShortDebugString();
    EXPECT_THAT(changes, IsEmpty());
  }
  EXPECT_THAT(Bind("box-1", ""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("container_id")));
  EXPECT_THAT(Bind("box-1", "abc/def"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("container_id")));
  EXPECT_THAT(Release("bad id"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("box_id")));
  EXPECT_EQ(Snapshot(), before);
}

class ReconcileTest : public AllocatorTest {
 protected:
  absl::StatusOr<v1::ReconcileResponse> Reconcile(const std::vector<v1::LiveBox>& live) {
    v1::ReconcileRequest request;
    for (const v1::LiveBox& box : live) *request.add_live_boxes() = box;
    std::vector<Mutation> changes;
    auto response = allocator_->Reconcile(request, &changes);
    all_changes_.insert(all_changes_.end(), changes.begin(), changes.end());
    return response;
  }

  static v1::LiveBox Live(const v1::Lease& lease) {
    v1::LiveBox box;
    box.set_box_id(lease.box_id());
    box.set_container_id(lease.container_id().empty() ? "c0ffee" : lease.container_id());
    *box.mutable_ports() = lease.ports();
    box.set_tty(lease.tty());
    box.set_gpu_index(lease.gpu_index());
    return box;
  }
};

TEST_F(ReconcileTest, ReleasesGoneBoxesButKeepsYoungReservations) {
  Reserve(Request("old-reserved", 1, 0, false));
  Reserve(Request("gone", 1, 0, false));
  ASSERT_THAT(Bind("gone", "abc"), IsOk());
  v1::Lease live = Reserve(Request("live", 1, 0, false));
  ASSERT_THAT(Bind("live", "def"), IsOk());
  clock_.Advance(absl::Seconds(121));
  Reserve(Request("young-reserved", 1, 0, false));
  live.set_container_id("def");

  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, Reconcile({Live(live)}));
  EXPECT_THAT(response.released(), UnorderedElementsAre("old-reserved", "gone"));
  EXPECT_THAT(response.leased(), IsEmpty());
  EXPECT_THAT(response.bound(), IsEmpty());
  EXPECT_THAT(response.conflicts(), IsEmpty());
  EXPECT_EQ(allocator_->lease_count(), 2u);
}

// A reconcile whose list predates a lease (it arrived late) keeps that lease.
TEST_F(ReconcileTest, KeepsLeasesNewerThanTheCallersList) {
  Reserve(Request("gone", 1, 0, false));
  ASSERT_THAT(Bind("gone", "abc"), IsOk());
  Reserve(Request("bound-late", 1, 0, false));
  clock_.Advance(absl::Seconds(121));
  v1::ReconcileRequest request;
  *request.mutable_listed_at() = common::ToTimestamp(clock_.Now());
  clock_.Advance(absl::Seconds(1));
  ASSERT_THAT(Bind("bound-late", "def"), IsOk());
  Reserve(Request("reserved-late", 1, 0, false));
  clock_.Advance(absl::Seconds(200));  // past the grace: only listed_at keeps them

  std::vector<Mutation> changes;
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, allocator_->Reconcile(request, &changes));
  EXPECT_THAT(response.released(), ElementsAre("gone"));
  EXPECT_EQ(allocator_->lease_count(), 2u);
}

TEST_F(ReconcileTest, LeasesLiveBoxesWithoutALeaseAndBindsReservedOnes) {
  v1::Lease reserved = Reserve(Request("reserved", 1, 0));
  v1::LiveBox orphan;
  orphan.set_box_id("orphan");
  orphan.set_container_id("feed");
  orphan.set_tty(12);
  orphan.set_gpu_index(1);
  v1::PortBinding* port = orphan.add_ports();
  port->set_container_port(32262);
  port->set_protocol(v1::PROTOCOL_UDP);
  port->set_host_port(20004);

  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, Reconcile({Live(reserved), orphan}));
  EXPECT_THAT(response.leased(), ElementsAre("orphan"));
  EXPECT_THAT(response.bound(), ElementsAre("reserved"));
  EXPECT_THAT(response.conflicts(), IsEmpty());

  v1::GetRequest get;
  get.set_box_id("orphan");
  ASSERT_OK_AND_ASSIGN(v1::GetResponse got, allocator_->Get(get));
  EXPECT_EQ(got.lease().state(), v1::LEASE_STATE_BOUND);
  EXPECT_EQ(got.lease().tty(), 12);
  EXPECT_EQ(got.lease().gpu_index(), 1);
  // Its resources are taken now: a fixed request for them fails.
  v1::ReserveRequest clash = Request("clash", 0, 1, false);
  clash.mutable_ports(0)->set_host_port(20004);
  std::vector<Mutation> changes;
  EXPECT_THAT(allocator_->Reserve(clash, &changes),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("orphan")));
  // And it survives a restore as it is.
  const std::string before = Snapshot();
  Recreate(Replay());
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ReconcileTest, ConflictsAreReportedAndChangeNothingForThatBox) {
  v1::Lease holder = Reserve(Request("holder", 1, 0, false));
  ASSERT_THAT(Bind("holder", "abc"), IsOk());
  holder.set_container_id("abc");
  v1::LiveBox intruder;
  intruder.set_box_id("intruder");
  intruder.set_container_id("def");
  intruder.set_tty(-1);
  intruder.set_gpu_index(-1);
  *intruder.mutable_ports() = holder.ports();

  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response, Reconcile({Live(holder), intruder}));
  ASSERT_EQ(response.conflicts_size(), 1);
  EXPECT_EQ(response.conflicts(0).box_id(), "intruder");
  EXPECT_THAT(response.conflicts(0).reason(), HasSubstr("leased to box holder"));
  EXPECT_EQ(allocator_->lease_count(), 1u);

  // A lease that differs from what its box holds is reported too.
  v1::LiveBox different = Live(holder);
  different.set_tty(11);
  ASSERT_OK_AND_ASSIGN(response, Reconcile({different}));
  ASSERT_EQ(response.conflicts_size(), 1);
  EXPECT_THAT(response.conflicts(0).reason(), HasSubstr("tty 11"));
}

// A port outside the pools (here above the range) is recorded in the lease of the live box that
// holds it; a second box holding it too is a conflict, never a second lease of it.
TEST_F(ReconcileTest, APortOutsideThePoolsGoesToOneLeaseOnly) {
  auto holder_of = [](const std::string& box_id) {
    v1::LiveBox box;
    box.set_box_id(box_id);
    box.set_container_id("c0ffee");
    box.set_tty(-1);
    box.set_gpu_index(-1);
    v1::PortBinding* port = box.add_ports();
    port->set_container_port(80);
    port->set_protocol(v1::PROTOCOL_TCP);
    port->set_host_port(40000);
    return box;
  };
  ASSERT_OK_AND_ASSIGN(v1::ReconcileResponse response,
                       Reconcile({holder_of("first"), holder_of("second")}));
  EXPECT_THAT(response.leased(), ElementsAre("first"));
  ASSERT_EQ(response.conflicts_size(), 1);
  EXPECT_EQ(response.conflicts(0).box_id(), "second");
  EXPECT_THAT(response.conflicts(0).reason(), HasSubstr("leased to box first"));
  EXPECT_EQ(allocator_->lease_count(), 1u);
  // Once the first lets it go, the second may have it; the changes replay to the same state.
  ASSERT_OK_AND_ASSIGN(response, Reconcile({holder_of("second")}));
  EXPECT_THAT(response.released(), ElementsAre("first"));
  EXPECT_THAT(response.leased(), ElementsAre("second"));
  const std::string before = Snapshot();
  Recreate(Replay());
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ReconcileTest, MalformedRequestsAreRejectedWhole) {
  v1::Lease lease = Reserve(Request("a", 1, 0));
  const std::string before = Snapshot();
  v1::LiveBox twice = Live(lease);
  EXPECT_THAT(Reconcile({twice, twice}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  v1::LiveBox bad_port = Live(lease);
  bad_port.mutable_ports(0)->set_host_port(0);
  EXPECT_THAT(Reconcile({bad_port}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("host_port")));
  v1::LiveBox port_twice = Live(lease);
  *port_twice.add_ports() = port_twice.ports(0);
  EXPECT_THAT(Reconcile({port_twice}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));
  EXPECT_EQ(Snapshot(), before);
}

}  // namespace
}  // namespace berth::allocator
