#ifndef BERTH_DOCKER_SVC_ENGINE_ENGINE_JSON_H_
#define BERTH_DOCKER_SVC_ENGINE_ENGINE_JSON_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "docker-svc/engine/docker_client.h"

// Conversions between the plain structs of docker_client.h and the JSON bodies of the Docker
// Engine API 1.41, through the messages of engine_api.proto. Pure functions, thread-safe.
// Parse errors are INVALID_ARGUMENT naming what was being parsed; callers re-code them.
namespace berth::docker::engine_json {

// Body of `POST /containers/create`. INVALID_ARGUMENT when the spec has no image, a protocol
// other than tcp/udp, a port of 0 or above 65535, or a negative or too large (>= 2^53) limit.
absl::StatusOr<std::string> CreateRequestBody(const ContainerSpec& spec);

// The "Id" of a create response.
absl::StatusOr<std::string> ParseCreateResponse(absl::string_view json);

absl::StatusOr<ContainerInfo> ParseInspectResponse(absl::string_view json);

// Parses the JSON array `GET /containers/json` answers.
absl::StatusOr<std::vector<ContainerSummary>> ParseListResponse(absl::string_view json);

// The names in the answer of `GET /volumes`.
absl::StatusOr<std::vector<std::string>> ParseVolumeListResponse(absl::string_view json);

// The "ApiVersion" of `GET /version`.
absl::StatusOr<std::string> ParseVersionResponse(absl::string_view json);

// One line of the event stream.
absl::StatusOr<Event> ParseEvent(absl::string_view json);

// Docker's {"message": "..."} of an error body, or nullopt when the body is not one.
std::optional<std::string> ParseErrorMessage(absl::string_view json);

// The `filters` query value: {"label":["a","b=c"],"type":["container"]}.
std::string FiltersJson(const EventFilters& filters);

// Compares API versions "major.minor" numerically ("1.9" < "1.41"): <0, 0, >0.
// INVALID_ARGUMENT when either is not of that form.
absl::StatusOr<int> CompareApiVersions(absl::string_view a, absl::string_view b);

}  // namespace berth::docker::engine_json

#endif  // BERTH_DOCKER_SVC_ENGINE_ENGINE_JSON_H_
