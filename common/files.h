#ifndef BERTH_COMMON_FILES_H_
#define BERTH_COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// A short message for errno `error_number`, prefixed by `context`: "context: strerror".
std::string ErrnoMessage(absl::string_view context, int error_number);

// Writes all of `contents` to `fd`, retrying short writes and EINTR; false (errno set) when a
// write fails.
bool WriteAll(int fd, absl::string_view contents);

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

// Removes the entry `name` of the directory `parent` and, for a directory, everything in it,
// never following a symbolic link (a link is removed, not what it points to) and never opening
// anything but directories (no FIFO can block it). OK when it does not exist. UNAVAILABLE names
// what could not be removed (a directory it may not write to, say); what it could is gone.
// `name` must be a single path component.
absl::Status RemoveTreeAt(const std::string& parent, const std::string& name);

}  // namespace berth::common

#endif  // BERTH_COMMON_FILES_H_
