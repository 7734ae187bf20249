#ifndef BERTH_GATEWAY_ROUTING_TEXT_CODEC_H_
#define BERTH_GATEWAY_ROUTING_TEXT_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Byte-level text helpers shared by the router and the transcoder: URI percent-decoding,
// UTF-8 validation and JSON string quoting.
namespace berth::gateway::routing {

// Decodes %XX escapes (hex digits in either case). With `plus_is_space` (query strings,
// application/x-www-form-urlencoded) '+' decodes to ' '; otherwise it is kept. A '%' not
// followed by two hex digits is INVALID_ARGUMENT naming the escape. The result is raw bytes:
// it may hold NUL or invalid UTF-8, which callers check where it matters.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space);

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// The length of the well-formed UTF-8 sequence at the start of `text`, or 0 when `text` is
// empty or does not start with one.
int Utf8SequenceLength(absl::string_view text);

// `text` as a double-quoted JSON string literal, always valid JSON and UTF-8: '"', '\\' and
// control characters are escaped, and every byte that is not part of well-formed UTF-8 is
// replaced by U+FFFD.
std::string JsonQuote(absl::string_view text);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_TEXT_CODEC_H_
