#include "common/grpc_status.h"

#include "gtest/gtest.h"

namespace berth::common {
namespace {

TEST(GrpcStatusTest, EveryCodeAndMessageSurvivesTheRoundTrip) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status status(static_cast<absl::StatusCode>(code), code == 0 ? "" : "why it failed");
    grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(FromGrpcStatus(converted), status);
  }
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("box b1")).error_message(), "box b1");
}

}  // namespace
}  // namespace berth::common
