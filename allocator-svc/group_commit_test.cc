#include "allocator-svc/group_commit.h"

#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "allocator-svc/testing/small_filesystem.h"
#include "common/testing/fake_clock.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"

namespace berth::allocator {
namespace {

using ::berth::testing::FakeClock;
using ::berth::testing::IsOk;
using ::berth::testing::SmallFilesystem;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
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

TEST_F(GroupCommitTest, TellsTheObserverOfEveryWriteWithItsChanges) {
  absl::Mutex mu;
  std::vector<size_t> writes;
  GroupCommitter committer(
      store_.get(), &clock_, [](const absl::Status&) {}, {},
      [&](size_t changes, absl::Duration took) {
        EXPECT_GE(took, absl::ZeroDuration());
        absl::MutexLock lock(&mu);
        writes.push_back(changes);
      });
  absl::Notification durable;
  committer.Submit({Insert("a", 20000), Insert("b", 20001)}, [&](absl::Status status) {
    EXPECT_THAT(status, IsOk());
    durable.Notify();
  });
  durable.WaitForNotification();
  absl::Notification read;
  committer.Submit({}, [&](absl::Status) { read.Notify(); });  // writes nothing
  read.WaitForNotification();
  committer.Stop();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(writes, ElementsAre(2u));
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

TEST_F(GroupCommitTest, WithoutAResyncAFullDiskIsAStoreFailure) {
  ASSERT_EQ(mkdir(dir_.File("full").c_str(), 0700), 0);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SmallFilesystem> fs,
                       SmallFilesystem::Mount(dir_.File("full"), 2 << 20));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LeaseStore> store, LeaseStore::Open(fs->File("a.db")));
  absl::Notification failed;
  GroupCommitter committer(store.get(), &clock_, [&](const absl::Status&) { failed.Notify(); });
  ASSERT_THAT(fs->Fill(), IsOk());
  absl::Notification done;
  committer.Submit({Insert("a", 20000)}, [&](absl::Status status) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("restart")));
    done.Notify();
  });
  done.WaitForNotification();
  failed.WaitForNotification();
  EXPECT_FALSE(committer.Check().ok());
}

// Every line logged while it is installed, thread-safe.
class CapturingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }
  int CountContaining(absl::string_view text) {
    int count = 0;
    for (const std::string& line : Lines()) count += absl::StrContains(line, text) ? 1 : 0;
    return count;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

// A committer on a small real file system, and an owner of in-memory state as the allocator
// service is: its ordering lock and a resync that puts its memory (here: the box ids it
// believes in) back to the durable state.
class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_OK_AND_ASSIGN(fs_, SmallFilesystem::Mount(dir_.path(), 2 << 20));
    path_ = fs_->File("a.db");
    ASSERT_OK_AND_ASSIGN(store_, LeaseStore::Open(path_));
    previous_logger_ = spdlog::default_logger();
    sink_ = std::make_shared<CapturingSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));

    FullDiskOptions full_disk;
    full_disk.resync = [this](const StoredState& durable) {
      absl::MutexLock lock(&ordering_);
      memory_.clear();
      for (const LeaseRecord& record : durable.leases) memory_.push_back(record.lease.box_id());
      committer_->Resynced();
      return absl::OkStatus();
    };
    full_disk.retry_interval = absl::Milliseconds(20);
    full_disk.log_interval = absl::Seconds(30);
    committer_ = std::make_unique<GroupCommitter>(
        store_.get(), &clock_,
        [this](const absl::Status& status) {
          ADD_FAILURE() << "a full disk is no store failure: " << status;
        },
        std::move(full_disk));
  }

  void TearDown() override {
    committer_.reset();
    spdlog::set_default_logger(previous_logger_);
  }

  // Makes `box_id` in memory and submits it under the ordering lock, as the service does;
  // answers what the caller would be told.
  absl::Status Reserve(const std::string& box_id, uint32_t host_port) {
    absl::Status answer;
    absl::Notification done;
    {
      absl::MutexLock lock(&ordering_);
      memory_.push_back(box_id);
      committer_->Submit({Insert(box_id, host_port)}, [&](absl::Status status) {
        answer = status;
        done.Notify();
      });
    }
    done.WaitForNotification();
    return answer;
  }

  // A read: answers once what it saw is durable.
  absl::Status Read() {
    absl::Status answer;
    absl::Notification done;
    {
      absl::MutexLock lock(&ordering_);
      committer_->Submit({}, [&](absl::Status status) {
        answer = status;
        done.Notify();
      });
    }
    done.WaitForNotification();
    return answer;
  }

  std::vector<std::string> Memory() {
    absl::MutexLock lock(&ordering_);
    return memory_;
  }

  std::vector<std::string> Durable() {
    absl::StatusOr<StoredState> state = store_->Load();
    EXPECT_THAT(state, IsOk());
    std::vector<std::string> ids;
    if (state.ok()) {
      for (const LeaseRecord& record : state->leases) ids.push_back(record.lease.box_id());
    }
    return ids;
  }

  // Waits (generously: a loaded machine) until `condition` holds.
  static bool Eventually(const std::function<bool()>& condition) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!condition()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  bool ResyncsReach(uint64_t count) {
    return Eventually([&] { return committer_->stats().resyncs >= count; });
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<SmallFilesystem> fs_;
  std::string path_;
  std::unique_ptr<LeaseStore> store_;
  std::shared_ptr<spdlog::logger> previous_logger_;
  std::shared_ptr<CapturingSink> sink_;
  absl::Mutex ordering_;
  std::vector<std::string> memory_ ABSL_GUARDED_BY(ordering_);
  std::unique_ptr<GroupCommitter> committer_;
};

