// Fuzz target: bearer tokens (gateway/auth/jwt_verifier: the header, base64url, the JSON
// header and claims, the signature, the claims' checks). Input: one byte choosing the mode,
// then
// - mode 0: an Authorization header value as a client sends it;
// - mode 1: two lines, a JOSE header and a claims set (JSON text, any bytes), which the target
//   encodes and signs with the verifier's HS256 secret, so that every input reaches the claims.
//
// Properties: a refusal is UNAUTHENTICATED or PERMISSION_DENIED and never echoes the token; an
// accepted token's caller is what its claims say (RFC 7519 §4: of duplicate claim names, the
// lexically last counts): "sub" as the subject, "exp" as the expiry, the backend role only with
// "backend" in "scope"; the same header verified again gives the same answer (the memory of
// verified tokens changes nothing).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/testing/fake_clock.h"
#include "common/testing/hs256_token.h"
#include "gateway/auth/jwt_verifier.h"
#include "common/json_syntax.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ::berth::gateway::Caller;
using ::berth::gateway::JwtVerifier;
using ::berth::common::JsonMember;
using ::berth::common::JsonValue;

constexpr char kSecret[] = "fuzz-secret-0123456789abcdef-0123456789";

const JwtVerifier& Verifier() {
  static berth::testing::FakeClock* const clock = new berth::testing::FakeClock();
  static const JwtVerifier* const verifier = [] {
    berth::gateway::JwtConfig config;
    config.hs256_secret = kSecret;
    config.backend_issuer = "berth-backend";
    absl::StatusOr<JwtVerifier> created = JwtVerifier::Create(config, clock);
    FUZZ_CHECK(created.ok(), created.status().ToString());
    return new JwtVerifier(*std::move(created));
  }();
  return *verifier;
}

// "<header>.<claims>.<HS256 signature>", each part base64url.
std::string SignedToken(absl::string_view header, absl::string_view claims) {
  return berth::testing::SignHs256Raw(kSecret, header, claims);
}

// The value of the lexically last member named `name` of the claims object.
const JsonValue* LastClaim(const JsonValue& claims, absl::string_view name) {
  const JsonValue* found = nullptr;
  for (const JsonMember& member : claims.members) {
    if (member.key == name) found = &member.value;
  }
  return found;
}

// A JSON string's value, when it is a plain one (no escapes): enough to compare a subject.
std::optional<std::string> PlainString(const JsonValue& value) {
  if (value.kind != JsonValue::Kind::kString || absl::StrContains(value.text, "\\")) {
    return std::nullopt;
  }
  return std::string(value.text.substr(1, value.text.size() - 2));
}

void CheckCaller(const Caller& caller, absl::string_view claims_text) {
  absl::StatusOr<JsonValue> claims = berth::common::ParseJson(claims_text);
  FUZZ_CHECK(claims.ok() && claims->kind == JsonValue::Kind::kObject,
             absl::StrCat("accepted claims that are no JSON object: ", claims_text));
  const JsonValue* sub = LastClaim(*claims, "sub");
  if (sub != nullptr) {
    if (std::optional<std::string> subject = PlainString(*sub); subject.has_value()) {
      FUZZ_CHECK(caller.subject == *subject, absl::StrCat(caller.subject, " vs ", claims_text));
    }
  } else {
    FUZZ_CHECK(caller.subject.empty(), absl::StrCat(caller.subject, " from ", claims_text));
  }
  const JsonValue* exp = LastClaim(*claims, "exp");
  FUZZ_CHECK(exp != nullptr && exp->kind == JsonValue::Kind::kNumber,
             absl::StrCat("accepted without a numeric exp: ", claims_text));
  // "exp" is a NumericDate, read as a double: exact for whole seconds up to 2^53 only.
  int64_t seconds = 0;
  if (absl::SimpleAtoi(exp->text, &seconds) && seconds <= (int64_t{1} << 53) &&
      seconds >= -(int64_t{1} << 53)) {
    FUZZ_CHECK(caller.expires == absl::FromUnixSeconds(seconds), claims_text);
  }
  if (caller.backend) {
    const JsonValue* scope = LastClaim(*claims, "scope");
    FUZZ_CHECK(scope != nullptr && absl::StrContains(scope->text, "backend"),
               absl::StrCat("the backend role without the scope: ", claims_text));
  }
}

void CheckVerdict(const std::string& authorization, absl::string_view token,
                  std::optional<absl::string_view> claims) {
  const absl::StatusOr<Caller> caller = Verifier().Verify(authorization);
  if (!caller.ok()) {
    FUZZ_CHECK(caller.status().code() == absl::StatusCode::kUnauthenticated ||
                   caller.status().code() == absl::StatusCode::kPermissionDenied,
               caller.status().ToString());
    FUZZ_CHECK(token.size() < 8 || !absl::StrContains(caller.status().message(), token),
               caller.status().ToString());
  } else if (claims.has_value()) {
    CheckCaller(*caller, *claims);
  }
  const absl::StatusOr<Caller> again = Verifier().Verify(authorization);
  FUZZ_CHECK(again.status() == caller.status(),
             absl::StrCat(caller.status().ToString(), " then ", again.status().ToString()));
  if (again.ok()) {
    FUZZ_CHECK(again->subject == caller->subject && again->backend == caller->backend &&
                   again->expires == caller->expires,
               authorization);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text = berth::fuzz::AsText(data, size);
  if (berth::fuzz::TakeSelector(text) % 2 == 0) {
    const absl::string_view token =
        absl::StartsWith(text, "Bearer ") ? text.substr(7) : absl::string_view();
    CheckVerdict(std::string(text), token, std::nullopt);
    return 0;
  }
  const std::vector<absl::string_view> lines = berth::fuzz::Lines(text, 2);
  const std::string token = SignedToken(lines[0], lines[1]);
  CheckVerdict(absl::StrCat("Bearer ", token), token, lines[1]);
  return 0;
}
