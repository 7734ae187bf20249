// Acceptance 8: the host's dockerd restarted while boxes run. docker-svc stays up, resumes its
// event stream, and cleans up a box that died while the engine was down.
//
// This test stops and restarts the machine's dockerd (SIGTERM, then scripts/start-dockerd.sh,
// which starts it with --live-restore so that running boxes survive the next restart). It
// always leaves dockerd answering, also when it fails.
#include <signal.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/proto_time.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;

// The pid of the one running dockerd.
absl::StatusOr<pid_t> DockerdPid() {
  absl::StatusOr<std::string> output = RunCommand("pgrep -x dockerd");
  if (!output.ok()) return output.status();
  std::vector<std::string> pids =
      absl::StrSplit(absl::StripAsciiWhitespace(*output), '\n', absl::SkipEmpty());
  if (pids.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat("dockerd pids: \"", *output, "\""));
  }
  int pid = 0;
  if (!absl::SimpleAtoi(pids[0], &pid)) return absl::InternalError(*output);
  return static_cast<pid_t>(pid);
}

// Starts dockerd the way the test command does and waits until it answers.
absl::Status StartDockerd() {
  // Its own session, so that dockerd outlives this test and its process group.
  absl::StatusOr<std::string> output = RunCommand(
      absl::StrCat("setsid --wait bash ", SourceDir(), "/scripts/start-dockerd.sh 2>&1"));
  if (!output.ok()) return output.status();
  return Docker().Ping();
}

// Waits until no dockerd process is left, not even a zombie: start-dockerd.sh starts none
// while `pgrep -x dockerd` finds one, and this machine's init may reap late.
bool WaitForDockerdGone(absl::Duration timeout) {
  return WaitUntil([] { return !RunCommand("pgrep -x dockerd").ok(); }, timeout);
}

class BoxDockerdRestartTest : public BoxTest {
 protected:
  void TearDown() override {
    // Whatever happened, leave the engine answering (and only then clean up containers).
    if (!Docker().Ping().ok()) {
      WaitForDockerdGone(absl::Seconds(60));
      absl::Status started = StartDockerd();
      EXPECT_OK(started) << "could not restart dockerd";
    }
    BoxTest::TearDown();
  }
};

