// Fuzz target: Docker's event stream as docker-svc reads it (docker-svc/engine/event_lines:
// bytes in pieces, one JSON event per line). Input: one byte that seeds how the stream is cut,
// then the stream's bytes.
//
// Properties: read whole, read one byte at a time and read in pieces of varying sizes, the
// stream hands on the same events in the same order and ends with the same status (OK, or the
// same INTERNAL error), for streams up to the line limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "docker-svc/engine/event_lines.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ::berth::docker::Event;
using ::berth::docker::engine_json::EventLineReader;

struct Read {
  std::vector<std::string> events;
  absl::Status status;
};

// One event as text, every field in it.
std::string Describe(const Event& event) {
  std::vector<std::string> attributes;
  for (const auto& [key, value] : event.attributes) attributes.push_back(key + "=" + value);
  return absl::StrCat(event.type, "|", event.action, "|", event.actor_id, "|",
                      absl::StrJoin(attributes, ","), "|", absl::FormatTime(event.time));
}

// Reads `stream` cut by `next_piece` (which gives each piece's size, at least 1).
template <typename NextPiece>
Read ReadCut(absl::string_view stream, NextPiece next_piece) {
  Read read;
  EventLineReader reader;
  auto on_event = [&read](const Event& event) {
    read.events.push_back(Describe(event));
    return true;
  };
  while (!stream.empty()) {
    const size_t piece = std::min(next_piece(), stream.size());
    read.status = reader.Append(stream.substr(0, piece), on_event);
    if (!read.status.ok()) return read;
    stream.remove_prefix(piece);
  }
  read.status = reader.Finish(on_event);
  return read;
}

void CheckSame(const Read& a, const Read& b, const char* how) {
  FUZZ_CHECK(a.status == b.status,
             absl::StrCat(how, ": ", a.status.ToString(), " vs ", b.status.ToString()));
  FUZZ_CHECK(a.events == b.events, absl::StrCat(how, ":\n", absl::StrJoin(a.events, "\n"),
                                                "\nvs\n", absl::StrJoin(b.events, "\n")));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view stream = berth::fuzz::AsText(data, size);
  // Past the line limit, where the cut falls decides which error comes first (an incomplete
  // line too long, or the complete line's parse error): both are refusals, not the same one.
  if (stream.size() > EventLineReader::kMaxLineBytes) return 0;
  uint32_t seed = berth::fuzz::TakeSelector(stream) | 1u;
  const Read whole = ReadCut(stream, [&] { return stream.size(); });
  FUZZ_CHECK(whole.status.ok() || whole.status.code() == absl::StatusCode::kInternal,
             whole.status.ToString());
  CheckSame(whole, ReadCut(stream, [] { return size_t{1}; }), "byte by byte");
  CheckSame(whole, ReadCut(stream, [&seed] {
              seed = seed * 1103515245u + 12345u;  // pieces of 1 to 64 bytes
              return size_t{1} + (seed >> 16) % 64;
            }),
            "in pieces");
  return 0;
}
