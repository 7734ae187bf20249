#include "gateway/auth/jwt_verifier.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/testing/fake_clock.h"
#include "common/testing/hs256_token.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/jwt_signer.h"

namespace berth::gateway {
namespace {

using ::berth::testing::FakeClock;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test-secret";
constexpr int64_t kNow = 1'700'000'000;  // FakeClock's default start.

// A key pair as PEM text.
struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

// Generates a key with EVP_PKEY_Q_keygen: ("RSA", bits) or ("EC", curve name).
template <typename Arg>
KeyPair Generate(const char* type, Arg arg) {
  KeyPair pair;
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, type, arg);
  if (key == nullptr) return pair;
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int): OpenSSL's type.
    std::string text(data, static_cast<size_t>(length));
    BIO_free(bio);
    return text;
  };
  pair.private_pem = pem(
      [&](BIO* bio) { PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
  pair.public_pem = pem([&](BIO* bio) { PEM_write_bio_PUBKEY(bio, key); });
  EVP_PKEY_free(key);
  return pair;
}

// A token with `claims_json` as payload, signed by libjwt with `alg` and `key` (the private PEM
// for RS/ES, the secret for HS, empty for none), with `headers_json` added to its JOSE header.
// Empty when libjwt fails.
std::string Sign(jwt_alg_t alg, const std::string& key, const std::string& claims_json,
                 const std::string& headers_json = "{}") {
  return berth::testing::SignWithLibjwt(alg, key, claims_json, headers_json);
}

std::string Bearer(const std::string& token) { return "Bearer " + token; }

// A config with a public key PEM and/or an HS256 secret (empty: none), the rest default.
JwtConfig KeyConfig(const std::string& public_key_pem, const std::string& hs256_secret = "") {
  JwtConfig config;
  config.public_key_pem = public_key_pem;
  config.hs256_secret = hs256_secret;
  return config;
}
JwtConfig SecretConfig(const std::string& secret) { return KeyConfig("", secret); }

// Any bytes as header and claims, signed with kSecret.
std::string SignHs256Raw(const std::string& header_json, const std::string& claims_json) {
  return berth::testing::SignHs256Raw(kSecret, header_json, claims_json);
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  // The test keys, made on first use: RSA generation is slow and ctest runs each test in a
  // process of its own, so a test makes only the keys it uses.
  static const KeyPair& Rsa() {
    static const KeyPair* const pair = new KeyPair(Generate("RSA", size_t{2048}));
    return *pair;
  }
  static const KeyPair& OtherRsa() {
    static const KeyPair* const pair = new KeyPair(Generate("RSA", size_t{2048}));
    return *pair;
  }
  static const KeyPair& Ec() {
    static const KeyPair* const pair = new KeyPair(Generate("EC", "P-256"));
    return *pair;
  }

  // A verifier with `config`, the test's fake clock and, unless set, issuer "berth-web" and
  // audience "berth".
  JwtVerifier Make(JwtConfig config) {
    if (config.issuer.empty()) config.issuer = "berth-web";
    if (config.audiences.empty()) config.audiences = {"berth"};
    absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(std::move(config), &clock_);
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return std::move(verifier).value();
  }
  JwtVerifier RsaVerifier() { return Make(KeyConfig(Rsa().public_pem)); }
  JwtVerifier EcVerifier() { return Make(KeyConfig(Ec().public_pem)); }
  JwtVerifier SecretVerifier() { return Make(SecretConfig(kSecret)); }

  // Claims valid for Make's defaults, with `extra` (",\"k\":v,...") appended.
  static std::string Claims(const std::string& extra = "") {
    return absl::StrCat(R"({"sub":"alice","iss":"berth-web","aud":"berth","exp":)", kNow + 600,
                        extra, "}");
  }
  // Claims with only iss, aud and `fields` (",\"k\":v,...").
  static std::string ClaimsWith(const std::string& fields) {
    return absl::StrCat(R"({"iss":"berth-web","aud":"berth")", fields, "}");
  }

  FakeClock clock_;
};

// --- Accepted tokens ---------------------------------------------------------------------

TEST_F(JwtVerifierTest, AcceptsRs256) {
  JwtVerifier verifier = RsaVerifier();
  std::string token = Sign(JWT_ALG_RS256, Rsa().private_pem, Claims());
  ASSERT_FALSE(token.empty());
  ASSERT_OK_AND_ASSIGN(Caller caller, verifier.Verify(Bearer(token)));
  EXPECT_EQ(caller.subject, "alice");
  EXPECT_FALSE(caller.backend);
}

TEST_F(JwtVerifierTest, AcceptsEs256) {
  JwtVerifier verifier = EcVerifier();
  std::string token = Sign(JWT_ALG_ES256, Ec().private_pem, Claims());
  ASSERT_FALSE(token.empty());
  ASSERT_OK_AND_ASSIGN(Caller caller, verifier.Verify(Bearer(token)));
  EXPECT_EQ(caller.subject, "alice");
  EXPECT_FALSE(caller.backend);
}

TEST_F(JwtVerifierTest, AcceptsHs256) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret, Claims());
  ASSERT_FALSE(token.empty());
  ASSERT_OK_AND_ASSIGN(Caller caller, verifier.Verify(Bearer(token)));
  EXPECT_EQ(caller.subject, "alice");
  EXPECT_FALSE(caller.backend);
}

