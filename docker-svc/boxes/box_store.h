#ifndef BERTH_DOCKER_SVC_BOXES_BOX_STORE_H_
#define BERTH_DOCKER_SVC_BOXES_BOX_STORE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "docker-svc/boxes/box_record.pb.h"

namespace berth::docker {

// docker-svc's memory of its boxes across restarts: one file per box,
// <boxes_dir>/.records/<box_id>, mode 0600 (it holds the box's AES key), each replaced
// atomically and durably. Box ids never start with '.', so the records directory never meets
// a mapping directory. Thread-safe for different box ids.
class BoxStore {
 public:
  // Creates the records directory when missing.
  static absl::StatusOr<BoxStore> Open(const std::string& boxes_dir);

  absl::Status Put(const internal::BoxRecord& record) const;
  // OK when there is no record.
  absl::Status Delete(absl::string_view box_id) const;

  // Every record by box id. A file that does not parse yields a record holding only its box id
  // (state BOX_STATE_UNSPECIFIED), so that whatever the box left behind is undone.
  absl::StatusOr<std::map<std::string, internal::BoxRecord>> LoadAll() const;

 private:
  explicit BoxStore(std::string dir) : dir_(std::move(dir)) {}
  std::string PathOf(absl::string_view box_id) const;

  std::string dir_;
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_BOX_STORE_H_
