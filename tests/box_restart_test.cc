// SIGKILL of either daemon: docker-svc restarts onto the boxes Docker still runs and cleans up
// those that ended while it was down; an allocator killed in the middle of creates leaves
// leases and containers that agree again once it is back.
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
namespace alloc = ::berth::allocator::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

class BoxRestartTest : public BoxTest {
 protected:
  // Creates every request at once; fails the test unless all succeed.
  std::map<std::string, v1::Box> CreateAll(const std::vector<v1::CreateRequest>& requests) {
    std::vector<absl::StatusOr<v1::CreateResponse>> created(requests.size());
    std::vector<std::thread> callers;
    for (size_t i = 0; i < requests.size(); ++i) {
      callers.emplace_back([&, i] {
        BoxesClient client(host().boxes_address(), absl::Seconds(120));
        created[i] = client.Create(requests[i]);
      });
    }
    for (std::thread& caller : callers) caller.join();
    std::map<std::string, v1::Box> boxes;
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_OK(created[i].status()) << requests[i].box_id();
      if (created[i].ok()) boxes[created[i]->box().box_id()] = created[i]->box();
    }
    return boxes;
  }

  bool ContainerRunning(const std::string& box_id) {
    absl::StatusOr<docker::ContainerInfo> info =
        Docker().InspectContainer(absl::StrCat("berth-", box_id));
    return info.ok() && info->running;
  }
};

// Acceptance 6: docker-svc SIGKILLed with 10 boxes; while it is down two boxes are killed and
// one is removed; the restarted docker-svc lists the 7 live boxes as they were and has cleaned
// up the 3 others before it serves.
TEST_F(BoxRestartTest, DockerSvcRestartKeepsLiveBoxesAndCleansUpTheDead) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  // Boxes in three states: RUNNING (0-2), WAITING (3-5), ALLOCATED (6-9).
  std::vector<v1::CreateRequest> requests;
  for (int i = 0; i < 10; ++i) {
    v1::CreateRequest request =
        CreateRequest(kTestBoxApp, BoxId(absl::StrCat("r", i)), i >= 6 ? "user-r" : "");
    request.set_wait_for_ready(i < 3);
    requests.push_back(request);
  }
  const std::map<std::string, v1::Box> before = CreateAll(requests);
  ASSERT_EQ(before.size(), 10u);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> listed_before, boxes().List());
  ASSERT_EQ(listed_before.size(), 10u);

  host().KillDockerSvc();  // SIGKILL
  const std::string killed_running = BoxId("r0");
  const std::string killed_allocated = BoxId("r6");
  const std::string removed = BoxId("r3");
  ASSERT_OK(Docker().KillContainer(absl::StrCat("berth-", killed_running), "SIGKILL"));
  ASSERT_OK(Docker().KillContainer(absl::StrCat("berth-", killed_allocated), "SIGKILL"));
  ASSERT_OK(Docker().RemoveContainer(absl::StrCat("berth-", removed), /*force=*/true,
                                     /*remove_volumes=*/true));
  ASSERT_TRUE(WaitUntil(
      [&] { return !ContainerRunning(killed_running) && !ContainerRunning(killed_allocated); },
      absl::Seconds(20)));

  ASSERT_OK(host().StartDockerSvc());
  // At the moment it serves, its startup reconcile is done.
  const std::set<std::string> dead = {killed_running, killed_allocated, removed};
  std::map<std::string, std::string> leftovers_at_serve;
  for (const std::string& id : dead) leftovers_at_serve[id] = Leftovers(host(), id);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> listed, boxes().List());
  ASSERT_OK_AND_ASSIGN(alloc::ListResponse leases, host().leases().List());

  std::vector<std::string> live_ids;
  for (const auto& [id, box] : before) {
    if (dead.count(id) == 0) live_ids.push_back(id);
  }
  std::vector<std::string> listed_ids;
  for (const v1::Box& box : listed) listed_ids.push_back(box.box_id());
  EXPECT_THAT(listed_ids, ElementsAreArray(live_ids));
  for (const v1::Box& box : listed) {
    SCOPED_TRACE(box.box_id());
    auto was = before.find(box.box_id());
    if (was == before.end()) continue;
    EXPECT_EQ(box.state(), was->second.state());
    EXPECT_EQ(box.app(), was->second.app());
    EXPECT_EQ(box.user_id(), was->second.user_id());
    EXPECT_EQ(box.container_id(), was->second.container_id());
    EXPECT_EQ(box.tty(), was->second.tty());
    ASSERT_EQ(box.ports_size(), was->second.ports_size());
    for (int i = 0; i < box.ports_size(); ++i) {
      EXPECT_TRUE(MessageDifferencer::Equals(box.ports(i), was->second.ports(i)))
          << box.ports(i).ShortDebugString() << " was " << was->second.ports(i).ShortDebugString();
    }
  }
  std::vector<std::string> leased_ids;
  for (const alloc::Lease& lease : leases.leases()) {
    leased_ids.push_back(lease.box_id());
    auto was = before.find(lease.box_id());
    if (was == before.end()) continue;
    EXPECT_EQ(lease.state(), alloc::LEASE_STATE_BOUND) << lease.box_id();
    EXPECT_EQ(lease.container_id(), was->second.container_id()) << lease.box_id();
  }
  EXPECT_THAT(leased_ids, ElementsAreArray(live_ids)) << "the dead boxes' leases are released";
  for (const std::string& id : dead) {
    EXPECT_EQ(leftovers_at_serve[id], "") << id << " when docker-svc began to serve";
    if (!leftovers_at_serve[id].empty()) {
      // Say whether it is merely late.
      const bool later = WaitUntil([&] { return Leftovers(host(), id).empty(); },
                                   2 * host().options().resync_interval + absl::Seconds(2));
      ADD_FAILURE() << id
                    << (later ? " was cleaned up only after docker-svc served"
                              : " is still not cleaned up: ")
                    << Leftovers(host(), id);
    }
  }

  // The live boxes still answer, and a new watch sees exactly them.
  for (const std::string& id : live_ids) {
    const v1::Box& box = before.at(id);
    EXPECT_TRUE(WaitForGreeting(static_cast<uint16_t>(box.ports(0).host_port()), id + "\n",
                                absl::Seconds(10)))
        << id;
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  std::vector<std::string> snapshot;
  for (const ReceivedEvent& received : watcher->events()) {
    if (received.event.kind() == v1::BoxEvent::KIND_SNAPSHOT) {
      snapshot.push_back(received.event.box().box_id());
    }
  }
  EXPECT_THAT(snapshot, ::testing::UnorderedElementsAreArray(live_ids));

  // It still drives them: stop them all.
  for (const std::string& id : live_ids) {
    EXPECT_OK(boxes().Stop(id).status()) << id;
    EXPECT_EQ(Leftovers(host(), id), "");
  }
  ASSERT_OK_AND_ASSIGN(leases, host().leases().List());
  EXPECT_EQ(leases.leases_size(), 0);
}

