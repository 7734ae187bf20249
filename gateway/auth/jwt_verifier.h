#ifndef BERTH_GATEWAY_AUTH_JWT_VERIFIER_H_
#define BERTH_GATEWAY_AUTH_JWT_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace berth::gateway {

// What the gateway accepts as a caller's JWT (README, "gateway", Auth).
struct JwtConfig {
  // A PEM "PUBLIC KEY" (SubjectPublicKeyInfo): RSA of at least 2048 bits (enables RS256) or EC
  // P-256 (enables ES256). Empty: no public key.
  std::string public_key_pem;
  // The HS256 shared secret, at least 32 bytes (RFC 7518 §3.2). Empty: no HS256.
  std::string hs256_secret;
  // Empty: "iss" is not checked; else it must equal this (or backend_issuer).
  std::string issuer;
  // Who may grant the backend role. Set: a token may carry the "backend" scope only when its
  // "iss" equals this. Empty: only a token signed with the HS256 secret (Berth's own key) may,
  // never one signed with the public key (an identity provider's, whose users may be able to
  // ask for any scope).
  std::string backend_issuer;
  // Empty: "aud" is not checked; else the token's "aud" (a string or an array of strings) must
  // hold one of these.
  std::vector<std::string> audiences;
  // Clock skew allowed on "exp" and "nbf".
  absl::Duration leeway = absl::Seconds(30);
};

// Who is calling, from a verified token.
struct Caller {
  std::string subject;   // "sub"; may be empty only for a backend token.
  bool backend = false;  // "scope" (space-separated string, or array of strings) has "backend".
  absl::Time expires = absl::InfiniteFuture();  // "exp", without the leeway
};

// Verifies bearer JWTs against one JwtConfig. Keys are parsed once by Create; Verify is const
// and thread-safe (one verifier may serve every request). Movable, not copyable.
//
// A token that passed verification is remembered (by its exact bytes, up to
// kVerifiedTokenCacheSize of them), so that a client sending the same token with every request
// pays for the signature and JSON only once; the time claims are still checked on every use.
//
// Accepted algorithms follow the configured keys only: HS256 with the secret; RS256 with an RSA
// public key; ES256 with an EC P-256 public key. Anything else ("none", HS256 keyed with the
// public key's PEM text, RS384, ...) is refused, whatever the token's header claims.
class JwtVerifier {
 public:
  // INVALID_ARGUMENT, saying why, for a config with no key, a PEM that is not a supported
  // public key, a weak key (RSA < 2048 bits, HS256 secret < 32 bytes) or a negative leeway.
  // `clock` must outlive the verifier.
  static absl::StatusOr<JwtVerifier> Create(JwtConfig config, const common::Clock* clock);

  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;
  ~JwtVerifier();

  // Verifies an "Authorization" header value, "Bearer <token>" (scheme case-insensitive).
  // UNAUTHENTICATED with a short reason (never echoing the token) for: a missing or malformed
  // header or token, an algorithm the keys do not allow, a bad signature, a token without
  // "exp", an expired one (now >= exp + leeway), one not yet valid (now < nbf - leeway), a
  // wrong issuer or audience, a malformed claim (a "sub" that is not printable ASCII without
  // spaces, say), or a missing "sub" on a non-backend token. PERMISSION_DENIED for an otherwise
  // valid token whose "backend" scope JwtConfig::backend_issuer does not allow: it is neither
  // a backend nor an end user.
  absl::StatusOr<Caller> Verify(absl::string_view authorization_header) const;

  // How many verified tokens are remembered; when full, the memory starts over empty. Tokens
  // longer than kMaxCachedTokenBytes are verified in full every time.
  static constexpr size_t kVerifiedTokenCacheSize = 1024;
  static constexpr size_t kMaxCachedTokenBytes = 2048;

 private:
  struct Keys;
  class VerifiedTokens;
  JwtVerifier(JwtConfig config, std::unique_ptr<const Keys> keys, const common::Clock* clock);

  // Verify without the memory of verified tokens: signature and every claim. On success,
  // `valid_from` and `valid_until` bound the times at which the token stays valid.
  absl::StatusOr<Caller> VerifyToken(absl::string_view token, absl::Time* valid_from,
                                     absl::Time* valid_until) const;

  JwtConfig config_;
  std::unique_ptr<const Keys> keys_;
  std::unique_ptr<VerifiedTokens> verified_;
  const common::Clock* clock_;
};

// Why Verify() refused a token, as a bounded label for metrics: missing (no token), malformed
// (not a well-formed JWT, or a claim of the wrong form or missing), bad_algorithm (an algorithm
// the keys do not allow), bad_signature, expired, not_yet_valid, wrong_issuer, wrong_audience,
// forbidden_scope (PERMISSION_DENIED: a backend scope it may not carry). "" for a status
// Verify() did not return.
std::string AuthFailureReason(const absl::Status& status);

// The JwtConfig the gateway's flags name: the PEM file of --jwt_public_key and the secret file
// of --jwt_hs256_secret_file (trailing whitespace, e.g. the newline of `echo`, is dropped).
// An empty file name means that key is not used. NOT_FOUND / UNAVAILABLE (naming the file) when
// a named file cannot be read; INVALID_ARGUMENT when neither file is named, a named one is
// empty, or a public key comes without audiences (an identity provider's key signs tokens for
// other services too: only "aud" tells Berth's apart). The keys themselves are checked by
// JwtVerifier::Create.
absl::StatusOr<JwtConfig> LoadJwtConfig(const std::string& public_key_file,
                                        const std::string& hs256_secret_file,
                                        const std::string& issuer,
                                        const std::vector<std::string>& audiences,
                                        const std::string& backend_issuer = "");

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_AUTH_JWT_VERIFIER_H_