// Found by tests/fuzz/jwt_fuzz (corpus entry control-character-in-claims): protobuf's JSON
// parser took claims that are not JSON (a raw control character in a name or a string).
TEST_F(JwtVerifierTest, RefusesClaimsThatAreNotStrictJson) {
  JwtVerifier verifier = SecretVerifier();
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const std::string exp = absl::StrCat(kNow + 3600);
  const std::string rest = R"("iss":"berth-web","aud":"berth","exp":)" + exp + "}";
  EXPECT_OK(verifier.Verify("Bearer " + SignHs256Raw(header, R"({"sub":"u1",)" + rest)));
  for (const std::string& claims :
       {std::string("{\"su\0b\":\"a\",\"sub\":\"b\",", 22) + rest,
        "{\"sub\":\"u\x01\"," + rest, "{\"sub\":\"u1\"," + rest + ","}) {
    EXPECT_THAT(verifier.Verify("Bearer " + SignHs256Raw(header, claims)),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("malformed")))
        << claims;
  }
}

TEST_F(JwtVerifierTest, AcceptsBothKeyKindsWhenBothAreConfigured) {
  JwtVerifier verifier = Make(KeyConfig(Rsa().public_pem, kSecret));
  EXPECT_OK(verifier.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, Claims()))));
  EXPECT_OK(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims()))));
}

TEST_F(JwtVerifierTest, SchemeIsCaseInsensitiveAndSurroundingSpaceIgnored) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret, Claims());
  EXPECT_OK(verifier.Verify("bearer " + token));
  EXPECT_OK(verifier.Verify("  BEARER   " + token + " "));
}

TEST_F(JwtVerifierTest, BackendFromScopeString) {
  JwtVerifier verifier = SecretVerifier();
  ASSERT_OK_AND_ASSIGN(
      Caller caller,
      verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims(R"(,"scope":"backend admin")")))));
  EXPECT_EQ(caller.subject, "alice");
  EXPECT_TRUE(caller.backend);
}

TEST_F(JwtVerifierTest, BackendFromScopeArray) {
  JwtVerifier verifier = SecretVerifier();
  ASSERT_OK_AND_ASSIGN(Caller caller,
                       verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret,
                                                   Claims(R"(,"scope":["admin","backend"])")))));
  EXPECT_TRUE(caller.backend);
}

TEST_F(JwtVerifierTest, ScopeWithoutBackendIsNotBackend) {
  JwtVerifier verifier = SecretVerifier();
  ASSERT_OK_AND_ASSIGN(
      Caller caller, verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret,
                                                 Claims(R"(,"scope":"backends admin:backend")")))));
  EXPECT_FALSE(caller.backend);
}

TEST_F(JwtVerifierTest, BackendTokenNeedsNoSub) {
  JwtVerifier verifier = SecretVerifier();
  ASSERT_OK_AND_ASSIGN(Caller caller,
                       verifier.Verify(Bearer(Sign(
                           JWT_ALG_HS256, kSecret,
                           ClaimsWith(absl::StrCat(R"(,"scope":"backend","exp":)", kNow + 60))))));
  EXPECT_EQ(caller.subject, "");
  EXPECT_TRUE(caller.backend);
}

TEST_F(JwtVerifierTest, CallerExpiresAtExpWithoutTheLeeway) {
  JwtVerifier verifier = SecretVerifier();
  ASSERT_OK_AND_ASSIGN(Caller caller,
                       verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims()))));
  EXPECT_EQ(caller.expires, absl::FromUnixSeconds(kNow + 600));
  // The same from the memory of verified tokens.
  ASSERT_OK_AND_ASSIGN(caller, verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims()))));
  EXPECT_EQ(caller.expires, absl::FromUnixSeconds(kNow + 600));
}

// --- Who may be the backend --------------------------------------------------------------

// Without a backend issuer, the public key (an identity provider's) grants no backend role:
// a valid token of it claiming the scope is neither a backend nor a user.
TEST_F(JwtVerifierTest, BackendScopeFromThePublicKeyIsDenied) {
  const std::string claims = Claims(R"(,"scope":"backend")");
  JwtVerifier rsa = Make(KeyConfig(Rsa().public_pem, kSecret));
  EXPECT_THAT(rsa.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, claims))),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("backend scope")));
  // Twice: a denied token is not remembered as verified.
  EXPECT_THAT(rsa.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, claims))),
              StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  JwtVerifier ec = EcVerifier();
  EXPECT_THAT(ec.Verify(Bearer(Sign(JWT_ALG_ES256, Ec().private_pem, claims))),
              StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  // The same verifier takes the scope from the HS256 secret, and the key's tokens as users.
  ASSERT_OK_AND_ASSIGN(Caller backend, rsa.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))));
  EXPECT_TRUE(backend.backend);
  ASSERT_OK_AND_ASSIGN(Caller user,
                       rsa.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, Claims()))));
  EXPECT_FALSE(user.backend);
}

