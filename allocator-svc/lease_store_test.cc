#include "allocator-svc/lease_store.h"

#include <sqlite3.h>

#include <fstream>

#include "allocator-svc/testing/small_filesystem.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/testing/temp_dir.h"

namespace berth::allocator {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::ReadFileOrEmpty;
using ::berth::testing::SmallFilesystem;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;


LeaseRecord Record(const std::string& box_id, int32_t tty, std::vector<uint32_t> tcp_ports) {
  LeaseRecord record;
  record.lease.set_box_id(box_id);
  record.lease.set_state(v1::LEASE_STATE_RESERVED);
  record.lease.set_tty(tty);
  record.lease.set_gpu_index(-1);
  record.lease.mutable_reserved_at()->set_seconds(1'700'000'000);
  record.lease.mutable_reserved_at()->set_nanos(123'000);
  record.request.set_box_id(box_id);
  record.request.set_tty(tty >= 0);
  for (uint32_t port : tcp_ports) {
    v1::PortBinding* binding = record.lease.add_ports();
    binding->set_protocol(v1::PROTOCOL_TCP);
    binding->set_container_port(port - 10000);
    binding->set_host_port(port);
    v1::PortRequest* wanted = record.request.add_ports();
    wanted->set_protocol(v1::PROTOCOL_TCP);
    wanted->set_container_port(port - 10000);
  }
  return record;
}

absl::Status Apply(LeaseStore& store, std::vector<Mutation> mutations) {
  std::vector<const Mutation*> pointers;
  for (const Mutation& mutation : mutations) pointers.push_back(&mutation);
  return store.Apply(pointers);
}

class LeaseStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.File("state/allocator.db");
};

TEST_F(LeaseStoreTest, NewFileLoadsEmpty) {
  ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path_));
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  EXPECT_THAT(state.leases, IsEmpty());
  EXPECT_THAT(state.release_order, IsEmpty());
}

TEST_F(LeaseStoreTest, MutationsSurviveReopening) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path_));
    LeaseRecord bound = Record("b", 11, {20001, 20002});
    ASSERT_THAT(Apply(*store, {{Mutation::Kind::kInsert, Record("a", 10, {20000}), {}},
                               {Mutation::Kind::kInsert, bound, {}},
                               {Mutation::Kind::kInsert, Record("c", -1, {20003}), {}}}),
                IsOk());
    bound.lease.set_state(v1::LEASE_STATE_BOUND);
    bound.lease.set_container_id("abc");
    bound.lease.mutable_bound_at()->set_seconds(1'700'000'100);
    ASSERT_THAT(Apply(*store, {{Mutation::Kind::kUpdate, bound, {}},
                               {Mutation::Kind::kDelete,
                                Record("a", 10, {20000}),
                                {{PoolId::kTty, 10, 1}, {PoolId::kTcpPorts, 20000, 2}}}}),
                IsOk());
  }
  ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path_));
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_EQ(state.leases.size(), 2u);
  const v1::Lease& b = state.leases[0].lease;
  EXPECT_EQ(b.box_id(), "b");
  EXPECT_EQ(b.state(), v1::LEASE_STATE_BOUND);
  EXPECT_EQ(b.container_id(), "abc");
  EXPECT_EQ(b.tty(), 11);
  EXPECT_EQ(b.gpu_index(), -1);
  EXPECT_EQ(b.bound_at().seconds(), 1'700'000'100);
  EXPECT_EQ(b.reserved_at().nanos(), 123'000);
  ASSERT_EQ(b.ports_size(), 2);
  EXPECT_EQ(b.ports(0).host_port(), 20001u);
  EXPECT_EQ(b.ports(1).host_port(), 20002u);
  EXPECT_EQ(b.ports(1).container_port(), 10002u);
  EXPECT_EQ(state.leases[0].request.SerializeAsString(),
            Record("b", 11, {20001, 20002}).request.SerializeAsString());
  EXPECT_EQ(state.leases[1].lease.tty(), -1);
  EXPECT_FALSE(state.leases[1].lease.has_bound_at());
  ASSERT_EQ(state.release_order.size(), 2u);
}

TEST_F(LeaseStoreTest, AFailingBatchAppliesNothing) {
  ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path_));
  ASSERT_THAT(Apply(*store, {{Mutation::Kind::kInsert, Record("a", 10, {20000}), {}}}), IsOk());
  // The second insert claims a port the first holds: the schema refuses it.
  EXPECT_THAT(Apply(*store, {{Mutation::Kind::kInsert, Record("b", 11, {20001}), {}},
                             {Mutation::Kind::kInsert, Record("c", 12, {20000}), {}}}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("UNIQUE")));
  ASSERT_OK_AND_ASSIGN(StoredState state, store->Load());
  ASSERT_EQ(state.leases.size(), 1u);
  EXPECT_EQ(state.leases[0].lease.box_id(), "a");
}

