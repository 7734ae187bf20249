#include "docker-svc/mapping_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace berth::docker {

std::string HostPortFileName(const allocator::v1::PortBinding& port) {
  return absl::StrCat("hostPort_for_my_", port.container_port(), "_",
                      port.protocol() == allocator::v1::PROTOCOL_UDP ? "udp" : "tcp");
}

std::string MappingDir::PathOf(const std::string& boxes_dir, absl::string_view box_id) {
  return absl::StrCat(boxes_dir, "/", box_id);
}

absl::StatusOr<MappingDir> MappingDir::Create(const std::string& boxes_dir,
                                              absl::string_view box_id) {
  // The id becomes a path component: only a valid box id may.
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  const std::string path = PathOf(boxes_dir, box_id);
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("create mapping directory ", path, ": ",
                                               error.message()));
  }
  if (chmod(path.c_str(), 0777) != 0) {
    return absl::UnavailableError(
        common::ErrnoMessage(absl::StrCat("chmod mapping directory ", path), errno));
  }
  return MappingDir(path);
}

absl::StatusOr<MappingDir> MappingDir::Open(const std::string& boxes_dir,
                                            absl::string_view box_id) {
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  const std::string path = PathOf(boxes_dir, box_id);
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) {
    return absl::AbortedError(absl::StrCat("the mapping directory ", path, " is gone"));
  }
  return MappingDir(path);
}

absl::Status MappingDir::Write(absl::string_view name, absl::string_view contents) const {
  return common::WriteFileAtomically(absl::StrCat(path_, "/", name), contents, 0644);
}

absl::Status MappingDir::WriteStartupParams(const StartupParams& params) const {
  if (params.tty >= 0) RETURN_IF_ERROR(Write("tty", absl::StrCat(params.tty)));
  RETURN_IF_ERROR(Write("gpu_index", absl::StrCat(params.gpu_index >= 0 ? params.gpu_index : 0)));
  for (const allocator::v1::PortBinding& port : params.ports) {
    RETURN_IF_ERROR(Write(HostPortFileName(port), absl::StrCat(port.host_port())));
  }
  RETURN_IF_ERROR(Write("timeout", absl::StrCat(params.timeout_seconds)));
  if (params.session_id) RETURN_IF_ERROR(WriteSessionId(*params.session_id));
  if (params.dpi > 0) RETURN_IF_ERROR(Write("DPI", absl::StrCat(params.dpi)));
  return Write(".paramsReady", ".paramsReady");
}

absl::Status MappingDir::WriteSessionId(absl::string_view session_id) const {
  return Write("session_id", session_id);
}

absl::Status MappingDir::WriteConfig(absl::string_view json) const {
  return Write("config.json", json);
}

bool MappingDir::Has(absl::string_view name) const {
  return access(absl::StrCat(path_, "/", name).c_str(), F_OK) == 0;
}

absl::Status MappingDir::RemoveFor(const std::string& boxes_dir, absl::string_view box_id) {
  // Never let an id climb out of `boxes_dir`.
  RETURN_IF_ERROR(common::ValidateBoxId(box_id));
  return MappingDir(PathOf(boxes_dir, box_id)).Remove();
}

absl::Status MappingDir::Remove() const {
  std::error_code error;
  std::filesystem::remove_all(path_, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("remove mapping directory ", path_, ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace berth::docker
