// Fuzz target: a client's json_data (docker-svc/boxes/client_config: JSON, or base64 of gzip of
// JSON, inflated under a size limit). Input: one byte choosing the mode, then
// - mode 0: json_data as a client sends it;
// - mode 1: a config.json text, which the target gzips and base64-encodes as Whist's client
//   does, so that every input reaches the inflating and the JSON check.
//
// Properties: a refusal is INVALID_ARGUMENT; what is accepted is at most kMaxClientConfigBytes
// and one strict RFC 8259 JSON value (what the box will read as its config.json); in mode 1 an
// accepted config is exactly the text encoded.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/testing/gzip.h"
#include "docker-svc/boxes/client_config.h"
#include "common/json_syntax.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ::berth::docker::DecodeClientConfig;
using ::berth::docker::kMaxClientConfigBytes;

absl::StatusOr<std::string> CheckedDecode(absl::string_view json_data) {
  absl::StatusOr<std::string> config = DecodeClientConfig(json_data);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument,
               config.status().ToString());
    return config;
  }
  FUZZ_CHECK(config->size() <= kMaxClientConfigBytes, absl::StrCat(config->size()));
  const absl::Status strict = berth::common::CheckJsonSyntax(*config);
  FUZZ_CHECK(strict.ok(), absl::StrCat("accepted a config that is not JSON (", strict.ToString(),
                                       "): ", *config));
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text = berth::fuzz::AsText(data, size);
  if (berth::fuzz::TakeSelector(text) % 2 == 0) {
    CheckedDecode(text).status().IgnoreError();
    return 0;
  }
  const std::string gzipped = berth::testing::Gzip(std::string(text));
  if (gzipped.empty()) return 0;
  const absl::StatusOr<std::string> config = CheckedDecode(absl::Base64Escape(gzipped));
  if (config.ok()) FUZZ_CHECK(*config == text, *config);
  return 0;
}
