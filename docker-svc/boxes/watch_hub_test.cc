#include "docker-svc/boxes/watch_hub.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

box::v1::BoxEvent EventOf(const std::string& box_id, box::v1::BoxEvent::Kind kind) {
  box::v1::BoxEvent event;
  event.set_kind(kind);
  event.mutable_box()->set_box_id(box_id);
  return event;
}

TEST(WatchHubTest, ASnapshotComesFirstThenEveryPublishedEventInOrder) {
  WatchHub hub;
  auto watcher = hub.Subscribe({EventOf("a", box::v1::BoxEvent::KIND_SNAPSHOT),
                                EventOf("", box::v1::BoxEvent::KIND_SNAPSHOT_DONE)});
  hub.Publish(EventOf("b", box::v1::BoxEvent::KIND_CHANGED));
  hub.Publish(EventOf("a", box::v1::BoxEvent::KIND_GONE));
  box::v1::BoxEvent event;
  std::vector<std::string> seen;
  while (watcher->Next(&event, absl::ZeroDuration())) {
    seen.push_back(absl::StrCat(event.kind(), ":", event.box().box_id()));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"1:a", "2:", "3:b", "4:a"}));
  EXPECT_FALSE(watcher->lost());
}

TEST(WatchHubTest, NextWaitsForAnEventFromAnotherThread) {
  WatchHub hub;
  auto watcher = hub.Subscribe({});
  std::thread publisher([&] {
    absl::SleepFor(absl::Milliseconds(20));
    hub.Publish(EventOf("late", box::v1::BoxEvent::KIND_CHANGED));
  });
  box::v1::BoxEvent event;
  EXPECT_TRUE(watcher->Next(&event, absl::Seconds(10)));
  EXPECT_EQ(event.box().box_id(), "late");
  publisher.join();
}

TEST(WatchHubTest, ASlowWatcherIsDroppedWithoutHoldingUpOthers) {
  WatchHub hub(/*max_queued=*/3);
  auto slow = hub.Subscribe({});
  auto fast = hub.Subscribe({});
  box::v1::BoxEvent event;
  for (int i = 0; i < 5; ++i) {
    hub.Publish(EventOf(absl::StrCat("b", i), box::v1::BoxEvent::KIND_CHANGED));
    ASSERT_TRUE(fast->Next(&event, absl::ZeroDuration()));
  }
  EXPECT_TRUE(slow->lost());
  EXPECT_FALSE(slow->Next(&event, absl::ZeroDuration()));
  EXPECT_FALSE(fast->lost());
  EXPECT_EQ(hub.watcher_count(), 1u);
  hub.Unsubscribe(fast);
  EXPECT_EQ(hub.watcher_count(), 0u);
}

}  // namespace
}  // namespace berth::docker