TEST_F(LeaseStoreTest, ASecondProcessCannotOpenTheFile) {
  ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path_));
  // A second connection stands for a second process: the lock is a file lock.
  EXPECT_THAT(LeaseStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("another process")));
}

TEST_F(LeaseStoreTest, UnknownSchemaVersionIsRefusedAndLeftAlone) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path_));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const std::string before = ReadFileOrEmpty(path_);
  EXPECT_THAT(LeaseStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("schema version 99")));
  EXPECT_EQ(ReadFileOrEmpty(path_), before);
}

TEST_F(LeaseStoreTest, ForeignDatabaseIsRefused) {
  std::filesystem::create_directories(dir_.File("state"));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE other (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const std::string before = ReadFileOrEmpty(path_);
  EXPECT_THAT(LeaseStore::Open(path_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a Berth state file")));
  EXPECT_EQ(ReadFileOrEmpty(path_), before);
}

TEST_F(LeaseStoreTest, GarbageIsDataLossAndKeptAsItWas) {
  std::filesystem::create_directories(dir_.File("state"));
  const std::string garbage(8192, '\x5a');
  {
    std::ofstream out(path_, std::ios::binary);
    out << garbage;
  }
  EXPECT_THAT(LeaseStore::Open(path_), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  EXPECT_EQ(ReadFileOrEmpty(path_), garbage);
}

// A box can fill the file system of the state file: a write then fails with a clear
// RESOURCE_EXHAUSTED, changes nothing, and works again once there is space - on the same open
// store, and what it wrote survives a reopen.
TEST_F(LeaseStoreTest, AFullDiskIsResourceExhaustedChangesNothingAndPassesWhenSpaceReturns) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SmallFilesystem> fs,
                       SmallFilesystem::Mount(dir_.path(), 2 << 20));
  const std::string path = fs->File("allocator.db");
  ASSERT_OK_AND_ASSIGN(auto store, LeaseStore::Open(path));
  ASSERT_THAT(Apply(*store, {{Mutation::Kind::kInsert, Record("a", 10, {20000}), {}}}), IsOk());

  ASSERT_THAT(fs->Fill(), IsOk());
  EXPECT_THAT(
      Apply(*store, {{Mutation::Kind::kInsert, Record("b", 11, {20001}), {}}}),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("the state disk is full: " + path)));
  EXPECT_THAT(store->ProbeWrite(), StatusIs(absl::StatusCode::kResourceExhausted,
                                            HasSubstr("the state disk is full: " + path)));
  ASSERT_OK_AND_ASSIGN(StoredState full, store->Load());
  ASSERT_EQ(full.leases.size(), 1u);
  EXPECT_EQ(full.leases[0].lease.box_id(), "a");

  ASSERT_THAT(fs->Free(), IsOk());
  EXPECT_THAT(store->ProbeWrite(), IsOk());
  EXPECT_THAT(Apply(*store, {{Mutation::Kind::kInsert, Record("b", 11, {20001}), {}}}), IsOk());
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, LeaseStore::Open(path));
  ASSERT_OK_AND_ASSIGN(StoredState reopened, store->Load());
  ASSERT_EQ(reopened.leases.size(), 2u);
  EXPECT_EQ(reopened.leases[0].lease.box_id(), "a");
  EXPECT_EQ(reopened.leases[1].lease.box_id(), "b");
}

}  // namespace
}  // namespace berth::allocator
