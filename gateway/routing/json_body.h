#ifndef BERTH_GATEWAY_ROUTING_JSON_BODY_H_
#define BERTH_GATEWAY_ROUTING_JSON_BODY_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace berth::gateway::routing {

// Merges the JSON object `body` into `message` with protobuf's JSON parser (protobuf's JSON
// mapping: proto field names and lowerCamelCase JSON names both accepted, unknown fields
// rejected). Every error is INVALID_ARGUMENT, and which one it is never depends on the text of
// protobuf's messages:
// - "malformed JSON body at line L, column C: ..." when the body is not one JSON value
//   (CheckJsonSyntax), "the JSON body must be an object" when it is no object;
// - "unknown field \"a.b\" in the JSON body" for the first member, in the body's order, that
//   names no field of its message (found by walking the body with the message's descriptor;
//   the members of a google.protobuf.Struct, Value, ListValue or Any are not checked);
// - else, when protobuf's parser refuses the body: "JSON body field \"a.b\": invalid value
//   <JSON> for type <type>", naming the innermost field whose value protobuf's parser also
//   refuses on its own (found by parsing the members one at a time); a path names fields by
//   their proto names, array elements as "[i]" and map entries as "[key]". Scalar types are
//   named as in google.protobuf.Field.Kind (TYPE_UINT32), messages and enums by full name;
// - "invalid JSON body: <protobuf's message>" when no one member is refused on its own (two
//   members of one oneof, say).
absl::Status MergeJsonObject(absl::string_view body, google::protobuf::Message& message);

// A JSON parser as MergeJsonObject uses one: merges `json` into `message` or says why not.
using JsonObjectParser =
    std::function<absl::Status(absl::string_view json, google::protobuf::Message& message)>;

// MergeJsonObject with `parse` in place of protobuf's JSON parser (for tests).
absl::Status MergeJsonObject(absl::string_view body, google::protobuf::Message& message,
                             const JsonObjectParser& parse);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_JSON_BODY_H_
