#ifndef BERTH_DOCKER_SVC_MAPPING_DIR_H_
#define BERTH_DOCKER_SVC_MAPPING_DIR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/allocator/v1/allocator.pb.h"

namespace berth::docker {

// What a box learns at start from its mapping directory (Whist-compatible names).
struct StartupParams {
  // The host TTY number; -1: the box has none (no `tty` file).
  int32_t tty = -1;
  // The GPU index; -1: none (the `gpu_index` file then says 0, as Whist's did).
  int32_t gpu_index = -1;
  // One `hostPort_for_my_<container port>_<tcp|udp>` file each.
  std::vector<allocator::v1::PortBinding> ports;
  // The `timeout` file: seconds the box waits for its client.
  int32_t timeout_seconds = 30;
  // The `session_id` file, when the box already has a user.
  std::optional<std::string> session_id;
  // The `DPI` file (Whist's name) when positive.
  uint32_t dpi = 0;
};

// The resource-mapping directory of one box: `<boxes_dir>/<box_id>/` on the host, bind-mounted
// into the box at its profile's mappings_dir. Every file is replaced atomically (temporary
// file, fsync, rename), so the box never reads part of one. The directory is mode 0777 so that a
// box running as any user can write its readiness marker; its parent must keep other host
// users out. Not thread-safe; one owner per box.
class MappingDir {
 public:
  // Creates the directory (an existing one is reused). INVALID_ARGUMENT for a bad box id.
  static absl::StatusOr<MappingDir> Create(const std::string& boxes_dir, absl::string_view box_id);
  // The directory of a box that has one, never creating it (a box torn down meanwhile must not
  // get it back): ABORTED when it is gone, INVALID_ARGUMENT for a bad box id.
  static absl::StatusOr<MappingDir> Open(const std::string& boxes_dir, absl::string_view box_id);
  // The directory of `box_id` without creating it.
  static std::string PathOf(const std::string& boxes_dir, absl::string_view box_id);

  const std::string& path() const { return path_; }

  // Writes tty, gpu_index, hostPort_for_my_*, timeout, session_id and DPI (when given), then
  // `.paramsReady` last, so a box that sees `.paramsReady` finds every other file complete.
  absl::Status WriteStartupParams(const StartupParams& params) const;
  absl::Status WriteSessionId(absl::string_view session_id) const;
  // The client's config.json, as given (the caller has checked it is JSON).
  absl::Status WriteConfig(absl::string_view json) const;

  // True when the box has written the file `name` (its readiness marker, say).
  bool Has(absl::string_view name) const;

  // Removes the directory and everything in it; OK when it is gone already.
  absl::Status Remove() const;
  // The same for the directory of `box_id` in `boxes_dir`, without a MappingDir.
  static absl::Status RemoveFor(const std::string& boxes_dir, absl::string_view box_id);

 private:
  explicit MappingDir(std::string path) : path_(std::move(path)) {}
  absl::Status Write(absl::string_view name, absl::string_view contents) const;

  std::string path_;
};

// "hostPort_for_my_32262_tcp".
std::string HostPortFileName(const allocator::v1::PortBinding& port);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_MAPPING_DIR_H_
