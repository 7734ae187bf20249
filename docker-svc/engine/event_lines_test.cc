#include "docker-svc/engine/event_lines.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker::engine_json {
namespace {

using ::berth::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string EventLine(const std::string& action, const std::string& id) {
  return absl::StrCat(R"({"Type":"container","Action":")", action, R"(","Actor":{"ID":")", id,
                      R"(","Attributes":{}},"time":1700000000})");
}

// Reads `stream` in pieces of `piece` bytes; the actions and ids handed on, and the status of
// the last call (Finish's when every Append was OK).
struct Read {
  std::vector<std::string> events;
  absl::Status status;
};
Read ReadInPieces(const std::string& stream, size_t piece, int stop_after = -1) {
  Read read;
  EventLineReader reader;
  auto on_event = [&read, stop_after](const Event& event) {
    read.events.push_back(absl::StrCat(event.action, ":", event.actor_id));
    return stop_after < 0 || static_cast<int>(read.events.size()) < stop_after;
  };
  for (size_t at = 0; at < stream.size(); at += piece) {
    read.status = reader.Append(absl::string_view(stream).substr(at, piece), on_event);
    if (!read.status.ok()) return read;
  }
  read.status = reader.Finish(on_event);
  return read;
}

TEST(EventLineReaderTest, HandsOnTheSameEventsWhateverThePieces) {
  const std::string stream = absl::StrCat(EventLine("create", "a"), "\n", "  \r\n",
                                          EventLine("start", "a"), "\r\n",
                                          EventLine("die", "b"));  // the last without "\n"
  for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, stream.size()}) {
    Read read = ReadInPieces(stream, piece);
    EXPECT_OK(read.status) << piece;
    EXPECT_THAT(read.events, ElementsAre("create:a", "start:a", "die:b")) << piece;
  }
}

TEST(EventLineReaderTest, StopsWhereItsReaderSaysSo) {
  const std::string stream =
      absl::StrCat(EventLine("create", "a"), "\n", EventLine("start", "a"), "\n");
  Read read = ReadInPieces(stream, stream.size(), /*stop_after=*/1);
  EXPECT_THAT(read.status, StatusIs(absl::StatusCode::kCancelled, HasSubstr("stopped")));
  EXPECT_THAT(read.events, ElementsAre("create:a"));
}

TEST(EventLineReaderTest, ALineThatDoesNotParseIsAnError) {
  Read read = ReadInPieces(absl::StrCat("{not json\n", EventLine("start", "a"), "\n"), 4);
  EXPECT_THAT(read.status, StatusIs(absl::StatusCode::kInternal, HasSubstr("watch events: ")));
  EXPECT_THAT(read.events, IsEmpty());
}

TEST(EventLineReaderTest, AnIncompleteLineOverOneMebibyteIsAnError) {
  EventLineReader reader;
  auto on_event = [](const Event&) { return true; };
  const std::string half(EventLineReader::kMaxLineBytes / 2, ' ');
  EXPECT_OK(reader.Append(half, on_event));
  EXPECT_OK(reader.Append(half, on_event));
  EXPECT_THAT(reader.Append("x", on_event),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("exceeds 1 MiB")));
}

}  // namespace
}  // namespace berth::docker::engine_json
