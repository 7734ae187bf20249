#include "common/utf8.h"

#include <cstddef>
#include <cstdint>

namespace berth::common {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

int DecodeUtf8(absl::string_view text, uint32_t* code_point) {
  if (text.empty()) return 0;
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  int length;
  uint32_t min;
  uint32_t decoded;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, min = 0x80, decoded = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, min = 0x800, decoded = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, min = 0x10000, decoded = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() < static_cast<size_t>(length)) return 0;
  for (int i = 1; i < length; ++i) {
    if (!IsContinuation(byte(i))) return 0;
    decoded = (decoded << 6) | (byte(i) & 0x3F);
  }
  if (decoded < min || decoded > 0x10FFFF) return 0;
  if (decoded >= 0xD800 && decoded <= 0xDFFF) return 0;
  *code_point = decoded;
  return length;
}

int Utf8SequenceLength(absl::string_view text) {
  uint32_t code_point;
  return DecodeUtf8(text, &code_point);
}

bool IsValidUtf8(absl::string_view text) {
  while (!text.empty()) {
    const int length = Utf8SequenceLength(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

}  // namespace berth::common
