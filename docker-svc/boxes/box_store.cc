#include "docker-svc/boxes/box_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/box_id.h"
#include "common/files.h"
#include "spdlog/spdlog.h"

namespace berth::docker {

absl::StatusOr<BoxStore> BoxStore::Open(const std::string& boxes_dir) {
  const std::string dir = absl::StrCat(boxes_dir, "/.records");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("create ", dir, ": ", error.message()));
  }
  if (chmod(dir.c_str(), 0700) != 0) {
    return absl::UnavailableError(common::ErrnoMessage(absl::StrCat("chmod ", dir), errno));
  }
  return BoxStore(dir);
}

std::string BoxStore::PathOf(absl::string_view box_id) const {
  return absl::StrCat(dir_, "/", box_id);
}

absl::Status BoxStore::Put(const internal::BoxRecord& record) const {
  std::string bytes;
  record.SerializeToString(&bytes);
  return common::WriteFileAtomically(PathOf(record.box().box_id()), bytes, 0600);
}

absl::Status BoxStore::Delete(absl::string_view box_id) const {
  const std::string path = PathOf(box_id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::UnavailableError(common::ErrnoMessage(absl::StrCat("remove ", path), errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, internal::BoxRecord>> BoxStore::LoadAll() const {
  std::map<std::string, internal::BoxRecord> records;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    const std::string name = entry.path().filename();
    if (!common::ValidateBoxId(name).ok()) continue;  // temporary files start with '.'
    internal::BoxRecord record;
    absl::StatusOr<std::string> bytes = common::ReadFile(entry.path());
    if (!bytes.ok() || !record.ParseFromString(*bytes) || record.box().box_id() != name) {
      spdlog::warn("box record {} is unreadable; undoing what its box left behind",
                   entry.path().string());
      record.Clear();
      record.mutable_box()->set_box_id(name);
    }
    records.emplace(name, std::move(record));
  }
  if (error) return absl::UnavailableError(absl::StrCat("read ", dir_, ": ", error.message()));
  return records;
}

}  // namespace berth::docker
