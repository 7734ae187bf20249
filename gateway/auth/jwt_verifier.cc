#include "gateway/auth/jwt_verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/json_syntax.h"
#include "common/status_macros.h"
#include "gateway/auth/jwt_claims.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace berth::gateway {
namespace {

using ::berth::gateway::internal::JoseHeader;
using ::berth::gateway::internal::JwtClaims;
using ::google::protobuf::Value;

// A bearer token longer than this is refused before any parsing.
constexpr size_t kMaxTokenBytes = 8192;
constexpr size_t kMinHs256SecretBytes = 32;
constexpr int kMinRsaBits = 2048;
constexpr size_t kEs256SignatureBytes = 64;  // R || S, 32 bytes each (RFC 7518 §3.4).

enum class Alg { kHs256, kRs256, kEs256 };

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdFree {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

// Where a refusal carries its AuthFailureReason().
constexpr char kFailurePayload[] = "berth/auth_failure";

// A refused token: UNAUTHENTICATED saying `message`, carrying `reason` (AuthFailureReason()).
absl::Status Unauthenticated(absl::string_view reason, absl::string_view message) {
  absl::Status status = absl::UnauthenticatedError(message);
  status.SetPayload(kFailurePayload, absl::Cord(reason));
  return status;
}

// The last OpenSSL error of this thread as text (and the queue cleared), for Create's messages.
std::string TakeOpenSslError() {
  const char* reason = ERR_reason_error_string(ERR_peek_last_error());
  std::string text = reason != nullptr ? reason : "unknown error";
  ERR_clear_error();
  return text;
}

// Whether `s` is non-empty unpadded base64url, as JWS compact serialization requires.
bool IsBase64Url(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// Decodes one base64url JSON-object segment of a token into `Message` (members it lacks are
// ignored); `what` names the segment in the error.
template <typename Message>
absl::StatusOr<Message> DecodeJsonSegment(absl::string_view segment, absl::string_view what) {
  std::string json;
  Message message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  // Strict JSON first: protobuf's parser takes what JSON does not (a raw control character in
  // a string, for one), and a token must mean one thing to every reader of it.
  if (!IsBase64Url(segment) || !absl::WebSafeBase64Unescape(segment, &json) ||
      !common::CheckJsonSyntax(json).ok() ||
      !google::protobuf::util::JsonStringToMessage(json, &message, options).ok()) {
    return Unauthenticated("malformed", absl::StrCat("malformed token ", what));
  }
  return message;
}

// A NumericDate claim (seconds since the epoch, possibly fractional) as a time.
absl::StatusOr<absl::Time> NumericDate(const Value& value, absl::string_view name) {
  if (value.kind_case() != Value::kNumberValue || !std::isfinite(value.number_value())) {
    return Unauthenticated("malformed", absl::StrCat("malformed ", name));
  }
  return absl::UnixEpoch() + absl::Seconds(value.number_value());
}

// Whether the "aud" claim (a string or an array of strings) holds one of `audiences`.
bool AudienceMatches(const Value* aud, const std::vector<std::string>& audiences) {
  if (aud == nullptr) return false;
  auto wanted = [&](const std::string& candidate) {
    for (const std::string& audience : audiences) {
      if (candidate == audience) return true;
    }
    return false;
  };
  if (aud->kind_case() == Value::kStringValue) return wanted(aud->string_value());
  if (aud->kind_case() != Value::kListValue) return false;
  for (const Value& item : aud->list_value().values()) {
    if (item.kind_case() == Value::kStringValue && wanted(item.string_value())) return true;
  }
  return false;
}

// Whether the "scope" claim (space-separated string, or array of strings) has "backend".
absl::StatusOr<bool> HasBackendScope(const Value* scope) {
  constexpr absl::string_view kBackend = "backend";
  if (scope == nullptr) return false;
  if (scope->kind_case() == Value::kStringValue) {
    for (absl::string_view item : absl::StrSplit(scope->string_value(), ' ')) {
      if (item == kBackend) return true;
    }
    return false;
  }
  if (scope->kind_case() != Value::kListValue) {
    return Unauthenticated("malformed", "malformed scope");
  }
  bool backend = false;
  for (const Value& item : scope->list_value().values()) {
    if (item.kind_case() != Value::kStringValue) {
      return Unauthenticated("malformed", "malformed scope");
    }
    backend = backend || item.string_value() == kBackend;
  }
  return backend;
}

// The algorithm named by the token header's "alg", if the configured keys allow it.
absl::StatusOr<Alg> AllowedAlg(const JoseHeader& header, bool have_secret,
                               std::optional<Alg> public_alg) {
  if (header.has_crit()) return Unauthenticated("malformed", "unsupported crit header");
  if (header.alg().kind_case() != Value::kStringValue) {
    return Unauthenticated("malformed", "token header has no alg");
  }
  const std::string& name = header.alg().string_value();
  if (name == "HS256" && have_secret) return Alg::kHs256;
  if (name == "RS256" && public_alg == Alg::kRs256) return Alg::kRs256;
  if (name == "ES256" && public_alg == Alg::kEs256) return Alg::kEs256;
  if (absl::EqualsIgnoreCase(name, "none")) {
    return Unauthenticated("bad_algorithm", "alg none not allowed");
  }
  // Only names we know are echoed: the header is attacker-controlled.
  for (absl::string_view known : {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256",
                                  "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}) {
    if (name == known) {
      return Unauthenticated("bad_algorithm", absl::StrCat("alg ", name, " not allowed"));
    }
  }
  return Unauthenticated("bad_algorithm", "unsupported alg");
}

// An RS256 signature as is, or an ES256 one (R || S) re-encoded as the DER OpenSSL verifies.
// Empty when an ES256 signature has the wrong size.
std::string SignatureForOpenSsl(Alg alg, const std::string& signature) {
  if (alg != Alg::kEs256) return signature;
  if (signature.size() != kEs256SignatureBytes) return "";
  const auto* bytes = reinterpret_cast<const unsigned char*>(signature.data());
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, kEs256SignatureBytes / 2, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + kEs256SignatureBytes / 2, kEs256SignatureBytes / 2, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return "";
  }
  int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return "";
  std::string der(static_cast<size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) return "";
  return der;
}

}  // namespace

// The parsed keys; immutable after Create, so Verify may use them from many threads (each
// call has its own EVP_MD_CTX; OpenSSL keys are safe to share for verification).
struct JwtVerifier::Keys {
  std::unique_ptr<EVP_MD, MdFree> sha256;
  std::unique_ptr<EVP_PKEY, PkeyFree> public_key;  // nullptr: none.
  std::optional<Alg> public_alg;                   // kRs256 or kEs256 with a public key.

  // Whether `signature` (as decoded from the token) signs `signed_part` under `alg`.
  bool Verify(Alg alg, absl::string_view secret, absl::string_view signed_part,
              const std::string& signature) const;
};

bool JwtVerifier::Keys::Verify(Alg alg, absl::string_view secret, absl::string_view signed_part,
                               const std::string& signature) const {
  const auto* data = reinterpret_cast<const unsigned char*>(signed_part.data());
  if (alg == Alg::kHs256) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    if (HMAC(sha256.get(), secret.data(), static_cast<int>(secret.size()), data, signed_part.size(),
             mac, &mac_length) == nullptr) {
      ERR_clear_error();
      return false;
    }
    return signature.size() == mac_length && CRYPTO_memcmp(mac, signature.data(), mac_length) == 0;
  }
  std::string der = SignatureForOpenSsl(alg, signature);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  bool ok =
      !der.empty() && ctx != nullptr &&
      EVP_DigestVerifyInit(ctx.get(), nullptr, sha256.get(), nullptr, public_key.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                       data, signed_part.size()) == 1;
  ERR_clear_error();
  return ok;
}

// The tokens that passed verification, by their exact text, with the times between which they
// stay valid. Thread-safe.
class JwtVerifier::VerifiedTokens {
 public:
  struct Entry {
    Caller caller;
    absl::Time valid_from;
    absl::Time valid_until;
  };

