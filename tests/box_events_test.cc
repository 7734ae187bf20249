// docker-svc's Watch stream and the ends of boxes: the snapshot then changes, a box killed or
// removed behind Berth's back, a box over its memory limit, a box past its TTL.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/proto_time.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
using ::google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

// A small box that blows its memory limit as soon as it is up: BERTH_ALLOCATE_MB makes the
// test box touch 256 MB at once, far over its 32 MB (the host has no swap to hide it in).
constexpr char kOomProfile[] = R"pb(
  name: "oom-box"
  image: "berth/test-box:latest"
  ports { port: 32261 protocol: PROTOCOL_TCP }
  env { key: "BERTH_MAPPINGS_DIR" value: "/whist/resourceMappings" }
  env { key: "BERTH_ALLOCATE_MB" value: "256" }
  memory_bytes: 33554432
  stop_grace_seconds: 2
)pb";

class BoxEventsTest : public BoxTest {
 protected:
  // A running test box (wait_for_ready), so that the box's server is up.
  v1::Box CreateReadyBox(const std::string& id) {
    v1::CreateRequest request = CreateRequest(kTestBoxApp, id);
    request.set_wait_for_ready(true);
    absl::StatusOr<v1::CreateResponse> created = boxes().Create(request);
    EXPECT_OK(created.status()) << id;
    return created.ok() ? created->box() : v1::Box();
  }
};

// The stream: one SNAPSHOT per box that exists, SNAPSHOT_DONE, then CHANGED and GONE as boxes
// come and go; nothing about a box after its GONE.
TEST_F(BoxEventsTest, WatchSendsSnapshotThenDoneThenChanges) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string old_box = BoxId("old");
  const std::string new_box = BoxId("new");
  // Ready before the watch begins, so that nothing about it changes during the test.
  v1::CreateRequest old_request = CreateRequest(kTestBoxApp, old_box, "user-1");
  old_request.set_wait_for_ready(true);
  ASSERT_OK(boxes().Create(old_request).status());

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, new_box)).status());
  ASSERT_OK(boxes().Stop(new_box).status());
  ASSERT_OK(watcher->WaitForGone(new_box, absl::Seconds(10)).status());

  const std::vector<ReceivedEvent> events = watcher->events();
  ASSERT_GE(events.size(), 4u) << watcher->Describe();
  EXPECT_EQ(events[0].event.kind(), v1::BoxEvent::KIND_SNAPSHOT) << watcher->Describe();
  EXPECT_EQ(events[0].event.box().box_id(), old_box);
  EXPECT_EQ(events[0].event.box().user_id(), "user-1");
  EXPECT_EQ(events[0].event.box().state(), v1::BOX_STATE_RUNNING);
  EXPECT_TRUE(events[0].event.box().has_ready_at());
  EXPECT_FALSE(events[0].event.box().container_id().empty());
  EXPECT_EQ(events[1].event.kind(), v1::BoxEvent::KIND_SNAPSHOT_DONE) << watcher->Describe();
  EXPECT_FALSE(events[1].event.has_box());
  bool changed_seen = false;
  for (size_t i = 2; i < events.size(); ++i) {
    const v1::BoxEvent& event = events[i].event;
    EXPECT_NE(event.kind(), v1::BoxEvent::KIND_SNAPSHOT) << "at " << i << "\n"
                                                         << watcher->Describe();
    EXPECT_NE(event.kind(), v1::BoxEvent::KIND_SNAPSHOT_DONE) << watcher->Describe();
    EXPECT_EQ(event.box().box_id(), new_box) << "only the new box changed\n" << watcher->Describe();
    EXPECT_TRUE(event.has_time());
    if (event.kind() == v1::BoxEvent::KIND_CHANGED) changed_seen = true;
    if (event.kind() == v1::BoxEvent::KIND_GONE) {
      EXPECT_TRUE(changed_seen) << "a CHANGED event announces the box before its GONE\n"
                                << watcher->Describe();
      EXPECT_EQ(i, events.size() - 1) << "nothing about the box after its GONE\n"
                                      << watcher->Describe();
      EXPECT_EQ(event.box().reason(), "stopped");
    }
  }
  // The first CHANGED of the new box shows it made: WAITING with its container.
  ASSERT_OK_AND_ASSIGN(ReceivedEvent first_change,
                       watcher->WaitFor(
                           [&](const v1::BoxEvent& event) {
                             return event.kind() == v1::BoxEvent::KIND_CHANGED &&
                                    event.box().box_id() == new_box &&
                                    event.box().state() == v1::BOX_STATE_WAITING;
                           },
                           absl::ZeroDuration()));
  EXPECT_FALSE(first_change.event.box().container_id().empty());

  // A watch that starts now sees only the old box.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> later,
                       BoxWatcher::Start(host().boxes_address()));
  const std::vector<ReceivedEvent> snapshot = later->events();
  ASSERT_EQ(snapshot.size(), 2u) << later->Describe();
  EXPECT_EQ(snapshot[0].event.box().box_id(), old_box);
  EXPECT_EQ(snapshot[1].event.kind(), v1::BoxEvent::KIND_SNAPSHOT_DONE);

  ASSERT_OK(boxes().Stop(old_box).status());
  EXPECT_EQ(Leftovers(host(), old_box), "");
}

TEST_F(BoxEventsTest, StopRecordsTheGivenReason) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("why");
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, id)).status());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  ASSERT_OK(boxes().Stop(id, "drained").status());
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(id, absl::Seconds(10)));
  EXPECT_EQ(gone.event.box().reason(), "drained");
  EXPECT_EQ(Leftovers(host(), id), "");
}