// Acceptance 7: allocator-svc SIGKILLed while several creates are in flight. Each create
// completes or fails cleanly, and once the allocator is back, leases and containers agree.
TEST_F(BoxRestartTest, AllocatorKilledDuringCreatesThenLeasesAndContainersAgree) {
  BoxHostOptions options;
  // A lease reserved by a create the kill cut short, whose container never came, is the
  // allocator's to reclaim after the reserve grace; keep it short so that the wait is bounded.
  options.allocator_flags = {"--reserve_grace=3s"};
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  constexpr int kCallers = 6;
  constexpr int kCreatesEach = 4;

  struct Outcome {
    std::string box_id;
    absl::Status status;
  };
  absl::Mutex mu;
  std::vector<Outcome> outcomes;
  std::atomic<int> in_flight{0};
  std::atomic<int> succeeded{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      BoxesClient client(host().boxes_address(), absl::Seconds(120));
      for (int i = 0; i < kCreatesEach; ++i) {
        const std::string id = BoxId(absl::StrCat("t", t, "-", i));
        ++in_flight;
        absl::Status status = client.Create(CreateRequest(kTestBoxApp, id)).status();
        --in_flight;
        if (status.ok()) ++succeeded;
        absl::MutexLock lock(&mu);
        outcomes.push_back({id, status});
      }
    });
  }
  // Kill it once creates are well under way: some done, the others in flight.
  const bool under_way = WaitUntil([&] { return succeeded.load() >= 2; }, absl::Seconds(90));
  const int in_flight_at_kill = in_flight.load();
  host().KillAllocator();  // SIGKILL
  // Keep it down for a while, so that creates meet it down.
  absl::SleepFor(absl::Seconds(1));
  const absl::Status restarted = host().StartAllocator();
  const absl::Time restarted_at = absl::Now();
  for (std::thread& caller : callers) caller.join();
  std::cerr << "creates done " << absl::Now() - restarted_at << " after the allocator restart\n";
  ASSERT_TRUE(under_way) << "creates did not get going";
  ASSERT_OK(restarted);
  EXPECT_GT(in_flight_at_kill, 0) << "the kill did not land while creates were in flight";
  ASSERT_TRUE(ProcessIsAlive(host().docker_svc()->pid())) << "docker-svc died with the allocator";

  std::vector<std::string> ok_ids;
  std::vector<std::string> failed_ids;
  for (const Outcome& outcome : outcomes) {
    if (outcome.status.ok()) {
      ok_ids.push_back(outcome.box_id);
    } else {
      failed_ids.push_back(outcome.box_id);
      std::cerr << outcome.box_id << ": " << outcome.status << "\n";
    }
  }
  std::cerr << ok_ids.size() << " creates succeeded, " << failed_ids.size() << " failed; "
            << in_flight_at_kill << " in flight at the kill\n";

  // Agreement within a bounded time: two resyncs after the reserve grace.
  const absl::Duration bound =
      absl::Seconds(3) + 2 * host().options().resync_interval + absl::Seconds(4);
  auto mine = [this](const std::string& id) { return Mine(id); };
  const absl::Time waited_from = absl::Now();
  const bool agree = WaitUntil([&] { return HostDisagreement(host(), mine).empty(); }, bound);
  std::cerr << "agreement after " << absl::Now() - waited_from << "\n";
  EXPECT_TRUE(agree) << "after " << bound << ":\n" << HostDisagreement(host(), mine);

  // A create that succeeded made a box; one that failed left nothing.
  for (const std::string& id : ok_ids) {
    EXPECT_OK(boxes().Get(id).status()) << id << " was created";
    EXPECT_TRUE(ContainerRunning(id)) << id;
  }
  for (const std::string& id : failed_ids) EXPECT_EQ(Leftovers(host(), id), "") << id;

  // The host still works: everything stops cleanly.
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Box> listed, boxes().List());
  for (const v1::Box& box : listed) {
    EXPECT_OK(boxes().Stop(box.box_id()).status()) << box.box_id();
    EXPECT_EQ(Leftovers(host(), box.box_id()), "");
  }
  ASSERT_OK_AND_ASSIGN(alloc::ListResponse leases, host().leases().List());
  EXPECT_EQ(leases.leases_size(), 0);
  EXPECT_THAT(host().MappingDirs(), IsEmpty());
}

