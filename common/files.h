#ifndef BERTH_COMMON_FILES_H_
#define BERTH_COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// A short message for errno `error_number`, prefixed by `context`: "context: strerror".
std::string ErrnoMessage(absl::string_view context, int error_number);

// Creates the directory holding `path` and any missing parents (mode 0755 as umask allows).
// FAILED_PRECONDITION names `what` ("socket directory", "state directory") and the reason.
absl::Status CreateParentDirectories(const std::string& path, absl::string_view what);

// The whole contents of the file at `path`. NOT_FOUND when it does not exist, UNAVAILABLE when
// it cannot be read; both name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces the file at `path` with `contents` so that a reader sees either the old file or the
// whole new one, never a part: writes "<dir>/.<name>.tmp", fsyncs it, renames it over `path`
// and fsyncs the directory. The file gets `mode` (before umask). UNAVAILABLE names the path
// and the reason.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 unsigned mode = 0644);

}  // namespace berth::common

#endif  // BERTH_COMMON_FILES_H_
