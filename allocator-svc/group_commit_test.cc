#include "allocator-svc/group_commit.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/testing/fake_clock.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/testing/temp_dir.h"

namespace berth::allocator {
namespace {

using ::berth::testing::FakeClock;
using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;

Mutation Insert(const std::string& box_id, uint32_t host_port) {
  Mutation mutation{Mutation::Kind::kInsert, {}, {}};
  mutation.record.lease.set_box_id(box_id);
  mutation.record.lease.set_tty(-1);
  mutation.record.lease.set_gpu_index(-1);
  v1::PortBinding* port = mutation.record.lease.add_ports();
  port->set_protocol(v1::PROTOCOL_TCP);
  port->set_container_port(1);
  port->set_host_port(host_port);
  return mutation;
}

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = LeaseStore::Open(dir_.File("a.db"));
    ASSERT_THAT(store, IsOk());
    store_ = std::move(store).value();
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<LeaseStore> store_;
};

TEST_F(GroupCommitTest, ConcurrentSubmissionsShareCommitsAndAllBecomeDurable) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 50;
  std::atomic<int> acknowledged{0};
  {
    GroupCommitter committer(store_.get(), &clock_, [](const absl::Status&) { FAIL(); });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          absl::Notification durable;
          committer.Submit({Insert(absl::StrCat("b", t, "-", i), 20000 + t * kPerThread + i)},
                           [&](absl::Status status) {
                             EXPECT_THAT(status, IsOk());
                             acknowledged.fetch_add(1);
                             durable.Notify();
                           });
          durable.WaitForNotification();
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    GroupCommitter::Stats stats = committer.stats();
    EXPECT_EQ(stats.mutations, static_cast<uint64_t>(kThreads * kPerThread));
    EXPECT_LT(stats.commits, stats.mutations);  // Some commits carried several changes.
  }
  EXPECT_EQ(acknowledged.load(), kThreads * kPerThread);
  ASSERT_OK_AND_ASSIGN(StoredState state, store_->Load());
  EXPECT_EQ(state.leases.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(GroupCommitTest, EmptySubmissionWaitsForEverythingBeforeIt) {
  GroupCommitter committer(store_.get(), &clock_, [](const absl::Status&) {});
  std::atomic<int> order{0};
  int insert_done = -1;
  int read_done = -1;
  absl::Notification both;
  committer.Submit({Insert("a", 20000)}, [&](absl::Status) { insert_done = order++; });
  committer.Submit({}, [&](absl::Status status) {
    EXPECT_THAT(status, IsOk());
    read_done = order++;
    both.Notify();
  });
  both.WaitForNotification();
  EXPECT_LT(insert_done, read_done);
  ASSERT_OK_AND_ASSIGN(StoredState state, store_->Load());
  EXPECT_EQ(state.leases.size(), 1u);
}

TEST_F(GroupCommitTest, EmptySubmissionWithNothingPendingAnswersAtOnce) {
  GroupCommitter committer(store_.get(), &clock_, [](const absl::Status&) {});
  bool called = false;
  committer.Submit({}, [&](absl::Status status) {
    EXPECT_THAT(status, IsOk());
    called = true;
  });
  EXPECT_TRUE(called);
}

TEST_F(GroupCommitTest, AFailedCommitFailsItsCallersAndEveryLaterOne) {
  absl::Notification failed;
  absl::Status reported;
  GroupCommitter committer(store_.get(), &clock_, [&](const absl::Status& status) {
    reported = status;
    failed.Notify();
  });
  absl::Notification first_done;
  committer.Submit({Insert("a", 20000)}, [&](absl::Status) { first_done.Notify(); });
  first_done.WaitForNotification();
  absl::Status second;
  absl::Notification second_done;
  // Port 20000 again: the store's key refuses it.
  committer.Submit({Insert("b", 20000)}, [&](absl::Status status) {
    second = status;
    second_done.Notify();
  });
  second_done.WaitForNotification();
  failed.WaitForNotification();
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("restart")));
  EXPECT_FALSE(reported.ok());
  EXPECT_FALSE(committer.Check().ok());
  absl::Status third;
  committer.Submit({}, [&](absl::Status status) { third = status; });
  EXPECT_THAT(third, StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

TEST_F(GroupCommitTest, StopCommitsWhatIsQueued) {
  std::atomic<int> acknowledged{0};
  {
    GroupCommitter committer(store_.get(), &clock_, [](const absl::Status&) {});
    for (int i = 0; i < 100; ++i) {
      committer.Submit({Insert(absl::StrCat("b", i), 20000 + i)},
                       [&](absl::Status status) {
                         if (status.ok()) acknowledged.fetch_add(1);
                       });
    }
    committer.Stop();
  }
  EXPECT_EQ(acknowledged.load(), 100);
  ASSERT_OK_AND_ASSIGN(StoredState state, store_->Load());
  EXPECT_EQ(state.leases.size(), 100u);
}

}  // namespace
}  // namespace berth::allocator
