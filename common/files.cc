#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace berth::common {

std::string ErrnoMessage(absl::string_view context, int error_number) {
  return absl::StrCat(context, ": ", std::strerror(error_number));
}

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

namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(ErrnoMessage(absl::StrCat(what, " ", path), errno));
}

// Writes all of `contents` to `fd`.
bool WriteAll(int fd, absl::string_view contents) {
  while (!contents.empty()) {
    ssize_t written = write(fd, contents.data(), contents.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    contents.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return Errno("open", path);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return Errno("read", path);
  return contents.str();
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 unsigned mode) {
  const std::filesystem::path target(path);
  const std::string dir = target.parent_path().empty() ? "." : target.parent_path().string();
  const std::string temp = absl::StrCat(dir, "/.", target.filename().string(), ".tmp");
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno("create", temp);
  if (!WriteAll(fd, contents) || fsync(fd) != 0) {
    absl::Status status = Errno("write", temp);
    close(fd);
    unlink(temp.c_str());
    return status;
  }
  if (fchmod(fd, mode) != 0 || close(fd) != 0) {
    unlink(temp.c_str());
    return Errno("close", temp);
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status status = Errno("rename onto", path);
    unlink(temp.c_str());
    return status;
  }
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Errno("open directory", dir);
  const bool synced = fsync(dir_fd) == 0;
  close(dir_fd);
  if (!synced) return Errno("fsync directory", dir);
  return absl::OkStatus();
}

}  // namespace berth::common
