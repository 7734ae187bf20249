#ifndef BERTH_COMMON_PROTO_TIME_H_
#define BERTH_COMMON_PROTO_TIME_H_

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"

namespace berth::common {

// `time` as a protobuf Timestamp, to the nanosecond.
inline google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

// A protobuf Timestamp as an absl::Time (an unset one is the Unix epoch).
inline absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

// A google.protobuf.Duration as an absl::Duration.
inline absl::Duration FromDuration(const google::protobuf::Duration& duration) {
  return absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
}

}  // namespace berth::common

#endif  // BERTH_COMMON_PROTO_TIME_H_
