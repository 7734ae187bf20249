#include "common/files.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace berth::common {

absl::Status CreateParentDirectories(const std::string& path, absl::string_view what) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("create ", what, " ", parent.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace berth::common
