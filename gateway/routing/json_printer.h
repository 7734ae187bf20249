#ifndef BERTH_GATEWAY_ROUTING_JSON_PRINTER_H_
#define BERTH_GATEWAY_ROUTING_JSON_PRINTER_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace berth::gateway::routing {

// Appends `message` as compact JSON to `out`, following protobuf's proto3 JSON mapping with
// protobuf's default print options: lowerCamelCase (json_name) keys, fields at their default
// value left out (unless they have presence and are set), 64-bit integers and non-finite
// floating-point values as strings, enums by name (by number when unknown), bytes as base64,
// Timestamp / Duration / the wrappers in their special forms, map keys in ascending order.
// Fields are printed in field-number order.
//
// Output equals protobuf's util::MessageToJsonString for every message of these types with
// ASCII text, and parses back to the same message for any text (non-ASCII characters are
// written as UTF-8, except U+2028 and U+2029; invalid UTF-8 becomes U+FFFD). It exists because
// protobuf's printer re-serializes and re-parses the message on every call, which is most of a
// small response's cost.
//
// UNIMPLEMENTED (and `out` unspecified) for a message holding any other well-known type
// (Any, Struct, Value, ListValue, FieldMask, Empty): callers fall back to protobuf's printer.
// INVALID_ARGUMENT (and `out` unspecified) for a Timestamp or Duration out of its JSON range
// and for a Duration whose seconds and nanos have opposite signs.
absl::Status AppendJson(const google::protobuf::Message& message, std::string& out);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_JSON_PRINTER_H_
