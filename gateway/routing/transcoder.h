#ifndef BERTH_GATEWAY_ROUTING_TRANSCODER_H_
#define BERTH_GATEWAY_ROUTING_TRANSCODER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/routing/route_table.h"
#include "google/protobuf/message.h"

// HTTP request parts -> request message, and response messages -> JSON, in protobuf's JSON
// mapping. A request body is checked by Berth's own JSON parser (its syntax, and its field names
// against the message) and then parsed by protobuf's JSON parser (json_body.h); responses are
// printed by Berth's own printer (json_printer.h), and by protobuf's for the few well-known
// types it leaves to it.
//
// Errors are absl statuses ready for http_status.h: INVALID_ARGUMENT (HTTP 400) for anything
// wrong with the request, except a body that is not JSON, which is INVALID_ARGUMENT carrying
// HTTP 415 (WithHttpStatus). Messages name the offending field or parameter.
namespace berth::gateway::routing {

// Builds the request message of `route`:
//
// A body of only whitespace counts as empty.
// - Body "*" routes: an empty body gives the empty message; any other must be JSON: `content_type`
// "application/json", parameters allowed, a charset
//   only "utf-8" (else 415). It must be one well-formed JSON object (syntax errors and invalid
//   UTF-8 give "line L, column C" of the problem) and is parsed by protobuf's JSON parser,
//   rejecting unknown fields; proto field names and lowerCamelCase JSON names are both
//   accepted (MergeJsonObject in json_body.h, which says how errors name the field). Such a
//   route takes no query parameters.
// - Other routes take no body (a non-empty one is rejected). Each query parameter sets the
//   top-level singular scalar or enum field it names (proto or JSON name) that no path
//   variable binds; a key given twice (in either spelling) is rejected, as is an unknown one.
//   Keys and values are percent-decoded with '+' as space.
// - Then the path bindings are set; they win over the body.
//
// Text values (path and query) convert to the field's type: string (valid UTF-8), decimal
// integers, bool "true"/"false", enum value name or number, floating point, bytes as
// (URL-safe) base64.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
    const Route& route, const std::vector<PathBinding>& bindings, absl::string_view query,
    absl::string_view body, absl::string_view content_type);

// Splits a query string ("a=1&b=x+y") into percent-decoded (key, value) pairs in order. Empty
// pieces ("a=1&&b") are skipped; a piece without '=' has the empty value. INVALID_ARGUMENT for
// an invalid percent-escape or an empty key.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    absl::string_view query);

// `message` as compact JSON in protobuf's canonical mapping: lowerCamelCase field names, enums
// by name, 64-bit integers as strings, Timestamp/Duration as strings, and fields holding their
// default value (0, "", false, first enum value, empty list) left out, as proto3 JSON does.
// INTERNAL if protobuf cannot print it.
absl::StatusOr<std::string> ResponseToJson(const google::protobuf::Message& message);

// Server streaming as newline-delimited JSON, as grpc-gateway streams: every message is one
// line {"result":<ResponseToJson>}\n, and a stream that ends in error ends with the line
// {"error":{"code":<gRPC code>,"message":"..."}}\n (the HTTP status, already sent, stays 200).
absl::StatusOr<std::string> StreamResultLine(const google::protobuf::Message& message);
std::string StreamErrorLine(const absl::Status& status);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_TRANSCODER_H_
