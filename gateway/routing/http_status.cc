#include "gateway/routing/http_status.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/routing/text_codec.h"

namespace berth::gateway::routing {
namespace {

// The payload WithHttpStatus attaches: the HTTP status in decimal.
constexpr absl::string_view kHttpStatusPayload = "type.berth.dev/berth.gateway.HttpStatus";

}  // namespace

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnknown:
      return 500;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kInternal:
      return 500;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDataLoss:
      return 500;
    default:
      return 500;
  }
}

absl::Status WithHttpStatus(absl::Status status, int http_status) {
  if (status.ok() || http_status < 100 || http_status > 599) return status;
  status.SetPayload(kHttpStatusPayload, absl::Cord(absl::StrCat(http_status)));
  return status;
}

int HttpStatusOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kHttpStatusPayload);
  int http_status;
  if (payload.has_value() && absl::SimpleAtoi(std::string(*payload), &http_status)) {
    return http_status;
  }
  return HttpStatusFromCode(status.code());
}

std::string ErrorBody(absl::StatusCode code, absl::string_view message) {
  return absl::StrCat("{\"code\":", static_cast<int>(code), ",\"message\":", JsonQuote(message),
                      "}");
}

std::string ErrorBody(const absl::Status& status) {
  return ErrorBody(status.code(), status.message());
}

}  // namespace berth::gateway::routing