// Acceptance 3: a box killed behind Berth's back is gone, with its exit code, within 2 s.
TEST_F(BoxEventsTest, BoxKilledBehindBerthsBackIsGoneWithinTwoSeconds) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("killed");
  const std::string bystander = BoxId("bystander");
  const v1::Box box = CreateReadyBox(id);
  ASSERT_FALSE(box.container_id().empty());
  ASSERT_FALSE(CreateReadyBox(bystander).container_id().empty());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));

  const absl::Time killed_at = absl::Now();
  ASSERT_OK(Docker().KillContainer(absl::StrCat("berth-", id), "SIGKILL"));  // `docker kill`
  absl::StatusOr<ReceivedEvent> gone = watcher->WaitForGone(id, absl::Seconds(10));
  ASSERT_OK(gone.status());
  // When docker-svc published it (its delivery to this test is not docker-svc's time).
  const absl::Duration latency = common::FromTimestamp(gone->event.time()) - killed_at;
  std::cerr << "GONE after " << latency << " (received after " << gone->received - killed_at
            << ")\n";
  EXPECT_LE(latency, absl::Seconds(2));
  EXPECT_EQ(gone->event.exit_code(), 137);
  EXPECT_FALSE(gone->event.oom_killed());
  EXPECT_EQ(gone->event.box().reason(), "died");
  EXPECT_EQ(gone->event.box().container_id(), box.container_id());
  EXPECT_GT(TimeUtil::DurationToMilliseconds(gone->event.run_time()), 0);
  // GONE means gone: lease, container and directory.
  EXPECT_EQ(Leftovers(host(), id), "");
  EXPECT_THAT(boxes().Get(id), StatusIs(absl::StatusCode::kNotFound, HasSubstr(id)));

  // The other box is untouched.
  ASSERT_OK_AND_ASSIGN(v1::Box other, boxes().Get(bystander));
  EXPECT_EQ(other.state(), v1::BOX_STATE_RUNNING);
  for (const v1::BoxEvent& event : watcher->EventsOf(bystander)) {
    EXPECT_EQ(event.kind(), v1::BoxEvent::KIND_SNAPSHOT) << watcher->Describe();
  }
  ASSERT_OK(boxes().Stop(bystander).status());
}

// A box whose container is deleted behind Berth's back (`docker rm -f`) is gone as "removed".
TEST_F(BoxEventsTest, BoxRemovedBehindBerthsBackIsGone) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  const std::string id = BoxId("removed");
  ASSERT_FALSE(CreateReadyBox(id).container_id().empty());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  ASSERT_OK(Docker().RemoveContainer(absl::StrCat("berth-", id), /*force=*/true,
                                     /*remove_volumes=*/true));  // `docker rm -f`
  // Docker's destroy event, or at the latest one resync, tears it down.
  ASSERT_OK_AND_ASSIGN(
      ReceivedEvent gone,
      watcher->WaitForGone(id, 2 * host().options().resync_interval + absl::Seconds(2)));
  EXPECT_EQ(gone.event.box().reason(), "removed");
  EXPECT_EQ(Leftovers(host(), id), "");
}

// Acceptance 4: a box over its memory limit ends as OOM.
TEST_F(BoxEventsTest, BoxOverItsMemoryLimitEndsAsOom) {
  BoxHostOptions options;
  options.profiles["oom-box"] = kOomProfile;
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  const std::string id = BoxId("oom");
  // The box may die before Create answers; either way its end is on the stream.
  absl::StatusOr<v1::CreateResponse> created = boxes().Create(CreateRequest("oom-box", id));
  std::cerr << "create: " << created.status() << "\n";
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(id, absl::Seconds(30)));
  EXPECT_TRUE(gone.event.oom_killed()) << DescribeEvent(gone.event);
  EXPECT_EQ(gone.event.box().reason(), "oom") << DescribeEvent(gone.event);
  std::cerr << "final event: " << DescribeEvent(gone.event) << "\n";
  EXPECT_EQ(Leftovers(host(), id), "");
}

// A box created with a TTL of 2 s is stopped as "ttl" a little after 2 s.
TEST_F(BoxEventsTest, BoxPastItsTtlIsStopped) {
  ASSERT_NO_FATAL_FAILURE(StartHost());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));
  const std::string id = BoxId("ttl");
  const std::string keeper = BoxId("keeper");
  v1::CreateRequest request = CreateRequest(kTestBoxApp, id);
  *request.mutable_ttl() = TimeUtil::SecondsToDuration(2);
  const absl::Time asked = absl::Now();
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));
  EXPECT_EQ(TimeUtil::DurationToSeconds(created.box().ttl()), 2);
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, keeper)).status());

  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(id, absl::Seconds(10)));
  std::cerr << "TTL box gone after " << gone.received - asked << "\n";
  EXPECT_GE(gone.received - asked, absl::Milliseconds(1900)) << "stopped before its TTL";
  EXPECT_EQ(gone.event.box().reason(), "ttl");
  EXPECT_EQ(Leftovers(host(), id), "");
  // A box without a TTL stays.
  ASSERT_OK_AND_ASSIGN(v1::Box kept, boxes().Get(keeper));
  EXPECT_EQ(kept.state(), v1::BOX_STATE_WAITING);
  ASSERT_OK(boxes().Stop(keeper).status());
}

}  // namespace
}  // namespace berth::testing
