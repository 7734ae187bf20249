#ifndef BERTH_COMMON_UNIX_SOCKET_H_
#define BERTH_COMMON_UNIX_SOCKET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// Returns the file system path of a gRPC unix address ("unix:/p", "unix:///p" or "unix:p").
// INVALID_ARGUMENT for another scheme or a path that does not fit in sockaddr_un.
absl::StatusOr<std::string> UnixSocketPath(absl::string_view address);

// Exclusive claim on a unix socket path a server is about to listen on.
//
// Claim() creates the parent directory when missing, takes an exclusive lock on
// "<path>.lock" for the life of the object, refuses with FAILED_PRECONDITION when another
// process holds that lock or any server still answers on the path, and removes a stale socket
// left behind by a dead process. The destructor removes the socket and releases the lock.
// Not thread-safe; move-only.
class UnixSocketClaim {
 public:
  static absl::StatusOr<UnixSocketClaim> Claim(absl::string_view address);

  UnixSocketClaim(UnixSocketClaim&& other) noexcept;
  UnixSocketClaim& operator=(UnixSocketClaim&& other) = delete;
  UnixSocketClaim(const UnixSocketClaim&) = delete;
  UnixSocketClaim& operator=(const UnixSocketClaim&) = delete;
  ~UnixSocketClaim();

  const std::string& path() const { return path_; }

  // Once the server has created the socket: gives it to `group` (by name; empty: the
  // process's group), so that only that group's members (and the owner) may connect, and sets
  // its mode to 0660. FAILED_PRECONDITION names a group that does not exist or that the
  // process may not give files to (it must be one of its groups).
  absl::Status RestrictMode(const std::string& group = "") const;

 private:
  UnixSocketClaim(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}

  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace berth::common

#endif  // BERTH_COMMON_UNIX_SOCKET_H_