  std::optional<Entry> Find(absl::string_view token) const {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(token);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  void Remember(absl::string_view token, Entry entry) {
    if (token.size() > kMaxCachedTokenBytes) return;
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= kVerifiedTokenCacheSize) entries_.clear();
    entries_.insert_or_assign(std::string(token), std::move(entry));
  }

  void Forget(absl::string_view token) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(token);
    if (it != entries_.end()) entries_.erase(it);
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

JwtVerifier::JwtVerifier(JwtConfig config, std::unique_ptr<const Keys> keys,
                         const common::Clock* clock)
    : config_(std::move(config)),
      keys_(std::move(keys)),
      verified_(std::make_unique<VerifiedTokens>()),
      clock_(clock) {}
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;
JwtVerifier::~JwtVerifier() = default;

absl::StatusOr<JwtVerifier> JwtVerifier::Create(JwtConfig config, const common::Clock* clock) {
  if (config.public_key_pem.empty() && config.hs256_secret.empty()) {
    return absl::InvalidArgumentError("no JWT key: give a public key or an HS256 secret");
  }
  if (!config.hs256_secret.empty() && config.hs256_secret.size() < kMinHs256SecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the HS256 secret must have at least ", kMinHs256SecretBytes, " bytes"));
  }
  if (config.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the JWT leeway must not be negative");
  }
  auto keys = std::make_unique<Keys>();
  keys->sha256.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (keys->sha256 == nullptr) {
    return absl::InternalError(absl::StrCat("no SHA256 in OpenSSL: ", TakeOpenSslError()));
  }
  if (!config.public_key_pem.empty()) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(
        config.public_key_pem.data(), static_cast<int>(config.public_key_pem.size())));
    keys->public_key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (keys->public_key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the JWT public key is not a PEM PUBLIC KEY: ", TakeOpenSslError()));
    }
    EVP_PKEY* key = keys->public_key.get();
    if (EVP_PKEY_is_a(key, "RSA")) {
      if (EVP_PKEY_get_bits(key) < kMinRsaBits) {
        return absl::InvalidArgumentError(absl::StrCat("the JWT RSA public key has ",
                                                       EVP_PKEY_get_bits(key),
                                                       " bits; at least 2048 are needed"));
      }
      keys->public_alg = Alg::kRs256;
    } else if (EVP_PKEY_is_a(key, "EC")) {
      char group[64] = {};
      size_t group_length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof(group), &group_length) != 1 ||
          (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0)) {
        ERR_clear_error();
        return absl::InvalidArgumentError(absl::StrCat("the JWT EC public key is on curve ",
                                                       group[0] != '\0' ? group : "?",
                                                       "; only P-256 (ES256) is supported"));
      }
      keys->public_alg = Alg::kEs256;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("the JWT public key is ",
                                                     EVP_PKEY_get0_type_name(key),
                                                     "; only RSA and EC P-256 are supported"));
    }
    config.public_key_pem.clear();  // Parsed; no need to keep it.
  }
  return JwtVerifier(std::move(config), std::move(keys), clock);
}

