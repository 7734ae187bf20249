// Fuzz target: an app profile's text (docker-svc/boxes/app_profiles: protobuf's text format,
// then Berth's validation and defaults). Input: the text of "fuzz.textproto".
//
// Properties: a refusal is INVALID_ARGUMENT and each of its lines names the file; an accepted
// profile is named after its file, and printed back in text format it parses and validates to
// the same profile (validation and defaults are idempotent).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/box/v1/app_profile.pb.h"
#include "docker-svc/boxes/app_profiles.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

constexpr char kFile[] = "fuzz.textproto";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(berth::fuzz::AsText(data, size));
  const absl::StatusOr<berth::box::v1::AppProfile> profile =
      berth::docker::ParseAppProfile(kFile, text);
  if (!profile.ok()) {
    FUZZ_CHECK(profile.status().code() == absl::StatusCode::kInvalidArgument,
               profile.status().ToString());
    for (absl::string_view line : absl::StrSplit(profile.status().message(), '\n')) {
      FUZZ_CHECK(absl::StartsWith(line, absl::StrCat(kFile, ":")), profile.status().ToString());
    }
    return 0;
  }
  FUZZ_CHECK(profile->name() == "fuzz", profile->name());
  std::string printed;
  FUZZ_CHECK(google::protobuf::TextFormat::PrintToString(*profile, &printed),
             profile->ShortDebugString());
  const absl::StatusOr<berth::box::v1::AppProfile> again =
      berth::docker::ParseAppProfile(kFile, printed);
  FUZZ_CHECK(again.ok(), absl::StrCat(again.status().ToString(), "\n", printed));
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*profile, *again),
             absl::StrCat(profile->ShortDebugString(), "\n", again->ShortDebugString()));
  return 0;
}
