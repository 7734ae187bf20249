#include "gateway/server/stream_limiter.h"

#include <memory>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

using ::testing::HasSubstr;

Caller User(const std::string& subject) { return Caller{subject, /*backend=*/false}; }
Caller Backend() { return Caller{"webserver", /*backend=*/true}; }

TEST(StreamLimiterTest, CapsEachUserTheBackendAndEveryone) {
  auto limiter = std::make_shared<StreamLimiter>(StreamLimits{/*per_user=*/2, /*backend=*/3,
                                                              /*total=*/6});
  std::vector<StreamLimiter::Slot> held;
  StreamCap refused_by = StreamCap::kMaxStreams;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<StreamLimiter::Slot> slot = limiter->Acquire(User("alice"), &refused_by);
    ASSERT_TRUE(slot.ok()) << slot.status();
    held.push_back(*std::move(slot));
  }
  absl::StatusOr<StreamLimiter::Slot> third = limiter->Acquire(User("alice"), &refused_by);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("this user already has 2 event streams"));
  EXPECT_EQ(refused_by, StreamCap::kMaxStreamsPerUser);
  // The backend's tokens share their own cap, whatever their sub.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<StreamLimiter::Slot> slot = limiter->Acquire(Backend(), &refused_by);
    ASSERT_TRUE(slot.ok()) << slot.status();
    held.push_back(*std::move(slot));
  }
  EXPECT_FALSE(limiter->Acquire(Caller{"other-sub", true}, &refused_by).ok());
  EXPECT_EQ(refused_by, StreamCap::kMaxBackendStreams);
  absl::StatusOr<StreamLimiter::Slot> bob = limiter->Acquire(User("bob"), &refused_by);
  ASSERT_TRUE(bob.ok());
  held.push_back(*std::move(bob));
  // Six open: everyone is refused.
  absl::StatusOr<StreamLimiter::Slot> carol = limiter->Acquire(User("carol"), &refused_by);
  EXPECT_THAT(carol.status().message(), HasSubstr("already serves its 6 event streams"));
  EXPECT_EQ(refused_by, StreamCap::kMaxStreams);
  EXPECT_EQ(limiter->open(), 6);
  held.erase(held.begin());  // one of alice's ends
  EXPECT_EQ(limiter->open(), 5);
  EXPECT_TRUE(limiter->Acquire(User("alice"), &refused_by).ok());  // and is let go at once
  held.clear();
  EXPECT_EQ(limiter->open(), 0);
}

}  // namespace
}  // namespace berth::gateway