TEST_F(BoxDockerdRestartTest, DockerdRestartWhileBoxesRun) {
  BoxHostOptions options;
  // A long resync, so that cleanups within seconds come from the event stream and the resync
  // on its reconnect, not from the periodic one.
  options.resync_interval = absl::Seconds(120);
  ASSERT_NO_FATAL_FAILURE(StartHost(options));
  std::vector<std::string> ids;
  std::map<std::string, v1::Box> boxes_before;
  for (int i = 0; i < 4; ++i) {
    const std::string id = BoxId(absl::StrCat("d", i));
    v1::CreateRequest request = CreateRequest(kTestBoxApp, id, "user-d");
    request.set_wait_for_ready(true);
    ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));
    ids.push_back(id);
    boxes_before[id] = created.box();
  }
  // A WAITING box: it still needs its session_id and config from docker-svc.
  const std::string waiting = BoxId("waiting");
  ASSERT_OK(boxes().Create(CreateRequest(kTestBoxApp, waiting)).status());
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<v1::Box> box = boxes().Get(waiting);
    return box.ok() && box->has_ready_at();
  }, absl::Seconds(30)));
  const std::string victim = ids[0];
  ASSERT_OK_AND_ASSIGN(pid_t victim_pid, ContainerPid(absl::StrCat("berth-", victim)));
  ASSERT_GT(victim_pid, 0);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BoxWatcher> watcher,
                       BoxWatcher::Start(host().boxes_address()));

  // The outage: dockerd stops; the victim box dies while it is down.
  ASSERT_OK_AND_ASSIGN(pid_t dockerd, DockerdPid());
  ASSERT_EQ(kill(dockerd, SIGTERM), 0);
  ASSERT_TRUE(WaitForDockerdGone(absl::Seconds(60))) << "dockerd did not exit";
  const int killed = kill(victim_pid, SIGKILL);
  std::cerr << "victim pid " << victim_pid << ": "
            << (killed == 0 ? "killed" : "already gone (dockerd without --live-restore)") << "\n";
  // docker-svc rides the outage out.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(ProcessIsAlive(host().docker_svc()->pid())) << "docker-svc died with dockerd";
  ASSERT_OK(StartDockerd());
  EXPECT_TRUE(ProcessIsAlive(host().docker_svc()->pid())) << "docker-svc died with dockerd";

  // The victim is gone, as a box that died: final event, lease released, dir removed.
  ASSERT_OK_AND_ASSIGN(ReceivedEvent gone, watcher->WaitForGone(victim, absl::Seconds(30)));
  std::cerr << "victim: " << DescribeEvent(gone.event) << "\n";
  EXPECT_TRUE(WaitUntil([&] { return Leftovers(host(), victim).empty(); }, absl::Seconds(5)))
      << Leftovers(host(), victim);
  EXPECT_THAT(boxes().Get(victim), StatusIs(absl::StatusCode::kNotFound, ::testing::_));

  if (killed == 0) {
    // With live-restore the boxes run on, but the restarted engine no longer has their
    // mapping directories mounted on the host: docker-svc cannot hand the WAITING box its
    // session, so it ends it (RUNNING boxes run on).
    ASSERT_OK_AND_ASSIGN(ReceivedEvent ended, watcher->WaitForGone(waiting, absl::Seconds(30)));
    EXPECT_EQ(ended.event.box().reason(), "mapping directory detached by a Docker engine restart");
  }
  if (boxes().Get(waiting).ok()) {
    EXPECT_OK(boxes().Stop(waiting).status());
  }

  // Every other box either still runs and is listed, or is gone from both with its lease.
  auto consistent = [&](const std::string& id) -> std::string {
    absl::StatusOr<docker::ContainerInfo> info =
        Docker().InspectContainer(absl::StrCat("berth-", id));
    absl::StatusOr<v1::Box> box = boxes().Get(id);
    if (info.ok() && info->running && box.ok()) {
      if (box->container_id() != info->id) return absl::StrCat(id, ": other container");
      return "";
    }
    const std::string left = Leftovers(host(), id);
    if (!info.ok() && absl::IsNotFound(info.status()) && absl::IsNotFound(box.status()) &&
        left.empty()) {
      return "";
    }
    return absl::StrCat(
        id, ": container ",
        info.ok() ? (info->running ? "running" : info->status) : info.status().ToString(),
        ", docker-svc says ", box.ok() ? box->ShortDebugString() : box.status().ToString(),
        ", left: ", left);
  };
  std::string inconsistent;
  const bool settled = WaitUntil(
      [&] {
        inconsistent.clear();
        for (size_t i = 1; i < ids.size(); ++i) absl::StrAppend(&inconsistent, consistent(ids[i]));
        return inconsistent.empty();
      },
      absl::Seconds(30));
  EXPECT_TRUE(settled) << inconsistent;
  int survivors = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    absl::StatusOr<v1::Box> box = boxes().Get(ids[i]);
    if (!box.ok()) continue;
    ++survivors;
    EXPECT_TRUE(WaitForGreeting(static_cast<uint16_t>(box->ports(0).host_port()), ids[i] + "\n",
                                absl::Seconds(10)))
        << ids[i] << " survived but does not answer";
  }
  std::cerr << survivors << " of " << ids.size() - 1 << " other boxes survived the restart\n";

  // docker-svc talks to the new engine and follows its events again: a new box works, and when
  // it is killed its end arrives well before any periodic resync.
  const std::string fresh = BoxId("fresh");
  v1::CreateRequest request = CreateRequest(kTestBoxApp, fresh);
  request.set_wait_for_ready(true);
  ASSERT_OK_AND_ASSIGN(v1::CreateResponse created, boxes().Create(request));
  EXPECT_EQ(created.box().state(), v1::BOX_STATE_RUNNING);
  EXPECT_TRUE(WaitForGreeting(static_cast<uint16_t>(created.box().ports(0).host_port()),
                              fresh + "\n", absl::Seconds(10)));
  const absl::Time killed_at = absl::Now();
  ASSERT_OK(Docker().KillContainer(absl::StrCat("berth-", fresh), "SIGKILL"));
  ASSERT_OK_AND_ASSIGN(ReceivedEvent fresh_gone, watcher->WaitForGone(fresh, absl::Seconds(30)));
  // A tenth of the 120 s resync: only the event stream can have told docker-svc so soon.
  EXPECT_LE(common::FromTimestamp(fresh_gone.event.time()) - killed_at, absl::Seconds(12))
      << "the event stream is not back";
  EXPECT_EQ(fresh_gone.event.exit_code(), 137);
  EXPECT_EQ(Leftovers(host(), fresh), "");

  for (size_t i = 1; i < ids.size(); ++i) {
    const std::string dir = host().BoxDir(ids[i]);
    if (boxes().Get(ids[i]).ok()) {
      EXPECT_OK(boxes().Stop(ids[i]).status()) << ids[i];
    }
    // Docker 20.10 counts the volume of a box that outlived its restart as mounted until its
    // next restart and refuses to remove it: the volume may stay, but empty and unmounted.
    std::string left = Leftovers(host(), ids[i]);
    const std::string volume = absl::StrCat("mapping dir of ", ids[i]);
    if (left == volume) {
      EXPECT_THAT(ListDir(dir), ::testing::IsEmpty()) << dir;
      left.clear();
    }
    EXPECT_EQ(left, "");
  }
}

}  // namespace
}  // namespace berth::testing
