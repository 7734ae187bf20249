#include "gateway/routing/text_codec.h"

#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway::routing {
namespace {

using ::berth::testing::StatusIs;
using ::testing::HasSubstr;

TEST(PercentDecodeTest, DecodesEscapesInEitherCase) {
  ASSERT_OK_AND_ASSIGN(std::string decoded, PercentDecode("a%2Fb%2fc%20d%25", false));
  EXPECT_EQ(decoded, "a/b/c d%");
  ASSERT_OK_AND_ASSIGN(decoded, PercentDecode("%00%FF", false));
  EXPECT_EQ(decoded, std::string("\0\xff", 2));
}

TEST(PercentDecodeTest, PlusIsSpaceOnlyWhenAsked) {
  ASSERT_OK_AND_ASSIGN(std::string decoded, PercentDecode("a+b%2B", true));
  EXPECT_EQ(decoded, "a b+");
  ASSERT_OK_AND_ASSIGN(decoded, PercentDecode("a+b", false));
  EXPECT_EQ(decoded, "a+b");
}

TEST(PercentDecodeTest, RejectsInvalidEscapes) {
  EXPECT_THAT(PercentDecode("a%zzb", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"%zz\"")));
  EXPECT_THAT(PercentDecode("abc%4", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"%4\"")));
  EXPECT_THAT(PercentDecode("%", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid percent-escape")));
  EXPECT_THAT(PercentDecode("%g0", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("%g0")));
}

TEST(JsonQuoteTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(JsonQuote("a\nb\tc\rd\be\ff"), "\"a\\nb\\tc\\rd\\be\\ff\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
  EXPECT_EQ(JsonQuote("/ and \x7f stay"), "\"/ and \x7f stay\"");
}

TEST(JsonQuoteTest, KeepsUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(JsonQuote("a\xff"
                      "b\xc3"),
            "\"a\\ufffdb\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
}

}  // namespace
}  // namespace berth::gateway::routing
