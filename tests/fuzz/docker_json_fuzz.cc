// Fuzz target: the Docker Engine API's JSON answers as docker-svc reads them
// (docker-svc/engine/engine_json: create, inspect, list, volumes, version, an event line, an
// error body, API versions). Input: one byte choosing the answer, then its body (for API
// versions: two lines).
//
// Properties: a refusal is INVALID_ARGUMENT; comparing API versions is antisymmetric and a
// version equals itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "docker-svc/engine/engine_json.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

namespace engine_json = ::berth::docker::engine_json;

template <typename T>
void CheckRefusal(const absl::StatusOr<T>& parsed) {
  if (parsed.ok()) return;
  FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument,
             parsed.status().ToString());
}

void CheckApiVersions(absl::string_view text) {
  const std::vector<absl::string_view> lines = berth::fuzz::Lines(text, 2);
  const absl::StatusOr<int> forward = engine_json::CompareApiVersions(lines[0], lines[1]);
  const absl::StatusOr<int> backward = engine_json::CompareApiVersions(lines[1], lines[0]);
  CheckRefusal(forward);
  FUZZ_CHECK(forward.ok() == backward.ok(), std::string(text));
  if (!forward.ok()) return;
  FUZZ_CHECK((*forward < 0) == (*backward > 0) && (*forward == 0) == (*backward == 0),
             absl::StrCat(*forward, " vs ", *backward));
  const absl::StatusOr<int> self = engine_json::CompareApiVersions(lines[0], lines[0]);
  FUZZ_CHECK(self.ok() && *self == 0, std::string(lines[0]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view body = berth::fuzz::AsText(data, size);
  switch (berth::fuzz::TakeSelector(body) % 8) {
    case 0:
      CheckRefusal(engine_json::ParseCreateResponse(body));
      break;
    case 1:
      CheckRefusal(engine_json::ParseInspectResponse(body));
      break;
    case 2:
      CheckRefusal(engine_json::ParseListResponse(body));
      break;
    case 3:
      CheckRefusal(engine_json::ParseVolumeListResponse(body));
      break;
    case 4:
      CheckRefusal(engine_json::ParseVersionResponse(body));
      break;
    case 5:
      CheckRefusal(engine_json::ParseEvent(body));
      break;
    case 6:
      engine_json::ParseErrorMessage(body);
      break;
    default:
      CheckApiVersions(body);
      break;
  }
  return 0;
}
