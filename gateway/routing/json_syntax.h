#ifndef BERTH_GATEWAY_ROUTING_JSON_SYNTAX_H_
#define BERTH_GATEWAY_ROUTING_JSON_SYNTAX_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth::gateway::routing {

// How deeply arrays and objects may nest (protobuf's JSON parser allows the same).
inline constexpr int kMaxJsonDepth = 100;

// Checks that `text` is exactly one RFC 8259 JSON value (surrounded by optional whitespace),
// its strings well-formed UTF-8 without unpaired surrogate escapes, nested at most
// kMaxJsonDepth deep. It says nothing about what the value means.
//
// An error is INVALID_ARGUMENT "line L, column C: <what is wrong>", where L and C are 1-based
// and C counts bytes; for invalid UTF-8 the message says "invalid UTF-8".
absl::Status CheckJsonSyntax(absl::string_view text);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_JSON_SYNTAX_H_
