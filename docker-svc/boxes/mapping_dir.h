#ifndef BERTH_DOCKER_SVC_BOXES_MAPPING_DIR_H_
#define BERTH_DOCKER_SVC_BOXES_MAPPING_DIR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
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

// The resource-mapping directory of one box, as docker-svc reaches it on the host.
//
// A box's mapping directory is a filesystem of its own: a size-limited tmpfs that Docker makes
// with the box's container (an anonymous volume, see MappingVolume() in box_spec.h), mounts at the profile's
// mappings_dir while the box runs, and removes with the container. So a box can fill only its
// own directory, whatever it makes there (a root-owned subdirectory, say) goes with it, and a
// new box of the same id never sees an old one's files. Its host path is Docker's mountpoint of
// that volume.
//
// The box runs hostile code as root and may have put anything in the directory: links to host
// files at any name, FIFOs, directories. So docker-svc never opens, reads or removes anything
// it finds there. Each file is written through a descriptor of the directory into a temporary
// file of an unpredictable name that it creates itself (O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK:
// never an existing file, never through a link, never waiting on a FIFO), then renamed over its
// name (renameat replaces whatever is there, a link included, without following it). Markers
// are looked up without following links. Thread-compatible; cheap to copy.
class MappingDir {
 public:
  // `host_path`: the directory on the host (absolute). `own_filesystem`: it is the mountpoint
  // of the box's tmpfs; files are written only while that is mounted there (never into the
  // directory beneath, on Docker's disk: after the box stopped, or after a restart of the
  // Docker engine unmounted it on the host while the box ran on). False for the directories
  // of boxes made before mapping directories were volumes.
  explicit MappingDir(std::string host_path, bool own_filesystem = false)
      : path_(std::move(host_path)), own_filesystem_(own_filesystem) {}

  const std::string& path() const { return path_; }

  // False when the directory is missing or, for one of its own filesystem, when that is not
  // mounted on the host (see the constructor).
  bool Reachable() const;
  // True only when the directory of one of its own filesystem is there but its filesystem is
  // not mounted on it (a restart of the Docker engine unmounted it while the box ran on); false
  // when that cannot be told (docker-svc out of descriptors, say) or the directory is gone.
  bool Detached() const;

  // Errors of the writes: FAILED_PRECONDITION when the box's doings explain it (it filled its
  // directory, put a directory where a file goes, took docker-svc's permissions away; or the
  // directory is not mounted), UNAVAILABLE otherwise (docker-svc's own trouble); both name the
  // file and the reason.
  //
  // Writes tty, gpu_index, hostPort_for_my_*, timeout, session_id and DPI (when given), then
  // `.paramsReady` last, so a box that sees `.paramsReady` finds every other file complete.
  absl::Status WriteStartupParams(const StartupParams& params) const;
  absl::Status WriteSessionId(absl::string_view session_id) const;
  // The client's config.json, as given (the caller has checked it is JSON).
  absl::Status WriteConfig(absl::string_view json) const;

  // True when the directory holds an entry `name` (a file, a link, anything: the box made it).
  // `name` must be a single path component.
  bool Has(absl::string_view name) const;

 private:
  // Writes `files` (name, contents) in order into the directory. UNAVAILABLE names the file
  // and the reason (ENOSPC when the box filled its directory, say).
  absl::Status WriteFiles(
      const std::vector<std::pair<std::string, std::string>>& files) const;

  std::string path_;
  bool own_filesystem_ = false;
};

// "hostPort_for_my_32262_tcp".
std::string HostPortFileName(const allocator::v1::PortBinding& port);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_MAPPING_DIR_H_
