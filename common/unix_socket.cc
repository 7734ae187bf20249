#include "common/unix_socket.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace berth::common {
namespace {

// True when a server accepts connections on the socket at `path`.
bool SomeoneAnswers(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool answered = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return answered;
}

}  // namespace

absl::StatusOr<std::string> UnixSocketPath(absl::string_view address) {
  absl::string_view path = address;
  if (!absl::ConsumePrefix(&path, "unix:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" is not of the form unix:/path"));
  }
  if (absl::StartsWith(path, "///")) path.remove_prefix(2);
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("listen address \"", address, "\" has no path"));
  }
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path \"", path, "\" is longer than ",
                                                   sizeof(sockaddr_un{}.sun_path) - 1, " bytes"));
  }
  return std::string(path);
}

absl::StatusOr<UnixSocketClaim> UnixSocketClaim::Claim(absl::string_view address) {
  absl::StatusOr<std::string> path = UnixSocketPath(address);
  if (!path.ok()) return path.status();

  if (absl::Status made = CreateParentDirectories(*path, "socket directory"); !made.ok()) {
    return made;
  }

  const std::string lock_path = absl::StrCat(*path, ".lock");
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return absl::FailedPreconditionError(ErrnoMessage(absl::StrCat("open ", lock_path), errno));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int error_number = errno;
    close(lock_fd);
    if (error_number == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another server is running on ", *path, " (it holds ", lock_path, "); not starting"));
    }
    return absl::FailedPreconditionError(ErrnoMessage(absl::StrCat("lock ", lock_path), error_number));
  }
  // Until the claim exists, a refusal must close the lock and leave the path alone.
  auto refuse = [lock_fd](absl::Status status) {
    close(lock_fd);
    return status;
  };
  struct stat st {};
  if (lstat(path->c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return refuse(absl::FailedPreconditionError(
          absl::StrCat(*path, " exists and is not a socket; not removing it")));
    }
    if (SomeoneAnswers(*path)) {
      return refuse(absl::FailedPreconditionError(
          absl::StrCat("a server already answers on ", *path, "; not starting")));
    }
    if (unlink(path->c_str()) != 0 && errno != ENOENT) {
      return refuse(absl::FailedPreconditionError(
          ErrnoMessage(absl::StrCat("remove stale socket ", *path), errno)));
    }
  }
  return UnixSocketClaim(*path, lock_fd);
}

UnixSocketClaim::UnixSocketClaim(UnixSocketClaim&& other) noexcept
    : path_(std::move(other.path_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

UnixSocketClaim::~UnixSocketClaim() {
  if (lock_fd_ < 0) return;
  unlink(path_.c_str());
  close(lock_fd_);
}

absl::Status UnixSocketClaim::RestrictMode(const std::string& group) const {
  if (!group.empty()) {
    struct group entry {};
    struct group* found = nullptr;
    std::vector<char> buffer(16384);
    if (getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("socket group ", group, " does not exist"));
    }
    if (chown(path_.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      return absl::FailedPreconditionError(ErrnoMessage(
          absl::StrCat("give ", path_, " to group ", group, " (the daemon must be in it)"),
          errno));
    }
  }
  if (chmod(path_.c_str(), 0660) != 0) {
    return absl::InternalError(ErrnoMessage(absl::StrCat("chmod 0660 ", path_), errno));
  }
  return absl::OkStatus();
}

}  // namespace berth::common
