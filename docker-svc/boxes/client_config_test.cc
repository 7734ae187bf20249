#include "docker-svc/boxes/client_config.h"

#include <string>

#include "absl/strings/escaping.h"
#include "common/testing/gzip.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::StatusIs;
using ::testing::HasSubstr;

using ::berth::testing::Gzip;

TEST(DecodeClientConfigTest, InflatesBase64OfGzip) {
  const std::string config = R"({"dark_mode":true,"desired_timezone":"Europe/Paris"})";
  ASSERT_OK_AND_ASSIGN(std::string decoded, DecodeClientConfig(absl::Base64Escape(Gzip(config))));
  EXPECT_EQ(decoded, config);
}

TEST(DecodeClientConfigTest, TakesPlainJsonAsIs) {
  const std::string config = "  {\"a\": [1, 2, {\"b\": null}]}\n";
  ASSERT_OK_AND_ASSIGN(std::string decoded, DecodeClientConfig(config));
  EXPECT_EQ(decoded, config);
  ASSERT_OK_AND_ASSIGN(decoded, DecodeClientConfig("[]"));
  EXPECT_EQ(decoded, "[]");
}

TEST(DecodeClientConfigTest, RefusesWhatIsNotJson) {
  EXPECT_THAT(DecodeClientConfig(""), StatusIs(absl::StatusCode::kInvalidArgument, "json_data is empty"));
  EXPECT_THAT(DecodeClientConfig("{\"a\":"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(DecodeClientConfig("not base64 at all!"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("neither JSON nor base64")));
  // Base64, but not of gzip.
  EXPECT_THAT(DecodeClientConfig(absl::Base64Escape("plain words")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gzip")));
  // Gzip of something that is not JSON.
  EXPECT_THAT(DecodeClientConfig(absl::Base64Escape(Gzip("hello"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("inflated json_data")));
  // Truncated gzip.
  const std::string gzip = Gzip(R"({"a":1})");
  EXPECT_THAT(DecodeClientConfig(absl::Base64Escape(gzip.substr(0, gzip.size() - 6))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gzip")));
}

// Found by tests/fuzz/client_config_fuzz (corpus entry control-character-in-string): protobuf's
// JSON parser, which this once used, takes a raw control character inside a string, which
// strict JSON (and the box's own reader) refuses.
TEST(DecodeClientConfigTest, RefusesAControlCharacterInAString) {
  const std::string config = "{\"bookmarks\":[\"https://example\x0e" "com\"]}";
  EXPECT_THAT(DecodeClientConfig(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(DecodeClientConfig(absl::Base64Escape(Gzip(config))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_OK(DecodeClientConfig("{\"bookmarks\":[\"https://example\\u000ecom\"]}"));
}

TEST(DecodeClientConfigTest, RefusesABombThatInflatesTooFar) {
  const std::string big = "[\"" + std::string(kMaxClientConfigBytes + 10, 'a') + "\"]";
  EXPECT_THAT(DecodeClientConfig(absl::Base64Escape(Gzip(big))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("inflates beyond")));
  EXPECT_THAT(DecodeClientConfig(big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("over")));
}

TEST(Sha256HexTest, KnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace berth::docker
