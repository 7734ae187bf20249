#ifndef BERTH_COMMON_JSON_SYNTAX_H_
#define BERTH_COMMON_JSON_SYNTAX_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// How deeply arrays and objects may nest (protobuf's JSON parser allows the same).
inline constexpr int kMaxJsonDepth = 100;

// Checks that `text` is exactly one RFC 8259 JSON value (surrounded by optional whitespace),
// its strings well-formed UTF-8 without unpaired surrogate escapes, nested at most
// kMaxJsonDepth deep. It says nothing about what the value means.
//
// An error is INVALID_ARGUMENT "line L, column C: <what is wrong>", where L and C are 1-based
// and C counts bytes; for invalid UTF-8 the message says "invalid UTF-8".
absl::Status CheckJsonSyntax(absl::string_view text);

// One JSON value of a text ParseJson parsed: its kind, its text (a view of the parsed text, which
// must outlive it) and, for an object or array, what it holds in order.
struct JsonMember;
struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  absl::string_view text;
  std::vector<JsonMember> members;  // kObject, duplicate keys included
  std::vector<JsonValue> elements;  // kArray
};
struct JsonMember {
  std::string key;             // with its escapes decoded
  absl::string_view key_text;  // as written, quotes included
  JsonValue value;
};

// `text` as a tree of JsonValues; errors as CheckJsonSyntax's.
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

}  // namespace berth::common

#endif  // BERTH_COMMON_JSON_SYNTAX_H_
