#ifndef BERTH_COMMON_BOX_ID_H_
#define BERTH_COMMON_BOX_ID_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// OK when `box_id` is 1-64 characters of [A-Za-z0-9_.-] and does not start with '.' or '-'
// (a UUID fits); otherwise INVALID_ARGUMENT saying what is wrong.
absl::Status ValidateBoxId(absl::string_view box_id);

}  // namespace berth::common

#endif  // BERTH_COMMON_BOX_ID_H_
