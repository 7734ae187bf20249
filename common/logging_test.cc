#include "common/logging.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
using ::testing::Not;

// What a hostile caller puts into free text that gets logged (a Stop's reason, say): a line
// break and a line of its own, a carriage return, terminal colours and a byte that is no UTF-8.
constexpr char kForged[] =
    "bye\n2026-01-01T00:00:00.000 I berth[1]: forged\r\x1b[31mred\x1b[0m\xff";
// The same, escaped.
constexpr char kForgedEscaped[] =
    "bye\\n2026-01-01T00:00:00.000 I berth[1]: forged\\r\\x1b[31mred\\x1b[0m\\xff";

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

TEST(EscapeLogTextTest, EscapesWhatCouldForgeALineOrDriveATerminal) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"plain text: box b-1.2_3 {ok} \\ 100%", "plain text: box b-1.2_3 {ok} \\ 100%"},
      {"a\nb\rc\td", "a\\nb\\rc\\td"},
      {"\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"del\x7f", "del\\x7f"},
      // Valid UTF-8 is kept.
      {"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"},
      // Bytes that are not UTF-8: stray, truncated, overlong, a surrogate, past U+10FFFF.
      {"\xff\xfe", "\\xff\\xfe"},
      {"cut \xe2\x9c", "cut \\xe2\\x9c"},
      {"\xc0\xaf", "\\xc0\\xaf"},
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
      {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
      // C1 controls (NEL, CSI), line and paragraph separators, bidirectional overrides.
      {"a\xc2\x85"
       "b\xc2\x9b"
       "31m",
       "a\\u0085b\\u009b31m"},
      {"a\xe2\x80\xa8"
       "b\xe2\x80\xa9",
       "a\\u2028b\\u2029"},
      {"\xe2\x80\xae"
       "evil\xe2\x81\xa6",
       "\\u202eevil\\u2066"},
  };
  for (const auto& [text, escaped] : cases) {
    EXPECT_EQ(EscapeLogText(text), escaped) << "for " << ::testing::PrintToString(text);
  }
}

// Through the logger InitLogging sets up for stderr: one message is one line, escaped.
TEST(LoggingTest, AMessageCannotForgeALineOnStderr) {
  unsetenv("JOURNAL_STREAM");
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string captured = dir.File("stderr");
  const int file = open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(file, 0) << std::strerror(errno);
  std::fflush(stderr);
  const int saved_stderr = dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  ASSERT_EQ(dup2(file, STDERR_FILENO), STDERR_FILENO);
  absl::Status initialized = InitLogging("test", "info");
  spdlog::warn("stop reason: {}", kForged);
  spdlog::default_logger()->flush();
  std::fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  close(file);
  ASSERT_THAT(initialized, IsOk());

  const std::string out = ReadFileOrEmpty(captured);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_THAT(
      out, HasSubstr(absl::StrCat(" W test[", getpid(), "]: stop reason: ", kForgedEscaped, "\n")));
  EXPECT_THAT(out, Not(HasSubstr("\r")));
  EXPECT_THAT(out, Not(HasSubstr("\x1b")));
}

// journald's native protocol: per field "NAME=value\n", or, for a value holding a newline,
// "NAME\n" + its length (64-bit little endian) + value + "\n".
struct JournalEntry {
  std::map<std::string, std::string> fields;
  std::vector<std::string> binary_fields;  // Sent in the second form.
};

JournalEntry ParseJournalDatagram(const std::string& datagram) {
  JournalEntry entry;
  size_t i = 0;
  while (i < datagram.size()) {
    const size_t end = datagram.find('\n', i);
    if (end == std::string::npos) break;
    const std::string line = datagram.substr(i, end - i);
    if (const size_t equals = line.find('='); equals != std::string::npos) {
      entry.fields[line.substr(0, equals)] = line.substr(equals + 1);
      i = end + 1;
      continue;
    }
    uint64_t length = 0;
    if (end + 1 + 8 > datagram.size()) break;
    for (int b = 7; b >= 0; --b) {
      length = (length << 8) | static_cast<unsigned char>(datagram[end + 1 + b]);
    }
    entry.fields[line] = datagram.substr(end + 1 + 8, length);
    entry.binary_fields.push_back(line);
    i = end + 1 + 8 + length + 1;
  }
  return entry;
}

// Through the logger InitLogging sets up under systemd: the message goes to journald (here a
// socket standing in for it at /run/systemd/journal/socket, in a private mount namespace of a
// child process, so no real journal is touched) as one escaped line in MESSAGE=.
TEST(LoggingTest, AMessageCannotForgeALineInTheJournal) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto fail = [&](const std::string& what) {
      const std::string message = absl::StrCat("ERROR ", what, ": ", std::strerror(errno));
      (void)!write(pipe_fds[1], message.data(), message.size());
      _exit(1);
    };
    if (unshare(CLONE_NEWNS) != 0) fail("unshare(CLONE_NEWNS) (run as root)");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make / private");
    if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) {
      fail("mount a tmpfs on /run");
    }
    if (mkdir("/run/systemd", 0755) != 0 || mkdir("/run/systemd/journal", 0755) != 0) {
      fail("mkdir /run/systemd/journal");
    }
    const int journal = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, "/run/systemd/journal/socket");
    if (journal < 0 || bind(journal, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      fail("bind /run/systemd/journal/socket");
    }
    struct stat st {};
    fstat(STDERR_FILENO, &st);
    setenv("JOURNAL_STREAM", absl::StrCat(st.st_dev, ":", st.st_ino).c_str(), 1);
    if (!InitLogging("test", "info").ok()) fail("InitLogging");
    spdlog::info("stop reason: {}", kForged);
    timeval timeout{30, 0};
    setsockopt(journal, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::vector<char> datagram(1 << 16);
    const ssize_t received = recv(journal, datagram.data(), datagram.size(), 0);
    if (received < 0) fail("receive the journal's datagram");
    (void)!write(pipe_fds[1], datagram.data(), static_cast<size_t>(received));
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string datagram;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) datagram.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << datagram;

  JournalEntry entry = ParseJournalDatagram(datagram);
  EXPECT_EQ(entry.fields["MESSAGE"], absl::StrCat("stop reason: ", kForgedEscaped))
      << ::testing::PrintToString(datagram);
  EXPECT_THAT(entry.binary_fields, ::testing::IsEmpty()) << "a field held a newline";
  EXPECT_EQ(entry.fields["PRIORITY"], "6");
  EXPECT_EQ(entry.fields["SYSLOG_IDENTIFIER"], "test");
  EXPECT_THAT(datagram, Not(HasSubstr("\x1b")));
}

}  // namespace
}  // namespace berth::common