// A bad token claiming the scope is still UNAUTHENTICATED: the scope is judged last.
TEST_F(JwtVerifierTest, BackendScopeIsJudgedAfterEverythingElse) {
  JwtVerifier verifier = RsaVerifier();
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_RS256, OtherRsa().private_pem,
                                          Claims(R"(,"scope":"backend")")))),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
  std::string expired = absl::StrCat(R"({"sub":"a","iss":"berth-web","aud":"berth","exp":)",
                                     kNow - 600, R"(,"scope":"backend"})");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, expired))),
              StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
}

// With a backend issuer, its tokens (whatever the key) and only they may carry the scope; they
// pass the issuer check next to the users' issuer.
TEST_F(JwtVerifierTest, BackendIssuerAloneGrantsTheBackendScope) {
  JwtConfig config = KeyConfig(Rsa().public_pem, kSecret);
  config.backend_issuer = "berth-backend";
  JwtVerifier verifier = Make(std::move(config));
  auto claims = [](const std::string& iss, const std::string& extra) {
    return absl::StrCat(R"({"sub":"web","iss":")", iss, R"(","aud":"berth","exp":)", kNow + 600,
                        extra, "}");
  };
  const std::string scope = R"(,"scope":"backend")";
  const std::string rs256_backend =
      Sign(JWT_ALG_RS256, Rsa().private_pem, claims("berth-backend", scope));
  ASSERT_OK_AND_ASSIGN(Caller rs256, verifier.Verify(Bearer(rs256_backend)));
  EXPECT_TRUE(rs256.backend);
  ASSERT_OK_AND_ASSIGN(
      Caller hs256,
      verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims("berth-backend", scope)))));
  EXPECT_TRUE(hs256.backend);
  // The users' issuer may not, with either key.
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims("berth-web", scope)))),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("backend issuer")));
  EXPECT_THAT(
      verifier.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, claims("berth-web", scope)))),
      StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  // Without the scope, a token of the backend issuer is a user; another issuer is refused.
  ASSERT_OK_AND_ASSIGN(
      Caller user,
      verifier.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, claims("berth-backend", "")))));
  EXPECT_FALSE(user.backend);
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims("someone", scope)))),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("issuer")));
}

TEST_F(JwtVerifierTest, AudienceArrayHoldingOneConfiguredAudienceIsAccepted) {
  JwtConfig config = SecretConfig(kSecret);
  config.audiences = {"other", "berth"};
  JwtVerifier verifier = Make(std::move(config));
  std::string claims =
      absl::StrCat(R"({"sub":"a","iss":"berth-web","aud":["x","berth"],"exp":)", kNow + 60, "}");
  EXPECT_OK(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))));
}

TEST_F(JwtVerifierTest, IssuerAndAudienceUncheckedWhenNotConfigured) {
  absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(SecretConfig(kSecret), &clock_);
  ASSERT_OK(verifier);
  std::string claims = absl::StrCat(R"({"sub":"a","exp":)", kNow + 60, "}");
  EXPECT_OK(verifier->Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))));
}

TEST_F(JwtVerifierTest, IgnoresUnknownClaimsAndHeaders) {
  JwtVerifier verifier = SecretVerifier();
  std::string token =
      Sign(JWT_ALG_HS256, kSecret, Claims(R"(,"iat":1,"jti":"x","ext":{"a":[1,{"b":null}]})"),
           R"({"kid":"k1","cty":{"x":1}})");
  ASSERT_FALSE(token.empty());
  ASSERT_OK_AND_ASSIGN(Caller caller, verifier.Verify(Bearer(token)));
  EXPECT_EQ(caller.subject, "alice");
}

// --- Time ----------------------------------------------------------------------------------

TEST_F(JwtVerifierTest, ExpiredWithinLeewayIsAccepted) {
  JwtVerifier verifier = SecretVerifier();
  std::string token =
      Sign(JWT_ALG_HS256, kSecret, ClaimsWith(absl::StrCat(R"(,"sub":"a","exp":)", kNow - 29)));
  EXPECT_OK(verifier.Verify(Bearer(token)));
}

TEST_F(JwtVerifierTest, ExpiredBeyondLeewayIsRefused) {
  JwtVerifier verifier = SecretVerifier();
  std::string token =
      Sign(JWT_ALG_HS256, kSecret, ClaimsWith(absl::StrCat(R"(,"sub":"a","exp":)", kNow + 60)));
  EXPECT_OK(verifier.Verify(Bearer(token)));
  clock_.Advance(absl::Seconds(60 + 30));  // now == exp + leeway.
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "token expired"));
}

