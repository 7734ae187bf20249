#include "common/files.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::ReadFileOrEmpty;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;

TEST(WriteFileAtomicallyTest, WritesReplacesAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.File("tty");
  ASSERT_THAT(WriteFileAtomically(path, "11"), IsOk());
  EXPECT_EQ(ReadFileOrEmpty(path), "11");
  ASSERT_THAT(WriteFileAtomically(path, "12", 0600), IsOk());
  EXPECT_EQ(ReadFileOrEmpty(path), "12");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(WriteFileAtomicallyTest, ModeIsExactWhateverTheUmask) {
  TempDir dir;
  const mode_t old = umask(0077);
  absl::Status written = WriteFileAtomically(dir.File("a"), "x", 0644);
  umask(old);
  ASSERT_THAT(written, IsOk());
  struct stat st {};
  ASSERT_EQ(stat(dir.File("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(WriteFileAtomicallyTest, AMissingDirectoryIsUnavailableAndNamed) {
  TempDir dir;
  EXPECT_THAT(WriteFileAtomically(dir.File("missing/a"), "x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("missing")));
}

TEST(ReadFileTest, ReadsEveryByteAndNamesAMissingFile) {
  TempDir dir;
  const std::string bytes("a\0b\n", 4);
  ASSERT_THAT(WriteFileAtomically(dir.File("f"), bytes), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string read, ReadFile(dir.File("f")));
  EXPECT_EQ(read, bytes);
  EXPECT_THAT(ReadFile(dir.File("missing")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  EXPECT_EQ(ReadFileOrEmpty(dir.File("missing")), "");
}

TEST(CreateParentDirectoriesTest, CreatesEveryMissingParent) {
  TempDir dir;
  ASSERT_THAT(CreateParentDirectories(dir.File("a/b/c.sock"), "socket directory"), IsOk());
  EXPECT_TRUE(std::filesystem::is_directory(dir.File("a/b")));
  std::ofstream(dir.File("file")) << "";
  EXPECT_THAT(CreateParentDirectories(dir.File("file/x/y"), "state directory"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("state directory")));
}

}  // namespace
}  // namespace berth::common
