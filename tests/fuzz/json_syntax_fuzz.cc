// Fuzz target: the JSON syntax checker and parser (gateway/routing/json_syntax). Input: the
// text.
//
// Properties: CheckJsonSyntax and ParseJson accept the same texts and refuse the rest with the
// same INVALID_ARGUMENT "line L, column C: ..." error; in an accepted text every value's text
// is itself one JSON value of the same kind, and every object key's text is a JSON string.
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json_syntax.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ::berth::common::CheckJsonSyntax;
using ::berth::common::JsonMember;
using ::berth::common::JsonValue;
using ::berth::common::ParseJson;

void CheckValue(const JsonValue& value, int depth) {
  FUZZ_CHECK(depth <= berth::common::kMaxJsonDepth, absl::StrCat(depth));
  const absl::Status alone = CheckJsonSyntax(value.text);
  FUZZ_CHECK(alone.ok(), absl::StrCat(alone.ToString(), "\n", value.text));
  switch (value.kind) {
    case JsonValue::Kind::kObject:
      FUZZ_CHECK(absl::StartsWith(value.text, "{") && absl::EndsWith(value.text, "}"),
                 std::string(value.text));
      for (const JsonMember& member : value.members) {
        FUZZ_CHECK(member.key_text.size() >= 2 && member.key_text.front() == '"' &&
                       member.key_text.back() == '"' && CheckJsonSyntax(member.key_text).ok(),
                   std::string(member.key_text));
        CheckValue(member.value, depth + 1);
      }
      break;
    case JsonValue::Kind::kArray:
      FUZZ_CHECK(absl::StartsWith(value.text, "[") && absl::EndsWith(value.text, "]"),
                 std::string(value.text));
      for (const JsonValue& element : value.elements) CheckValue(element, depth + 1);
      break;
    case JsonValue::Kind::kString:
      FUZZ_CHECK(value.text.size() >= 2 && value.text.front() == '"' && value.text.back() == '"',
                 std::string(value.text));
      break;
    case JsonValue::Kind::kNull:
      FUZZ_CHECK(value.text == "null", std::string(value.text));
      break;
    case JsonValue::Kind::kBool:
      FUZZ_CHECK(value.text == "true" || value.text == "false", std::string(value.text));
      break;
    case JsonValue::Kind::kNumber:
      FUZZ_CHECK(!value.text.empty(), "an empty number");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text = berth::fuzz::AsText(data, size);
  const absl::Status checked = CheckJsonSyntax(text);
  absl::StatusOr<JsonValue> parsed = ParseJson(text);
  FUZZ_CHECK(checked == parsed.status(),
             absl::StrCat(checked.ToString(), " vs ", parsed.status().ToString()));
  if (!checked.ok()) {
    FUZZ_CHECK(checked.code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(checked.message(), "line "),
               checked.ToString());
    return 0;
  }
  CheckValue(*parsed, 1);
  return 0;
}