TEST_F(JwtVerifierTest, RememberedTokenStillExpires) {
  JwtVerifier verifier = SecretVerifier();
  std::string token =
      Sign(JWT_ALG_HS256, kSecret, ClaimsWith(absl::StrCat(R"(,"sub":"a","exp":)", kNow + 60)));
  for (int i = 0; i < 3; ++i) EXPECT_OK(verifier.Verify(Bearer(token)));
  clock_.Advance(absl::Seconds(60 + 29));
  EXPECT_OK(verifier.Verify(Bearer(token)));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "token expired"));
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "token expired"));
}

TEST_F(JwtVerifierTest, RememberedTokensKeepTheirOwnCallers) {
  JwtVerifier verifier = SecretVerifier();
  std::string alice = Sign(JWT_ALG_HS256, kSecret, Claims());
  std::string backend = Sign(JWT_ALG_HS256, kSecret, Claims(R"(,"scope":"backend")"));
  std::string bob = Sign(JWT_ALG_HS256, kSecret, absl::StrReplaceAll(Claims(), {{"alice", "bob"}}));
  for (int round = 0; round < 2; ++round) {
    ASSERT_OK_AND_ASSIGN(Caller a, verifier.Verify(Bearer(alice)));
    ASSERT_OK_AND_ASSIGN(Caller b, verifier.Verify(Bearer(bob)));
    ASSERT_OK_AND_ASSIGN(Caller s, verifier.Verify(Bearer(backend)));
    EXPECT_EQ(a.subject, "alice");
    EXPECT_FALSE(a.backend);
    EXPECT_EQ(b.subject, "bob");
    EXPECT_TRUE(s.backend);
  }
  // One changed signature character after the genuine token was remembered.
  std::string altered = alice;
  char& inner = altered[altered.size() - 5];  // Not the last one: it carries padding bits.
  inner = inner == 'A' ? 'B' : 'A';
  EXPECT_THAT(verifier.Verify(Bearer(altered)),
              StatusIs(absl::StatusCode::kUnauthenticated, "bad signature"));
}

TEST_F(JwtVerifierTest, MoreTokensThanTheMemoryHoldsAreAllVerified) {
  JwtVerifier verifier = SecretVerifier();
  const int count = static_cast<int>(JwtVerifier::kVerifiedTokenCacheSize) + 10;
  std::vector<std::string> tokens;
  for (int i = 0; i < count; ++i) {
    tokens.push_back(Sign(JWT_ALG_HS256, kSecret,
                          absl::StrReplaceAll(Claims(), {{"alice", absl::StrCat("user", i)}})));
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < count; i += 97) {
      ASSERT_OK_AND_ASSIGN(Caller caller, verifier.Verify(Bearer(tokens[i])));
      EXPECT_EQ(caller.subject, absl::StrCat("user", i));
    }
    for (const std::string& token : tokens) ASSERT_OK(verifier.Verify(Bearer(token)));
  }
}

TEST_F(JwtVerifierTest, NotYetValidBeyondLeewayIsRefused) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret, Claims(absl::StrCat(R"(,"nbf":)", kNow + 31)));
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "token not yet valid"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_OK(verifier.Verify(Bearer(token)));
}

TEST_F(JwtVerifierTest, NotYetValidWithinLeewayIsAccepted) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret, Claims(absl::StrCat(R"(,"nbf":)", kNow + 25)));
  EXPECT_OK(verifier.Verify(Bearer(token)));
}

TEST_F(JwtVerifierTest, FractionalExpIsANumericDate) {
  JwtVerifier verifier = SecretVerifier();
  // exp + leeway == kNow + 0.5s.
  std::string claims = absl::StrCat(R"(,"sub":"a","exp":)", kNow - 30, ".5");
  EXPECT_OK(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, ClaimsWith(claims)))));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, ClaimsWith(claims)))),
              StatusIs(absl::StatusCode::kUnauthenticated, "token expired"));
}

TEST_F(JwtVerifierTest, LeewayIsConfigurable) {
  JwtConfig config = SecretConfig(kSecret);
  config.leeway = absl::ZeroDuration();
  JwtVerifier verifier = Make(std::move(config));
  std::string token =
      Sign(JWT_ALG_HS256, kSecret, ClaimsWith(absl::StrCat(R"(,"sub":"a","exp":)", kNow - 1)));
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "token expired"));
}

TEST_F(JwtVerifierTest, MissingOrMalformedExpIsRefused) {
  JwtVerifier verifier = SecretVerifier();
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, ClaimsWith(R"(,"sub":"a")")))),
              StatusIs(absl::StatusCode::kUnauthenticated, "token has no exp"));
  EXPECT_THAT(verifier.Verify(Bearer(
                  Sign(JWT_ALG_HS256, kSecret, ClaimsWith(R"(,"sub":"a","exp":"4000000000")")))),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed exp"));
}