absl::StatusOr<Caller> JwtVerifier::Verify(absl::string_view authorization_header) const {
  absl::string_view header = absl::StripAsciiWhitespace(authorization_header);
  if (header.empty()) return Unauthenticated("missing", "missing Authorization header");
  std::pair<absl::string_view, absl::string_view> scheme_token =
      absl::StrSplit(header, absl::MaxSplits(' ', 1));
  if (!absl::EqualsIgnoreCase(scheme_token.first, "Bearer")) {
    return Unauthenticated("malformed", "Authorization is not a Bearer token");
  }
  absl::string_view token = absl::StripLeadingAsciiWhitespace(scheme_token.second);
  if (token.empty()) return Unauthenticated("missing", "empty bearer token");
  if (token.size() > kMaxTokenBytes) return Unauthenticated("malformed", "token too long");

  const absl::Time now = clock_->Now();
  if (std::optional<VerifiedTokens::Entry> known = verified_->Find(token)) {
    if (now >= known->valid_until) {
      verified_->Forget(token);
      return Unauthenticated("expired", "token expired");
    }
    if (now < known->valid_from) return Unauthenticated("not_yet_valid", "token not yet valid");
    return known->caller;
  }
  VerifiedTokens::Entry entry;
  ASSIGN_OR_RETURN(entry.caller, VerifyToken(token, &entry.valid_from, &entry.valid_until));
  verified_->Remember(token, entry);
  return std::move(entry.caller);
}

