#ifndef BERTH_GATEWAY_ROUTING_HTTP_STATUS_H_
#define BERTH_GATEWAY_ROUTING_HTTP_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// How the gateway turns a status into an HTTP response, as grpc-gateway does.
//
// Every error the gateway produces or receives is an absl::Status. Its HTTP status is the
// code's mapping below, unless the gateway's own checks attached a more precise one with
// WithHttpStatus (415 for a body that is not JSON, 405 for a method a path does not allow);
// this is grpc-gateway's HTTPStatusError. The body keeps the gRPC code either way.
namespace berth::gateway::routing {

// The HTTP status grpc-gateway answers for a gRPC/absl code: OK 200, CANCELLED 499,
// UNKNOWN 500, INVALID_ARGUMENT 400, DEADLINE_EXCEEDED 504, NOT_FOUND 404, ALREADY_EXISTS 409,
// PERMISSION_DENIED 403, UNAUTHENTICATED 401, RESOURCE_EXHAUSTED 429, FAILED_PRECONDITION 400,
// ABORTED 409, OUT_OF_RANGE 400, UNIMPLEMENTED 501, INTERNAL 500, UNAVAILABLE 503,
// DATA_LOSS 500; any other value 500.
int HttpStatusFromCode(absl::StatusCode code);

// Returns `status` carrying `http_status` (100-599) as its HTTP status. An OK status is
// returned unchanged.
absl::Status WithHttpStatus(absl::Status status, int http_status);

// The HTTP status to answer `status` with: the one attached by WithHttpStatus, else
// HttpStatusFromCode(status.code()).
int HttpStatusOf(const absl::Status& status);

// The JSON error body {"code":<gRPC code number>,"message":"<message>"}. Always valid JSON:
// the message is escaped and its invalid UTF-8 bytes replaced by U+FFFD.
std::string ErrorBody(absl::StatusCode code, absl::string_view message);
std::string ErrorBody(const absl::Status& status);

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_HTTP_STATUS_H_
