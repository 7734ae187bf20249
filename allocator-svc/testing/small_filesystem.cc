#include "allocator-svc/testing/small_filesystem.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace berth::testing {
namespace {

constexpr char kFiller[] = ".filler";

}  // namespace

absl::StatusOr<std::unique_ptr<SmallFilesystem>> SmallFilesystem::Mount(const std::string& dir,
                                                                        uint64_t bytes) {
  const std::string options = absl::StrCat("size=", bytes, ",mode=0755");
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    const int error = errno;
    const std::string message =
        absl::StrCat("mount -t tmpfs -o ", options, " tmpfs ", dir, ": ", std::strerror(error));
    if (error == EPERM) {
      return absl::FailedPreconditionError(
          absl::StrCat(message, " (full-disk tests mount a small tmpfs: run them as root)"));
    }
    return absl::InternalError(message);
  }
  return std::unique_ptr<SmallFilesystem>(new SmallFilesystem(dir));
}

SmallFilesystem::~SmallFilesystem() {
  unlink(File(kFiller).c_str());
  umount2(path_.c_str(), MNT_DETACH);
}

absl::Status SmallFilesystem::Fill() {
  const std::string filler = File(kFiller);
  const int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", filler, ": ", std::strerror(errno)));
  // Big chunks first, then ever smaller ones, so that not a byte is left.
  const std::vector<char> chunk(1 << 20, 'x');
  absl::Status status;
  for (size_t size : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
    while (true) {
      const ssize_t written = write(fd, chunk.data(), size);
      if (written > 0) continue;
      if (written < 0 && errno == EINTR) continue;
      if (written < 0 && errno != ENOSPC) {
        status = absl::InternalError(absl::StrCat("write ", filler, ": ", std::strerror(errno)));
      }
      break;
    }
    if (!status.ok()) break;
  }
  close(fd);
  return status;
}

absl::Status SmallFilesystem::Free() {
  if (unlink(File(kFiller).c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("unlink ", File(kFiller), ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace berth::testing
