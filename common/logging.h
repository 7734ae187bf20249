#ifndef BERTH_COMMON_LOGGING_H_
#define BERTH_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace berth::common {

// Sets up the process-wide default logger named `name` at `level` (trace, debug, info, warn,
// error, critical, off). Under systemd (stderr is the journal, per $JOURNAL_STREAM) lines go to
// journald with their priority; otherwise to stderr with a timestamp.
// INVALID_ARGUMENT for an unknown level. Call once, from main, before any thread logs.
absl::Status InitLogging(absl::string_view name, absl::string_view level);

// True when stderr is connected to the journal (systemd set $JOURNAL_STREAM to it).
bool StderrIsJournal();

}  // namespace berth::common

#endif  // BERTH_COMMON_LOGGING_H_
