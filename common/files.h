#ifndef BERTH_COMMON_FILES_H_
#define BERTH_COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// Creates the directory holding `path` and any missing parents (mode 0755 as umask allows).
// FAILED_PRECONDITION names `what` ("socket directory", "state directory") and the reason.
absl::Status CreateParentDirectories(const std::string& path, absl::string_view what);

}  // namespace berth::common

#endif  // BERTH_COMMON_FILES_H_
