#ifndef BERTH_GATEWAY_ROUTING_TEXT_CODEC_H_
#define BERTH_GATEWAY_ROUTING_TEXT_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// Byte-level text helpers shared by the router and the transcoder: URI percent-decoding and
// JSON string quoting (UTF-8 validation is common/utf8.h).
namespace berth::gateway::routing {

// Decodes %XX escapes (hex digits in either case). With `plus_is_space` (query strings,
// application/x-www-form-urlencoded) '+' decodes to ' '; otherwise it is kept. A '%' not
// followed by two hex digits is INVALID_ARGUMENT naming the escape. The result is raw bytes:
// it may hold NUL or invalid UTF-8, which callers check where it matters.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space);

// `text` as a double-quoted JSON string literal, always valid JSON and UTF-8: '"', '\\' and
// control characters are escaped, and every byte that is not part of well-formed UTF-8 is
// replaced by U+FFFD.
std::string JsonQuote(absl::string_view text);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_TEXT_CODEC_H_
