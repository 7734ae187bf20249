#ifndef BERTH_COMMON_LOGGING_H_
#define BERTH_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/sinks/sink.h"
#include "spdlog/spdlog.h"

namespace berth::common {

// Sets up the process-wide default logger named `name` at `level` (trace, debug, info, warn,
// error, critical, off). Under systemd (stderr is the journal, per $JOURNAL_STREAM) lines go to
// journald with their priority; otherwise to stderr with a timestamp.
//
// Log lines cannot be forged: whatever a message holds (a Stop's reason, ids, user names,
// Docker's errors), its text reaches every sink escaped by EscapeLogText - one message is one
// line on stderr and one MESSAGE= field in the journal, and nothing in it drives a terminal.
// INVALID_ARGUMENT for an unknown level. Call once, from main, before any thread logs.
absl::Status InitLogging(absl::string_view name, absl::string_view level);

// True when stderr is connected to the journal (systemd set $JOURNAL_STREAM to it).
bool StderrIsJournal();

// `text` with everything that could end a log line, forge another, or drive a terminal or a
// log viewer escaped: CR, LF and TAB as \r, \n and \t; the other C0 controls, DEL and every
// byte that is not part of valid UTF-8 as \xHH; the C1 controls, the Unicode line and
// paragraph separators and the bidirectional controls as \uHHHH. Printable ASCII, valid UTF-8
// text and backslashes are kept as they are (so the escaping is for safety, not reversible).
std::string EscapeLogText(absl::string_view text);

// A sink that hands every message to `inner` with its text escaped by EscapeLogText (the
// logger InitLogging sets up writes through one). Thread-safe when `inner` is.
std::shared_ptr<spdlog::sinks::sink> MakeEscapingSink(std::shared_ptr<spdlog::sinks::sink> inner);

}  // namespace berth::common

#endif  // BERTH_COMMON_LOGGING_H_
