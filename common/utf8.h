#ifndef BERTH_COMMON_UTF8_H_
#define BERTH_COMMON_UTF8_H_

#include "absl/strings/string_view.h"

// UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing above U+10FFFF.
namespace berth::common {

// Whether `text` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view text);

// The length of the well-formed UTF-8 sequence at the start of `text`, or 0 when `text` is
// empty or does not start with one.
int Utf8SequenceLength(absl::string_view text);

}  // namespace berth::common

#endif  // BERTH_COMMON_UTF8_H_
