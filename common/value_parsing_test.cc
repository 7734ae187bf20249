#include "common/value_parsing.h"

#include "common/box_id.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseIntRangeTest, ParsesHalfOpenRanges) {
  ASSERT_OK_AND_ASSIGN(IntRange range, ParseIntRange("10-64", 0, 100, "--r"));
  EXPECT_EQ(range.begin, 10);
  EXPECT_EQ(range.end, 64);
  EXPECT_EQ(range.size(), 54);
  EXPECT_TRUE(range.Contains(10));
  EXPECT_FALSE(range.Contains(64));
}

TEST(ParseIntRangeTest, RejectsMalformedEmptyAndOutOfBounds) {
  for (const char* text : {"", "10", "10-", "-10", "a-b", "10-64-70", "64-10", "10-10", "0-101"}) {
    EXPECT_THAT(ParseIntRange(text, 0, 100, "--r"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--r")))
        << text;
  }
}

TEST(ParsePortListTest, ParsesPortsAndRangesSortedAndDistinct) {
  ASSERT_OK_AND_ASSIGN(std::vector<uint16_t> ports, ParsePortList("4678, 30002-30004,4678,1"));
  EXPECT_THAT(ports, ElementsAre(1, 4678, 30002, 30003, 30004));
  ASSERT_OK_AND_ASSIGN(ports, ParsePortList(""));
  EXPECT_THAT(ports, IsEmpty());
}

TEST(ParsePortListTest, RejectsBadEntries) {
  for (const char* text : {"0", "65536", "x", "10-5", "1-2-3", "80,,http"}) {
    EXPECT_THAT(ParsePortList(text), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port list")))
        << text;
  }
}

TEST(ParseIndexListTest, ParsesDistinctIndexes) {
  ASSERT_OK_AND_ASSIGN(std::vector<int32_t> indexes, ParseIndexList("2,0,1", 7, "--gpus"));
  EXPECT_THAT(indexes, ElementsAre(2, 0, 1));
  EXPECT_THAT(ParseIndexList("1,1", 7, "--gpus"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(ParseIndexList("8", 7, "--gpus"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--gpus")));
}

TEST(ValidateBoxIdTest, AcceptsUuidsAndTheAllowedAlphabet) {
  EXPECT_THAT(ValidateBoxId("0b7a6c2e-1f7d-4a8e-9b43-3c1d2e5f6a7b"), IsOk());
  EXPECT_THAT(ValidateBoxId("a"), IsOk());
  EXPECT_THAT(ValidateBoxId("A_b.c-9"), IsOk());
  EXPECT_THAT(ValidateBoxId(std::string(64, 'x')), IsOk());
}

TEST(ValidateBoxIdTest, RejectsWithAReason) {
  EXPECT_THAT(ValidateBoxId(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ValidateBoxId(std::string(65, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("65")));
  EXPECT_THAT(ValidateBoxId(".x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("starts")));
  EXPECT_THAT(ValidateBoxId("-x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("starts")));
  for (const char* bad : {"a/b", "a b", "a\nb", "ä", "a:b"}) {
    EXPECT_THAT(ValidateBoxId(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("allowed")))
        << bad;
  }
}

}  // namespace
}  // namespace berth::common
