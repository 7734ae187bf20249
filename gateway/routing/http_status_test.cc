#include "gateway/routing/http_status.h"

#include <string>
#include <utility>
#include <vector>

#include "common/json_syntax.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace berth::gateway::routing {
namespace {

TEST(HttpStatusFromCodeTest, MapsEveryCodeAsGrpcGatewayDoes) {
  const std::vector<std::pair<absl::StatusCode, int>> table = {
      {absl::StatusCode::kOk, 200},
      {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kDeadlineExceeded, 504},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kUnauthenticated, 401},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDataLoss, 500},
      {static_cast<absl::StatusCode>(42), 500},
  };
  for (const auto& [code, http_status] : table) {
    EXPECT_EQ(HttpStatusFromCode(code), http_status) << absl::StatusCodeToString(code);
  }
}

TEST(HttpStatusOfTest, PrefersAnAttachedStatus) {
  EXPECT_EQ(HttpStatusOf(absl::NotFoundError("x")), 404);
  EXPECT_EQ(HttpStatusOf(absl::OkStatus()), 200);
  const absl::Status media = WithHttpStatus(absl::InvalidArgumentError("not JSON"), 415);
  EXPECT_EQ(HttpStatusOf(media), 415);
  EXPECT_EQ(media.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(media.message(), "not JSON");
  // OK stays OK; out-of-range HTTP statuses are ignored.
  EXPECT_TRUE(WithHttpStatus(absl::OkStatus(), 418).ok());
  EXPECT_EQ(HttpStatusOf(WithHttpStatus(absl::UnavailableError("x"), 99)), 503);
  EXPECT_EQ(HttpStatusOf(WithHttpStatus(absl::UnavailableError("x"), 600)), 503);
}

TEST(ErrorBodyTest, HasTheGrpcCodeAndMessage) {
  EXPECT_EQ(ErrorBody(absl::NotFoundError("no box \"b1\"")),
            "{\"code\":5,\"message\":\"no box \\\"b1\\\"\"}");
  EXPECT_EQ(ErrorBody(absl::StatusCode::kResourceExhausted, ""), "{\"code\":8,\"message\":\"\"}");
  EXPECT_EQ(ErrorBody(WithHttpStatus(absl::InvalidArgumentError("x"), 415)),
            "{\"code\":3,\"message\":\"x\"}");
}

// Parses `json` with protobuf's parser into a Struct.
google::protobuf::Struct ParseStruct(const std::string& json) {
  google::protobuf::Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << " for " << json;
  return parsed;
}

TEST(ErrorBodyTest, IsValidJsonForAnyMessage) {
  constexpr char kControls[] = "tab\there \"q\" \\ nul\0 bell\x07 ";
  const std::string controls(kControls, sizeof(kControls) - 1);
  const std::string message = controls + "bad\xff\xfe utf8 caf\xc3\xa9 \xe2\x80\xa8";
  const std::string body = ErrorBody(absl::StatusCode::kInternal, message);
  EXPECT_TRUE(common::CheckJsonSyntax(body).ok()) << body;
  const google::protobuf::Struct parsed = ParseStruct(body);
  EXPECT_EQ(parsed.fields().at("code").number_value(), 13);
  EXPECT_EQ(parsed.fields().at("message").string_value(),
            controls + "bad\xef\xbf\xbd\xef\xbf\xbd utf8 caf\xc3\xa9 \xe2\x80\xa8");
}

}  // namespace
}  // namespace berth::gateway::routing
