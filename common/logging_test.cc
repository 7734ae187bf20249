#include "common/logging.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;

TEST(LoggingTest, KnownLevelsAreSetAndUnknownOnesRefused) {
  ASSERT_THAT(InitLogging("test", "debug"), IsOk());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  EXPECT_EQ(spdlog::default_logger()->name(), "test");
  ASSERT_THAT(InitLogging("test", "off"), IsOk());
  EXPECT_THAT(InitLogging("test", "loud"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("loud")));
}

TEST(LoggingTest, StderrIsTheJournalOnlyWhenJournalStreamNamesIt) {
  unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
  struct stat st {};
  ASSERT_EQ(fstat(fileno(stderr), &st), 0);
  setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino).c_str(), 1);
  EXPECT_TRUE(StderrIsJournal());
  setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino + 1).c_str(), 1);
  EXPECT_FALSE(StderrIsJournal());
  setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(StderrIsJournal());
  unsetenv("JOURNAL_STREAM");
}

}  // namespace
}  // namespace berth::common