// --- Refused headers and tokens ------------------------------------------------------------

TEST_F(JwtVerifierTest, RefusesMissingHeader) {
  EXPECT_THAT(SecretVerifier().Verify(""),
              StatusIs(absl::StatusCode::kUnauthenticated, "missing Authorization header"));
}

TEST_F(JwtVerifierTest, RefusesOtherSchemes) {
  JwtVerifier verifier = SecretVerifier();
  EXPECT_THAT(verifier.Verify("Basic x"),
              StatusIs(absl::StatusCode::kUnauthenticated, "Authorization is not a Bearer token"));
  EXPECT_THAT(verifier.Verify(Sign(JWT_ALG_HS256, kSecret, Claims())),
              StatusIs(absl::StatusCode::kUnauthenticated, "Authorization is not a Bearer token"));
}

TEST_F(JwtVerifierTest, RefusesEmptyBearer) {
  JwtVerifier verifier = SecretVerifier();
  EXPECT_THAT(verifier.Verify("Bearer "),
              StatusIs(absl::StatusCode::kUnauthenticated, "empty bearer token"));
  EXPECT_THAT(verifier.Verify("Bearer"),
              StatusIs(absl::StatusCode::kUnauthenticated, "empty bearer token"));
}

TEST_F(JwtVerifierTest, RefusesGarbage) {
  JwtVerifier verifier = SecretVerifier();
  EXPECT_THAT(verifier.Verify("Bearer garbage"),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed token"));
  EXPECT_THAT(verifier.Verify("Bearer a.b.c.d"),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed token"));
  EXPECT_THAT(verifier.Verify("Bearer a.b.c"),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed token header"));
  EXPECT_THAT(verifier.Verify("Bearer " + std::string(10000, 'a')),
              StatusIs(absl::StatusCode::kUnauthenticated, "token too long"));
}

TEST_F(JwtVerifierTest, RefusesPaddedOrNonUrlSafeBase64) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret, Claims());
  EXPECT_THAT(verifier.Verify(Bearer(token + "=")),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed token signature"));
  EXPECT_THAT(verifier.Verify(Bearer("=" + token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed token header"));
}

TEST_F(JwtVerifierTest, RefusesBadSignature) {
  JwtVerifier verifier = RsaVerifier();
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_RS256, OtherRsa().private_pem, Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "bad signature"));
}

TEST_F(JwtVerifierTest, RefusesTamperedPayload) {
  JwtVerifier verifier = EcVerifier();
  std::string token = Sign(JWT_ALG_ES256, Ec().private_pem, Claims());
  std::string forged_payload =
      Sign(JWT_ALG_NONE, "", absl::StrReplaceAll(Claims(), {{"alice", "mallory"}}));
  // Keep the signed token's header and signature, put the forged payload between them.
  size_t first = token.find('.'), last = token.rfind('.');
  size_t forged_first = forged_payload.find('.'), forged_last = forged_payload.rfind('.');
  std::string tampered = absl::StrCat(
      token.substr(0, first + 1),
      forged_payload.substr(forged_first + 1, forged_last - forged_first - 1), token.substr(last));
  // The genuine token, verified (and remembered) first, lends the forgery nothing.
  EXPECT_OK(verifier.Verify(Bearer(token)));
  EXPECT_THAT(verifier.Verify(Bearer(tampered)),
              StatusIs(absl::StatusCode::kUnauthenticated, "bad signature"));
}

TEST_F(JwtVerifierTest, RefusesHs256WithWrongSecret) {
  JwtVerifier verifier = SecretVerifier();
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, std::string(kSecret) + "x", Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "bad signature"));
}

TEST_F(JwtVerifierTest, RefusesWrongIssuer) {
  JwtVerifier verifier = SecretVerifier();
  std::string claims =
      absl::StrCat(R"({"sub":"a","iss":"evil","aud":"berth","exp":)", kNow + 60, "}");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
              StatusIs(absl::StatusCode::kUnauthenticated, "wrong issuer"));
  claims = absl::StrCat(R"({"sub":"a","aud":"berth","exp":)", kNow + 60, "}");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
              StatusIs(absl::StatusCode::kUnauthenticated, "wrong issuer"));
}

TEST_F(JwtVerifierTest, RefusesWrongAudienceString) {
  JwtVerifier verifier = SecretVerifier();
  std::string claims =
      absl::StrCat(R"({"sub":"a","iss":"berth-web","aud":"other","exp":)", kNow + 60, "}");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
              StatusIs(absl::StatusCode::kUnauthenticated, "wrong audience"));
  claims = absl::StrCat(R"({"sub":"a","iss":"berth-web","aud":5,"exp":)", kNow + 60, "}");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
              StatusIs(absl::StatusCode::kUnauthenticated, "wrong audience"));
}

