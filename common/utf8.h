#ifndef BERTH_COMMON_UTF8_H_
#define BERTH_COMMON_UTF8_H_

#include <cstdint>

#include "absl/strings/string_view.h"

// UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing above U+10FFFF.
namespace berth::common {

// Whether `text` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view text);

// The length (1 to 4) of the well-formed UTF-8 sequence at the start of `text`, storing its code
// point in `*code_point`; 0, and `*code_point` untouched, when `text` is empty or does not start
// with one.
int DecodeUtf8(absl::string_view text, uint32_t* code_point);

// DecodeUtf8's length alone.
int Utf8SequenceLength(absl::string_view text);

}  // namespace berth::common

#endif  // BERTH_COMMON_UTF8_H_
