#include "common/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace berth::common {

bool WriteAll(int fd, absl::string_view contents) {
  while (!contents.empty()) {
    ssize_t written = write(fd, contents.data(), contents.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    contents.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

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
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
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

namespace {

// Deeper trees than this are refused rather than recursed into (each level holds a descriptor).
constexpr int kMaxTreeDepth = 64;

// Removes `name` in the directory `dir_fd` (described as `where` in errors).
absl::Status RemoveAt(int dir_fd, const std::string& where, const std::string& name, int depth) {
  const std::string path = absl::StrCat(where, "/", name);
  if (unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return absl::OkStatus();
  if (errno != EISDIR && errno != EPERM) return Errno("remove", path);
  // A directory (Linux answers EISDIR): empty it first, through a descriptor of its own.
  if (depth >= kMaxTreeDepth) {
    return absl::UnavailableError(absl::StrCat("remove ", path, ": nested too deep"));
  }
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? absl::OkStatus() : Errno("open", path);
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    absl::Status status = Errno("read", path);
    close(fd);
    return status;
  }
  std::vector<std::string> entries;
  while (dirent* entry = readdir(dir)) {
    const std::string child = entry->d_name;
    if (child != "." && child != "..") entries.push_back(child);
  }
  absl::Status status = absl::OkStatus();
  for (const std::string& child : entries) {
    absl::Status removed = RemoveAt(dirfd(dir), path, child, depth + 1);
    if (status.ok()) status = removed;
  }
  closedir(dir);
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && status.ok()) {
    status = Errno("remove", path);
  }
  return status;
}

}  // namespace

absl::Status RemoveTreeAt(const std::string& parent, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("not a plain name: '", name, "'"));
  }
  int parent_fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0) return errno == ENOENT ? absl::OkStatus() : Errno("open", parent);
  absl::Status status = RemoveAt(parent_fd, parent, name, 0);
  close(parent_fd);
  return status;
}

}  // namespace berth::common