TEST_F(JwtVerifierTest, RefusesWrongAudienceArray) {
  JwtVerifier verifier = SecretVerifier();
  std::string claims = absl::StrCat(
      R"({"sub":"a","iss":"berth-web","aud":["other","berth2"],"exp":)", kNow + 60, "}");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
              StatusIs(absl::StatusCode::kUnauthenticated, "wrong audience"));
}

TEST_F(JwtVerifierTest, RefusesMissingAudience) {
  JwtVerifier verifier = SecretVerifier();
  std::string claims = absl::StrCat(R"({"sub":"a","iss":"berth-web","exp":)", kNow + 60, "}");
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
              StatusIs(absl::StatusCode::kUnauthenticated, "wrong audience"));
}

TEST_F(JwtVerifierTest, RefusesSubThatIsNotPrintableAscii) {
  JwtVerifier verifier = SecretVerifier();
  for (const char* sub : {"jos\u00e9", "a b", "line\\nbreak", "tab\\t"}) {
    const std::string claims =
        absl::StrReplaceAll(Claims(), {{"\"alice\"", absl::StrCat("\"", sub, "\"")}});
    EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, claims))),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("printable ASCII")))
        << sub;
  }
  EXPECT_OK(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret,
                                        absl::StrReplaceAll(Claims(), {{"alice", "a.l-i_c@e"}})))));
}

TEST_F(JwtVerifierTest, RefusesMissingSubForNonBackendToken) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret,
                           ClaimsWith(absl::StrCat(R"(,"scope":"admin","exp":)", kNow + 60)));
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "token has no sub"));
}

TEST_F(JwtVerifierTest, RefusesMalformedClaims) {
  JwtVerifier verifier = SecretVerifier();
  EXPECT_THAT(
      verifier.Verify(Bearer(
          Sign(JWT_ALG_HS256, kSecret, ClaimsWith(absl::StrCat(R"(,"sub":7,"exp":)", kNow + 60))))),
      StatusIs(absl::StatusCode::kUnauthenticated, "malformed sub"));
  EXPECT_THAT(verifier.Verify(Bearer(Sign(
                  JWT_ALG_HS256, kSecret,
                  ClaimsWith(absl::StrCat(R"(,"sub":null,"scope":"backend","exp":)", kNow + 60))))),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed sub"));
  EXPECT_THAT(
      verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims(R"(,"scope":["backend",1])")))),
      StatusIs(absl::StatusCode::kUnauthenticated, "malformed scope"));
  EXPECT_THAT(verifier.Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims(R"(,"nbf":"0")")))),
              StatusIs(absl::StatusCode::kUnauthenticated, "malformed nbf"));
}

TEST_F(JwtVerifierTest, RefusesCritHeader) {
  JwtVerifier verifier = SecretVerifier();
  std::string token = Sign(JWT_ALG_HS256, kSecret, Claims(), R"({"crit":["exp"]})");
  ASSERT_FALSE(token.empty());
  EXPECT_THAT(verifier.Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "unsupported crit header"));
}

// --- Algorithms ----------------------------------------------------------------------------