// A stop that cannot finish (the allocator is gone, so the lease release is retried) must not
// keep docker-svc from exiting on SIGTERM: after its grace it gives up on the retries and exits
// cleanly; its restart finishes the stop.
// An operator removes an app's profile and restarts docker-svc while a box of the app runs: the
// box is adopted with the profile it was made with, runs on, and is stopped cleanly; new boxes
// of the app are refused.
TEST_F(BoxRestartTest, ABoxOutlivesItsAppsProfileAcrossARestart) {
  BoxHostOptions options;
  options.profiles["retired-box"] = TestBoxProfileAs("retired-box");
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  const std::string id = BoxId("retired");
  v1::CreateRequest request = CreateRequest("retired-box", id, "u1");
  request.set_wait_for_ready(true);
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));

  host().KillDockerSvc();
  ASSERT_EQ(unlink(absl::StrCat(host().apps_dir(), "/retired-box.textproto").c_str()), 0);
  ASSERT_OK(host().StartDockerSvc());

  ASSERT_OK_AND_ASSIGN(v1::Box box, boxes().Get(id));
  EXPECT_EQ(box.state(), v1::BOX_STATE_RUNNING);
  EXPECT_EQ(box.app(), "retired-box");
  EXPECT_TRUE(WaitForGreeting(static_cast<uint16_t>(box.ports(0).host_port()), id + "\n",
                              absl::Seconds(10)));
  request.set_box_id(BoxId("retired-2"));
  EXPECT_EQ(boxes().Create(request).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_OK(boxes().Stop(id).status()) << host().LogTails();
  EXPECT_EQ(Leftovers(host(), id), "");
  ASSERT_OK_AND_ASSIGN(alloc::ListResponse leases, host().leases().List());
  EXPECT_EQ(leases.leases_size(), 0);
}

TEST_F(BoxRestartTest, SigtermWhileAStopRetriesADeadAllocatorStillExits) {
  BoxHostOptions options;
  options.docker_svc_flags = {"--shutdown_grace=2s", "--allocator_timeout=2s"};
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  const std::string id = BoxId("stuck");
  ASSERT_TRUE(host().boxes().Create(CreateRequest("test-box", id, "u1")).ok());
  host().KillAllocator();
  std::thread stopper([&] { host().boxes().Stop(id).IgnoreError(); });
  absl::SleepFor(absl::Seconds(1));  // the stop is now retrying the release
  // A second stop of the box waits for the first; it must not outlive the first's giving up.
  std::thread second_stopper([&] {
    BoxesClient client(host().boxes_address(), absl::Seconds(60));
    client.Stop(id).IgnoreError();
  });
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  absl::StatusOr<int> exit_code = host().docker_svc()->Terminate(absl::Seconds(30));
  stopper.join();
  second_stopper.join();
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << "\n" << host().LogTails();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "docker-svc hung on its own retries";

  // Back with the allocator: the restart finishes the stop and nothing is left.
  ASSERT_TRUE(host().StartAllocator().ok());
  ASSERT_TRUE(host().StartDockerSvc().ok());
  EXPECT_TRUE(WaitUntil([&] { return Leftovers(host(), id).empty(); }, absl::Seconds(30)))
      << Leftovers(host(), id);
}

}  // namespace
}  // namespace berth::testing
