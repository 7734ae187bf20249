#include "common/proto_time.h"

#include "gtest/gtest.h"

namespace berth::common {
namespace {

TEST(ProtoTimeTest, RoundTripsToTheNanosecond) {
  const absl::Time time = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(123456789);
  const google::protobuf::Timestamp timestamp = ToTimestamp(time);
  EXPECT_EQ(timestamp.seconds(), 1700000000);
  EXPECT_EQ(timestamp.nanos(), 123456789);
  EXPECT_EQ(FromTimestamp(timestamp), time);
}

TEST(ProtoTimeTest, BeforeTheEpochNanosStayPositive) {
  const absl::Time time = absl::UnixEpoch() - absl::Milliseconds(1500);
  const google::protobuf::Timestamp timestamp = ToTimestamp(time);
  EXPECT_EQ(timestamp.seconds(), -2);
  EXPECT_EQ(timestamp.nanos(), 500000000);
  EXPECT_EQ(FromTimestamp(timestamp), time);
  EXPECT_EQ(FromTimestamp(google::protobuf::Timestamp()), absl::UnixEpoch());
}

}  // namespace
}  // namespace berth::common
