#ifndef BERTH_DOCKER_SVC_ENGINE_EVENT_LINES_H_
#define BERTH_DOCKER_SVC_ENGINE_EVENT_LINES_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "docker-svc/engine/docker_client.h"

namespace berth::docker::engine_json {

// Docker's event stream as it arrives: bytes in pieces of any size, one JSON event per line.
// Whatever the pieces, the events handed on are the same, in the same order. Not thread-safe.
class EventLineReader {
 public:
  // Takes an event; false stops the stream.
  using OnEvent = std::function<bool(const Event&)>;

  // The longest line kept while it is incomplete.
  static constexpr size_t kMaxLineBytes = 1 << 20;

  // Takes the stream's next bytes: each line they complete (surrounding whitespace stripped,
  // blank lines skipped) is parsed and handed to `on_event`. OK while it takes them; CANCELLED
  // once it returns false (the rest of the bytes are not read); INTERNAL "watch events: ..."
  // for a line that does not parse, or for an incomplete line longer than kMaxLineBytes. After
  // an error the reader must not be used again.
  absl::Status Append(absl::string_view data, const OnEvent& on_event);

  // The stream ended: a last line without its newline is handed on as Append does; the same
  // results.
  absl::Status Finish(const OnEvent& on_event);

 private:
  absl::Status Deliver(absl::string_view line, const OnEvent& on_event);

  std::string pending_;  // bytes of a line not yet complete
};

}  // namespace berth::docker::engine_json

#endif  // BERTH_DOCKER_SVC_ENGINE_EVENT_LINES_H_
