#ifndef BERTH_ALLOCATOR_SVC_TESTING_SMALL_FILESYSTEM_H_
#define BERTH_ALLOCATOR_SVC_TESTING_SMALL_FILESYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::testing {

// A real, small file system for tests of a full disk: a tmpfs of a few MiB mounted on an
// empty directory, which a filler file can fill to the last byte. Mounting needs root (or
// CAP_SYS_ADMIN); tests run as root. The destructor detaches the mount (what a crashed test
// leaves mounted goes with the next reboot). Not thread-safe.
class SmallFilesystem {
 public:
  // Mounts a tmpfs of `bytes` on `dir` (an existing, empty directory). FAILED_PRECONDITION,
  // saying that root is needed, when mounting is not permitted.
  static absl::StatusOr<std::unique_ptr<SmallFilesystem>> Mount(const std::string& dir,
                                                                uint64_t bytes);
  ~SmallFilesystem();
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

  // Writes the filler file until the file system refuses another byte (ENOSPC).
  absl::Status Fill();
  // Removes the filler file: the space is back.
  absl::Status Free();

 private:
  explicit SmallFilesystem(std::string path) : path_(std::move(path)) {}

  const std::string path_;
};

}  // namespace berth::testing

#endif  // BERTH_ALLOCATOR_SVC_TESTING_SMALL_FILESYSTEM_H_
