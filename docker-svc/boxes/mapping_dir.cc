#include "docker-svc/boxes/mapping_dir.h"

#include <fcntl.h>
#include <sys/random.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace berth::docker {
namespace {

using common::UniqueFd;

// Tries this many temporary names before giving up: a box cannot guess them, so a clash means
// something else is wrong.
constexpr int kTempNameAttempts = 8;

// FAILED_PRECONDITION for what the box's doings explain (it filled its directory, put a
// directory or a link where a file goes, took docker-svc's permissions away, or is gone),
// UNAVAILABLE for the rest (docker-svc out of descriptors or memory, an I/O error).
absl::Status Failure(absl::string_view what, const std::string& path, int error_number) {
  const std::string message =
      common::ErrnoMessage(absl::StrCat(what, " ", path), error_number);
  switch (error_number) {
    case ENOSPC: case EDQUOT: case EISDIR: case ENOTDIR: case EEXIST: case ELOOP:
    case EACCES: case EPERM: case ENOTEMPTY: case EMLINK: case EROFS: case ENOENT:
      return absl::FailedPreconditionError(message);
    default:
      return absl::UnavailableError(message);
  }
}

// A name no box can guess: ".berth-<24 random hex digits>.tmp".
std::string TempName() {
  unsigned char bytes[12] = {};
  size_t done = 0;
  while (done < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + done, sizeof(bytes) - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // never on Linux 3.17+; the O_EXCL create still refuses a clash
    done += static_cast<size_t>(n);
  }
  std::string name = ".berth-";
  for (unsigned char byte : bytes) absl::StrAppendFormat(&name, "%02x", byte);
  return name + ".tmp";
}

// Whether `fd` is on a tmpfs; nullopt when that cannot be told.
std::optional<bool> IsTmpfs(int fd) {
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0) return std::nullopt;
  return fs.f_type == TMPFS_MAGIC;
}

// Creates a file of a new, unpredictable name in `dir_fd` with `contents` (mode 0644, whatever
// the umask) and renames it over `name`.
absl::Status ReplaceAt(int dir_fd, const std::string& dir, const std::string& name,
                       absl::string_view contents) {
  std::string temp;
  UniqueFd fd;
  for (int attempt = 0; attempt < kTempNameAttempts && !fd.valid(); ++attempt) {
    temp = TempName();
    fd = UniqueFd(openat(dir_fd, temp.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
    if (!fd.valid() && errno != EEXIST) {
      return Failure("create a file in", dir, errno);
    }
  }
  if (!fd.valid()) return Failure("create a file in", dir, EEXIST);
  auto abandon = [&](absl::string_view what, int error_number) {
    unlinkat(dir_fd, temp.c_str(), 0);
    return Failure(what, absl::StrCat(dir, "/", name), error_number);
  };
  // The descriptor is of the file just made, so changing its mode touches nothing else.
  if (!common::WriteAll(fd.get(), contents)) return abandon("write", errno);
  if (fchmod(fd.get(), 0644) != 0) return abandon("chmod", errno);
  if (!fd.Close()) return abandon("close", errno);
  if (renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
    return abandon("rename onto", errno);
  }
  return absl::OkStatus();
}

}  // namespace

std::string HostPortFileName(const allocator::v1::PortBinding& port) {
  return absl::StrCat("hostPort_for_my_", port.container_port(), "_",
                      port.protocol() == allocator::v1::PROTOCOL_UDP ? "udp" : "tcp");
}

absl::Status MappingDir::WriteFiles(
    const std::vector<std::pair<std::string, std::string>>& files) const {
  // The directory itself is Docker's mountpoint (or, for an old box, docker-svc's own
  // directory); only what is inside it may be the box's doing.
  if (path_.empty()) return absl::FailedPreconditionError("the box has no mapping directory yet");
  UniqueFd dir_fd(open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd.valid()) return Failure("open mapping directory", path_, errno);
  if (own_filesystem_ && !IsTmpfs(dir_fd.get()).value_or(true)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the mapping directory ", path_,
        " is not mounted on the host (the box stopped, or a restart of the Docker engine "
        "detached it)"));
  }
  for (const auto& [name, contents] : files) {
    RETURN_IF_ERROR(ReplaceAt(dir_fd.get(), path_, name, contents));
  }
  return absl::OkStatus();
}

absl::Status MappingDir::WriteStartupParams(const StartupParams& params) const {
  std::vector<std::pair<std::string, std::string>> files;
  if (params.tty >= 0) files.emplace_back("tty", absl::StrCat(params.tty));
  files.emplace_back("gpu_index", absl::StrCat(params.gpu_index >= 0 ? params.gpu_index : 0));
  for (const allocator::v1::PortBinding& port : params.ports) {
    files.emplace_back(HostPortFileName(port), absl::StrCat(port.host_port()));
  }
  files.emplace_back("timeout", absl::StrCat(params.timeout_seconds));
  if (params.session_id) files.emplace_back("session_id", *params.session_id);
  if (params.dpi > 0) files.emplace_back("DPI", absl::StrCat(params.dpi));
  files.emplace_back(".paramsReady", ".paramsReady");
  return WriteFiles(files);
}

absl::Status MappingDir::WriteSessionId(absl::string_view session_id) const {
  return WriteFiles({{"session_id", std::string(session_id)}});
}

absl::Status MappingDir::WriteConfig(absl::string_view json) const {
  return WriteFiles({{"config.json", std::string(json)}});
}

bool MappingDir::Reachable() const {
  UniqueFd dir_fd(open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return dir_fd.valid() && (!own_filesystem_ || IsTmpfs(dir_fd.get()).value_or(false));
}

bool MappingDir::Detached() const {
  if (!own_filesystem_) return false;
  UniqueFd dir_fd(open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return dir_fd.valid() && !IsTmpfs(dir_fd.get()).value_or(true);
}

bool MappingDir::Has(absl::string_view name) const {
  if (path_.empty() || name.empty() || absl::StrContains(name, '/')) return false;
  struct stat ignored;
  const std::string path = absl::StrCat(path_, "/", name);
  return fstatat(AT_FDCWD, path.c_str(), &ignored, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace berth::docker