TEST_F(JwtVerifierTest, RefusesAlgNone) {
  std::string token = Sign(JWT_ALG_NONE, "", Claims());
  ASSERT_FALSE(token.empty());
  EXPECT_THAT(SecretVerifier().Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg none not allowed"));
  EXPECT_THAT(RsaVerifier().Verify(Bearer(token)),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg none not allowed"));
  // With a signature appended ("none" tokens have an empty one) it is still refused.
  EXPECT_THAT(RsaVerifier().Verify(Bearer(token + "c2ln")),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg none not allowed"));
}

TEST_F(JwtVerifierTest, RefusesHs256WhenOnlyAPublicKeyIsConfigured) {
  EXPECT_THAT(RsaVerifier().Verify(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg HS256 not allowed"));
}

TEST_F(JwtVerifierTest, RefusesRs256WhenOnlyASecretIsConfigured) {
  EXPECT_THAT(SecretVerifier().Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg RS256 not allowed"));
}

TEST_F(JwtVerifierTest, RefusesAlgOfTheOtherPublicKeyType) {
  EXPECT_THAT(EcVerifier().Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem, Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg RS256 not allowed"));
  EXPECT_THAT(RsaVerifier().Verify(Bearer(Sign(JWT_ALG_ES256, Ec().private_pem, Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg ES256 not allowed"));
  EXPECT_THAT(RsaVerifier().Verify(Bearer(Sign(JWT_ALG_RS512, Rsa().private_pem, Claims()))),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg RS512 not allowed"));
}

// The classic alg confusion: HS256 "signed" with the public key's PEM text as the secret.
// libjwt 1.10's own jwt_decode accepts such a token when given the PEM as its key.
TEST_F(JwtVerifierTest, RefusesAlgConfusion) {
  std::string forged = Sign(JWT_ALG_HS256, Rsa().public_pem, Claims(R"(,"scope":"backend")"));
  ASSERT_FALSE(forged.empty());
  EXPECT_THAT(RsaVerifier().Verify(Bearer(forged)),
              StatusIs(absl::StatusCode::kUnauthenticated, "alg HS256 not allowed"));
  // With a (different) secret configured too, HS256 is allowed but the signature is wrong.
  JwtVerifier both = Make(KeyConfig(Rsa().public_pem, kSecret));
  EXPECT_THAT(both.Verify(Bearer(forged)),
              StatusIs(absl::StatusCode::kUnauthenticated, "bad signature"));
}

TEST_F(JwtVerifierTest, RefusesEs256SignatureOfWrongSize) {
  JwtVerifier verifier = EcVerifier();
  std::string token = Sign(JWT_ALG_ES256, Ec().private_pem, Claims());
  // 84 of the 86 base64url characters: a clean 63-byte signature.
  EXPECT_THAT(verifier.Verify(Bearer(token.substr(0, token.size() - 2))),
              StatusIs(absl::StatusCode::kUnauthenticated, "bad signature"));
}

TEST_F(JwtVerifierTest, EveryRefusalSaysWhyAsABoundedReason) {
  JwtVerifier verifier = SecretVerifier();
  auto reason = [&](const std::string& header) {
    return AuthFailureReason(verifier.Verify(header).status());
  };
  EXPECT_EQ(reason(""), "missing");
  EXPECT_EQ(reason("Bearer "), "missing");
  EXPECT_EQ(reason("Basic abc"), "malformed");
  EXPECT_EQ(reason("Bearer a.b"), "malformed");
  EXPECT_EQ(reason(Bearer(Sign(JWT_ALG_HS256, kSecret, ClaimsWith(R"(,"sub":"a")")))),
            "malformed");  // no exp
  EXPECT_EQ(reason(Bearer(Sign(JWT_ALG_NONE, "", Claims()))), "bad_algorithm");
  EXPECT_EQ(reason(Bearer(Sign(JWT_ALG_HS256, "another secret of at least 32 bytes!", Claims()))),
            "bad_signature");
  EXPECT_EQ(reason(Bearer(Sign(JWT_ALG_HS256, kSecret,
                               ClaimsWith(absl::StrCat(R"(,"sub":"a","exp":)", kNow - 100))))),
            "expired");
  EXPECT_EQ(
      reason(Bearer(Sign(JWT_ALG_HS256, kSecret, Claims(absl::StrCat(",\"nbf\":", kNow + 100))))),
      "not_yet_valid");
  EXPECT_EQ(reason(Bearer(Sign(
                JWT_ALG_HS256, kSecret,
                absl::StrCat(R"({"sub":"a","iss":"x","aud":"berth","exp":)", kNow + 600, "}")))),
            "wrong_issuer");
  EXPECT_EQ(reason(Bearer(Sign(JWT_ALG_HS256, kSecret,
                               absl::StrCat(R"({"sub":"a","iss":"berth-web","aud":"x","exp":)",
                                            kNow + 600, "}")))),
            "wrong_audience");
  JwtVerifier rsa = RsaVerifier();
  EXPECT_EQ(AuthFailureReason(rsa.Verify(Bearer(Sign(JWT_ALG_RS256, Rsa().private_pem,
                                                     Claims(R"(,"scope":"backend")"))))
                                  .status()),
            "forbidden_scope");
  EXPECT_EQ(AuthFailureReason(absl::OkStatus()), "");
  EXPECT_EQ(AuthFailureReason(absl::UnavailableError("x")), "");
}

TEST_F(JwtVerifierTest, IsSafeToShareAcrossThreads) {
  JwtVerifier verifier = Make(KeyConfig(Ec().public_pem, kSecret));
  std::string es = Bearer(Sign(JWT_ALG_ES256, Ec().private_pem, Claims()));
  std::string hs = Bearer(Sign(JWT_ALG_HS256, kSecret, Claims()));
  std::string bad = Bearer(Sign(JWT_ALG_HS256, Ec().public_pem, Claims()));
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (!verifier.Verify(es).ok() || !verifier.Verify(hs).ok() || verifier.Verify(bad).ok()) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(failures, ::testing::Each(0));
}

// --- Create --------------------------------------------------------------------------------

TEST_F(JwtVerifierTest, CreateRefusesBadConfigs) {
  EXPECT_THAT(JwtVerifier::Create({}, &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no JWT key")));
  EXPECT_THAT(JwtVerifier::Create(KeyConfig("not a pem"), &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM PUBLIC KEY")));
  EXPECT_THAT(JwtVerifier::Create(KeyConfig(Rsa().private_pem), &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM PUBLIC KEY")));
  EXPECT_THAT(JwtVerifier::Create(SecretConfig("short"), &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 32 bytes")));
  JwtConfig negative_leeway = SecretConfig(kSecret);
  negative_leeway.leeway = absl::Seconds(-1);
  EXPECT_THAT(JwtVerifier::Create(negative_leeway, &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leeway")));
  EXPECT_THAT(JwtVerifier::Create(KeyConfig(Generate("RSA", size_t{1024}).public_pem), &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1024 bits")));
  EXPECT_THAT(JwtVerifier::Create(KeyConfig(Generate("EC", "P-384").public_pem), &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only P-256")));
  EXPECT_THAT(JwtVerifier::Create(KeyConfig(Generate("ED25519", nullptr).public_pem), &clock_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only RSA and EC P-256")));
}

// --- LoadJwtConfig -------------------------------------------------------------------------

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path) << contents;
}

TEST(LoadJwtConfigTest, ReadsBothFiles) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  WriteFile(dir.File("key.pem"), "-----BEGIN PUBLIC KEY-----\nxyz\n-----END PUBLIC KEY-----\n");
  WriteFile(dir.File("secret"), std::string(kSecret) + "\n");
  ASSERT_OK_AND_ASSIGN(JwtConfig config,
                       LoadJwtConfig(dir.File("key.pem"), dir.File("secret"), "iss", {"a", "b"}));
  EXPECT_EQ(config.public_key_pem, "-----BEGIN PUBLIC KEY-----\nxyz\n-----END PUBLIC KEY-----\n");
  EXPECT_EQ(config.hs256_secret, kSecret);  // The trailing newline is dropped.
  EXPECT_EQ(config.issuer, "iss");
  EXPECT_THAT(config.audiences, ::testing::ElementsAre("a", "b"));
  EXPECT_EQ(config.leeway, absl::Seconds(30));
}

TEST(LoadJwtConfigTest, EmptyNameMeansUnused) {
  TempDir dir;
  WriteFile(dir.File("secret"), kSecret);
  ASSERT_OK_AND_ASSIGN(JwtConfig config, LoadJwtConfig("", dir.File("secret"), "", {}));
  EXPECT_EQ(config.public_key_pem, "");
  EXPECT_EQ(config.hs256_secret, kSecret);
}

TEST(LoadJwtConfigTest, MissingFilesAreNotFound) {
  TempDir dir;
  WriteFile(dir.File("secret"), kSecret);
  EXPECT_THAT(LoadJwtConfig(dir.File("nope.pem"), dir.File("secret"), "", {}),
              StatusIs(absl::StatusCode::kNotFound,
                       ::testing::AllOf(HasSubstr("JWT public key"), HasSubstr("nope.pem"))));
  EXPECT_THAT(LoadJwtConfig("", dir.File("nope"), "", {}),
              StatusIs(absl::StatusCode::kNotFound,
                       ::testing::AllOf(HasSubstr("JWT HS256 secret"), HasSubstr("nope"))));
}

TEST(LoadJwtConfigTest, NoFileOrEmptyFileIsInvalid) {
  TempDir dir;
  WriteFile(dir.File("empty"), "\n");
  EXPECT_THAT(LoadJwtConfig("", "", "", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no JWT key")));
  EXPECT_THAT(LoadJwtConfig("", dir.File("empty"), "", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is empty")));
}

// A public key is an identity provider's, shared with other services: only "aud" tells
// Berth's tokens apart, so it must be named.
TEST(LoadJwtConfigTest, PublicKeyNeedsAnAudience) {
  TempDir dir;
  WriteFile(dir.File("key.pem"), "-----BEGIN PUBLIC KEY-----\nxyz\n-----END PUBLIC KEY-----\n");
  WriteFile(dir.File("secret"), kSecret);
  EXPECT_THAT(LoadJwtConfig(dir.File("key.pem"), dir.File("secret"), "iss", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--jwt_audience")));
  // Berth's own secret alone needs none.
  EXPECT_TRUE(LoadJwtConfig("", dir.File("secret"), "", {}).ok());
}

TEST(LoadJwtConfigTest, LoadedConfigVerifies) {
  TempDir dir;
  KeyPair ec = Generate("EC", "P-256");
  WriteFile(dir.File("key.pem"), ec.public_pem);
  ASSERT_OK_AND_ASSIGN(JwtConfig config,
                       LoadJwtConfig(dir.File("key.pem"), "", "", {"berth"}, "berth-backend"));
  EXPECT_EQ(config.backend_issuer, "berth-backend");
  FakeClock clock;
  ASSERT_OK_AND_ASSIGN(JwtVerifier verifier, JwtVerifier::Create(std::move(config), &clock));
  std::string claims = absl::StrCat(R"({"sub":"bob","aud":"berth","exp":)", kNow + 60, "}");
  ASSERT_OK_AND_ASSIGN(Caller caller,
                       verifier.Verify(Bearer(Sign(JWT_ALG_ES256, ec.private_pem, claims))));
  EXPECT_EQ(caller.subject, "bob");
}

}  // namespace
}  // namespace berth::gateway
