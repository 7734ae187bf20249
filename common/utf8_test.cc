#include "common/utf8.h"

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

}  // namespace
}  // namespace berth::common
