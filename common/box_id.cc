#include "common/box_id.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::common {

absl::Status ValidateBoxId(absl::string_view box_id) {
  constexpr size_t kMaxLength = 64;
  if (box_id.empty()) return absl::InvalidArgumentError("box_id is empty");
  if (box_id.size() > kMaxLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("box_id is ", box_id.size(), " characters long; at most ", kMaxLength));
  }
  if (box_id.front() == '.' || box_id.front() == '-') {
    return absl::InvalidArgumentError(absl::StrFormat("box_id %s starts with '%c'",
                                                      absl::CHexEscape(box_id), box_id.front()));
  }
  for (char c : box_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrFormat("box_id \"%s\" holds '%s'; allowed are [A-Za-z0-9_.-]",
                          absl::CHexEscape(box_id), absl::CHexEscape(absl::string_view(&c, 1))));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::common
