#include "common/utf8.h"

#include <cstdint>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

TEST(IsValidUtf8Test, AcceptsWellFormedAndRejectsTheRest) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // Truncated.
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // Overlong '/'.
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // Surrogate U+D800.
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // Above U+10FFFF.
  EXPECT_FALSE(IsValidUtf8("\x80"));              // Lone continuation.
}

TEST(Utf8SequenceLengthTest, CountsTheSequenceAtTheStart) {
  EXPECT_EQ(Utf8SequenceLength(""), 0);
  EXPECT_EQ(Utf8SequenceLength("a\xc3\xa9"), 1);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9" "a"), 2);
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x98\x80"), 4);
  EXPECT_EQ(Utf8SequenceLength("\xe2\x82"), 0);  // Truncated.
}

TEST(DecodeUtf8Test, GivesTheCodePointAndLeavesItOnAFailure) {
  uint32_t code_point = 7;
  EXPECT_EQ(DecodeUtf8("a\xc3\xa9", &code_point), 1);
  EXPECT_EQ(code_point, 0x61u);
  EXPECT_EQ(DecodeUtf8("\xc3\xa9", &code_point), 2);
  EXPECT_EQ(code_point, 0xe9u);
  EXPECT_EQ(DecodeUtf8("\xe2\x80\xa8", &code_point), 3);
  EXPECT_EQ(code_point, 0x2028u);
  EXPECT_EQ(DecodeUtf8("\xf0\x9f\x98\x80", &code_point), 4);
  EXPECT_EQ(code_point, 0x1f600u);
  code_point = 7;
  for (absl::string_view bad : {"", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
                                "\xe2\x82"}) {
    EXPECT_EQ(DecodeUtf8(bad, &code_point), 0) << absl::CHexEscape(bad);
    EXPECT_EQ(code_point, 7u);
  }
}

}  // namespace
}  // namespace berth::common
