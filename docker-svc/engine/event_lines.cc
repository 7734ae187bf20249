#include "docker-svc/engine/event_lines.h"

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "docker-svc/engine/engine_json.h"

namespace berth::docker::engine_json {

absl::Status EventLineReader::Deliver(absl::string_view line, const OnEvent& on_event) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty()) return absl::OkStatus();
  absl::StatusOr<Event> event = ParseEvent(line);
  if (!event.ok()) {
    return absl::InternalError(absl::StrCat("watch events: ", event.status().message()));
  }
  if (!on_event(*event)) return absl::CancelledError("watch events: stopped by its reader");
  return absl::OkStatus();
}

absl::Status EventLineReader::Append(absl::string_view data, const OnEvent& on_event) {
  pending_.append(data.data(), data.size());
  size_t start = 0;
  absl::Status delivered;
  for (size_t newline; delivered.ok() && (newline = pending_.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    delivered = Deliver(absl::string_view(pending_).substr(start, newline - start), on_event);
  }
  pending_.erase(0, start);
  if (!delivered.ok()) return delivered;
  if (pending_.size() > kMaxLineBytes) {
    return absl::InternalError("watch events: an event line exceeds 1 MiB");
  }
  return absl::OkStatus();
}

absl::Status EventLineReader::Finish(const OnEvent& on_event) {
  std::string last = std::move(pending_);
  pending_.clear();
  return Deliver(last, on_event);
}

}  // namespace berth::docker::engine_json