absl::StatusOr<Caller> JwtVerifier::VerifyToken(absl::string_view token, absl::Time* valid_from,
                                                absl::Time* valid_until) const {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Unauthenticated("malformed", "malformed token");
  ASSIGN_OR_RETURN(JoseHeader jose, DecodeJsonSegment<JoseHeader>(parts[0], "header"));
  ASSIGN_OR_RETURN(Alg alg, AllowedAlg(jose, !config_.hs256_secret.empty(), keys_->public_alg));
  std::string signature;
  if (!IsBase64Url(parts[2]) || !absl::WebSafeBase64Unescape(parts[2], &signature)) {
    return Unauthenticated("malformed", "malformed token signature");
  }
  // The signed part is "<header>.<payload>" exactly as received.
  absl::string_view signed_part = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!keys_->Verify(alg, config_.hs256_secret, signed_part, signature)) {
    return Unauthenticated("bad_signature", "bad signature");
  }

  // Only a signed payload is parsed.
  ASSIGN_OR_RETURN(JwtClaims claims, DecodeJsonSegment<JwtClaims>(parts[1], "payload"));
  const absl::Time now = clock_->Now();
  if (!claims.has_exp()) return Unauthenticated("malformed", "token has no exp");
  ASSIGN_OR_RETURN(absl::Time expires, NumericDate(claims.exp(), "exp"));
  *valid_until = expires + config_.leeway;
  if (now >= *valid_until) return Unauthenticated("expired", "token expired");
  *valid_from = absl::InfinitePast();
  if (claims.has_nbf()) {
    ASSIGN_OR_RETURN(absl::Time not_before, NumericDate(claims.nbf(), "nbf"));
    *valid_from = not_before - config_.leeway;
    if (now < *valid_from) return Unauthenticated("not_yet_valid", "token not yet valid");
  }
  const std::string* issuer =
      claims.iss().kind_case() == Value::kStringValue ? &claims.iss().string_value() : nullptr;
  const bool from_backend_issuer =
      issuer != nullptr && !config_.backend_issuer.empty() && *issuer == config_.backend_issuer;
  if (!config_.issuer.empty() && !from_backend_issuer &&
      (issuer == nullptr || *issuer != config_.issuer)) {
    return Unauthenticated("wrong_issuer", "wrong issuer");
  }
  if (!config_.audiences.empty() &&
      !AudienceMatches(claims.has_aud() ? &claims.aud() : nullptr, config_.audiences)) {
    return Unauthenticated("wrong_audience", "wrong audience");
  }

  Caller caller;
  caller.expires = expires;
  ASSIGN_OR_RETURN(caller.backend, HasBackendScope(claims.has_scope() ? &claims.scope() : nullptr));
  const bool may_be_backend =
      config_.backend_issuer.empty() ? alg == Alg::kHs256 : from_backend_issuer;
  if (caller.backend && !may_be_backend) {
    absl::Status denied = absl::PermissionDeniedError(
        config_.backend_issuer.empty()
            ? "only tokens signed with the gateway's HS256 secret may carry the backend scope"
            : "only tokens of the backend issuer may carry the backend scope");
    denied.SetPayload(kFailurePayload, absl::Cord("forbidden_scope"));
    return denied;
  }
  if (claims.has_sub()) {
    if (claims.sub().kind_case() != Value::kStringValue) {
      return Unauthenticated("malformed", "malformed sub");
    }
    caller.subject = claims.sub().string_value();
    // The subject travels as gRPC metadata and becomes a box's user id: printable ASCII
    // without spaces (anything else would be refused by docker-svc, or by gRPC itself).
    for (char c : caller.subject) {
      if (c <= 0x20 || c >= 0x7f) {
        return Unauthenticated("malformed", "sub must be printable ASCII without spaces");
      }
    }
  }
  if (caller.subject.empty() && !caller.backend) {
    return Unauthenticated("malformed", "token has no sub");
  }
  return caller;
}

std::string AuthFailureReason(const absl::Status& status) {
  const auto reason = status.GetPayload(kFailurePayload);  // absl::optional<absl::Cord>
  return reason.has_value() ? std::string(*reason) : "";
}

absl::StatusOr<JwtConfig> LoadJwtConfig(const std::string& public_key_file,
                                        const std::string& hs256_secret_file,
                                        const std::string& issuer,
                                        const std::vector<std::string>& audiences,
                                        const std::string& backend_issuer) {
  if (public_key_file.empty() && hs256_secret_file.empty()) {
    return absl::InvalidArgumentError(
        "no JWT key: give --jwt_public_key or --jwt_hs256_secret_file");
  }
  // Reads `file`, keeping ReadFile's code and naming what it is.
  auto read = [](const std::string& file, absl::string_view what) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> contents = common::ReadFile(file);
    if (!contents.ok()) {
      return absl::Status(contents.status().code(),
                          absl::StrCat(what, ": ", contents.status().message()));
    }
    if (absl::StripTrailingAsciiWhitespace(*contents).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " file ", file, " is empty"));
    }
    return contents;
  };
  JwtConfig config;
  config.issuer = issuer;
  config.audiences = audiences;
  config.backend_issuer = backend_issuer;
  if (!public_key_file.empty()) {
    ASSIGN_OR_RETURN(config.public_key_pem, read(public_key_file, "JWT public key"));
  }
  if (!hs256_secret_file.empty()) {
    ASSIGN_OR_RETURN(std::string secret, read(hs256_secret_file, "JWT HS256 secret"));
    config.hs256_secret = std::string(absl::StripTrailingAsciiWhitespace(secret));
  }
  if (!public_key_file.empty() && audiences.empty()) {
    return absl::InvalidArgumentError(
        "--jwt_public_key needs --jwt_audience: an identity provider's key signs tokens for "
        "other services too, and only their aud tells Berth's apart");
  }
  return config;
}

}  // namespace berth::gateway