TEST_F(FullDiskTest, RefusesChangesPutsMemoryBackAnswersReadsAndRecoversWhenSpaceReturns) {
  ASSERT_THAT(Reserve("a", 20000), IsOk());
  ASSERT_THAT(fs_->Fill(), IsOk());

  // Refused, never acknowledged, and memory goes back to what is durable.
  EXPECT_THAT(Reserve("b", 20001),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("the state disk is full: " + path_),
                             HasSubstr("changes are refused until space returns"))));
  ASSERT_TRUE(ResyncsReach(1));
  EXPECT_THAT(Memory(), ElementsAre("a"));
  EXPECT_THAT(Durable(), ElementsAre("a"));

  // Alive for the watchdog, refusing changes before they are made, answering reads.
  EXPECT_THAT(committer_->Check(), IsOk());
  EXPECT_FALSE(committer_->AcceptsWrites());
  EXPECT_THAT(committer_->WritesRefused(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr(path_)));
  EXPECT_THAT(Read(), IsOk());

  // A change made anyway is refused, and memory is put back again.
  EXPECT_THAT(Reserve("c", 20002), StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  ASSERT_TRUE(ResyncsReach(2));
  EXPECT_THAT(Memory(), ElementsAre("a"));

  ASSERT_THAT(fs_->Free(), IsOk());
  ASSERT_TRUE(Eventually([&] { return committer_->AcceptsWrites(); }))
      << "changes still refused 30 s after space returned";
  EXPECT_THAT(Reserve("b", 20001), IsOk());
  EXPECT_THAT(Memory(), ElementsAre("a", "b"));
  EXPECT_THAT(Durable(), ElementsAre("a", "b"));
  EXPECT_THAT(committer_->Check(), IsOk());
}

// Changes queued behind a batch the full disk refused were made on top of it: all are refused,
// none is acknowledged, and none reaches the store.
TEST_F(FullDiskTest, EverySubmissionRacingAFullDiskIsRefusedAndNothingIsLost) {
  ASSERT_THAT(Reserve("a", 20000), IsOk());
  ASSERT_THAT(fs_->Fill(), IsOk());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> acknowledged{0};
  std::atomic<int> refused_full{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status status = Reserve(absl::StrCat("b", t, "-", i), 20001 + t * kPerThread + i);
        if (status.ok()) acknowledged.fetch_add(1);
        if (status.code() == absl::StatusCode::kResourceExhausted) refused_full.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(acknowledged.load(), 0);
  EXPECT_EQ(refused_full.load(), kThreads * kPerThread);
  // Once the last resync is done, memory is what is durable.
  ASSERT_TRUE(Eventually([&] { return Read().ok(); }));
  EXPECT_THAT(Memory(), ElementsAre("a"));
  EXPECT_THAT(Durable(), ElementsAre("a"));
}

// A storm of refused changes logs one line per log interval, not one per change.
TEST_F(FullDiskTest, FullDiskLinesAreRateLimited) {
  ASSERT_THAT(Reserve("a", 20000), IsOk());
  ASSERT_THAT(fs_->Fill(), IsOk());
  for (int i = 0; i < 50; ++i) {
    EXPECT_THAT(Reserve(absl::StrCat("b", i), 20001 + i),
                StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  }
  EXPECT_EQ(sink_->CountContaining("the state disk is full"), 1)
      << ::testing::PrintToString(sink_->Lines());

  // Once the interval has passed, one line says how many were refused meanwhile.
  clock_.Advance(absl::Seconds(31));
  EXPECT_TRUE(Eventually([&] { return sink_->CountContaining("still refusing changes") == 1; }))
      << ::testing::PrintToString(sink_->Lines());
  EXPECT_EQ(sink_->CountContaining("the state disk is full"), 2);

  ASSERT_THAT(fs_->Free(), IsOk());
  EXPECT_TRUE(Eventually([&] { return sink_->CountContaining("changes are accepted again") == 1; }))
      << ::testing::PrintToString(sink_->Lines());
}

}  // namespace
}  // namespace berth::allocator
