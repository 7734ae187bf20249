// Issue 4, acceptance 7: TLS always — the gateway's own self-signed certificate is made once and
// survives restarts (same fingerprint logged, same certificate served, verifiable and pinnable
// with curl), and an operator's --tls_cert/--tls_key is what is served when given.
//
// No backend is needed for this (the gateway connects to its backends lazily), so these tests
// run without dockerd.
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/testing/read_file.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class GatewayTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_TRUE(TestKeys::Get().ok());
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& gateway : gateways_) {
        std::cerr << "---- gateway log " << gateway->log_path() << ":\n" << gateway->Log() << "\n";
      }
    }
  }

  // Flags of a gateway whose backends are not there (not needed for TLS and /healthz).
  std::vector<std::string> Flags(const std::string& state_dir,
                                 const std::vector<std::string>& extra = {}) {
    const TestKeys& keys = TestKeys::Get();
    std::vector<std::string> flags = {
        absl::StrCat("--boxes=unix:", dir_.File("no-docker-svc.sock")),
        absl::StrCat("--state_dir=", state_dir),
        absl::StrCat("--jwt_public_key=", keys.rsa_public_file()),
        absl::StrCat("--jwt_issuer=", kJwtIssuer),
        absl::StrCat("--jwt_audience=", kJwtAudience),
        "--log_level=debug"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return flags;
  }

  // Starts a gateway (fails the test when it does not serve; call under
  // ASSERT_NO_FATAL_FAILURE); gateway() is the last one.
  void Start(const std::vector<std::string>& flags) {
    absl::StatusOr<std::unique_ptr<GatewayProcess>> gateway = GatewayProcess::Start(
        flags, dir_.File(absl::StrCat("gateway-", gateways_.size(), ".log")));
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateways_.push_back(*std::move(gateway));
  }
  GatewayProcess& gateway() { return *gateways_.back(); }

  // GET /healthz with certificate verification against `ca_file` (no -k).
  HttpResult VerifiedHealth(const std::string& ca_file, const std::string& host = "127.0.0.1",
                            const std::vector<std::string>& more = {}) {
    std::vector<std::string> tls = {"--cacert", ca_file};
    if (host != "127.0.0.1") {
      tls.push_back("--resolve");
      tls.push_back(absl::StrCat(host, ":", gateway().port(), ":127.0.0.1"));
    }
    tls.insert(tls.end(), more.begin(), more.end());
    HttpCall call = Get("/healthz");
    call.want_certs = true;
    return Curl(absl::StrCat("https://", host, ":", gateway().port()), call, tls);
  }

  // "sha256//<base64>" of the public key of the certificate in `pem_file`, for --pinnedpubkey.
  std::string PinOf(const std::string& pem_file) {
    CommandResult pin = RunShell(absl::StrCat(
        "openssl x509 -in ", pem_file,
        " -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | "
        "openssl base64 -A"));
    EXPECT_EQ(pin.exit_code, 0) << pin.output;
    return absl::StrCat("sha256//", absl::StripAsciiWhitespace(pin.output));
  }

  // The base64 body of the first certificate in a PEM text, on one line.
  static std::string PemBody(const std::string& pem) {
    std::string body;
    bool in = false;
    for (absl::string_view line : absl::StrSplit(pem, '\n')) {
      if (absl::StartsWith(line, "-----BEGIN CERTIFICATE")) {
        in = true;
      } else if (absl::StartsWith(line, "-----END CERTIFICATE")) {
        break;
      } else if (in) {
        absl::StrAppend(&body, absl::StripAsciiWhitespace(line));
      }
    }
    return body;
  }
  static std::string Flatten(const std::string& text) {
    std::string flat;
    for (char c : text) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) flat.push_back(c);
    }
    return flat;
  }

  void Openssl(const std::string& command) {
    CommandResult result = RunShell(command);
    ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.output;
  }

  TempDir dir_;
  std::vector<std::unique_ptr<GatewayProcess>> gateways_;
};

constexpr char kFingerprintPattern[] = "([0-9A-F]{2}:){31}[0-9A-F]{2}";

TEST_F(GatewayTlsTest, SelfSignedCertificateSurvivesRestarts) {
  const std::string state = dir_.File("state");
  ASSERT_NO_FATAL_FAILURE(Start(Flags(state)));
  const std::string fingerprint = gateway().LoggedFingerprint();
  ASSERT_THAT(fingerprint, MatchesRegex(kFingerprintPattern)) << gateway().Log();

  // Made once in the state dir, the key private to the gateway.
  const std::string cert_file = absl::StrCat(state, "/gateway-cert.pem");
  const std::string key_file = absl::StrCat(state, "/gateway-key.pem");
  const std::string cert_pem = ReadFileOrEmpty(cert_file);
  ASSERT_THAT(cert_pem, HasSubstr("BEGIN CERTIFICATE"));
  struct stat key_stat;
  ASSERT_EQ(stat(key_file.c_str(), &key_stat), 0) << key_file;
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);

  // The logged fingerprint is the file's and the served certificate's.
  absl::StatusOr<std::string> file_fingerprint = FileFingerprint(cert_file);
  ASSERT_TRUE(file_fingerprint.ok()) << file_fingerprint.status();
  EXPECT_EQ(*file_fingerprint, fingerprint);
  absl::StatusOr<std::string> served = ServedFingerprint(gateway().port());
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(*served, fingerprint);

  // curl verifies it with the certificate as CA (its SANs name 127.0.0.1 and localhost) and
  // shows the same certificate.
  const std::string pinned_copy = dir_.File("pinned.pem");
  Openssl(absl::StrCat("cp ", cert_file, " ", pinned_copy));
  ASSERT_FALSE(PemBody(cert_pem).empty()) << cert_pem;
  HttpResult verified = VerifiedHealth(pinned_copy);
  EXPECT_EQ(verified.status, 200) << verified.Describe();
  EXPECT_THAT(Flatten(verified.certs), HasSubstr(PemBody(cert_pem))) << verified.certs;
  HttpResult by_name = VerifiedHealth(pinned_copy, "localhost");
  EXPECT_EQ(by_name.status, 200) << by_name.Describe();
  const std::string pin = PinOf(pinned_copy);

  // TLS always: plain HTTP on the port gets no HTTP answer.
  HttpResult plain = Curl(absl::StrCat("http://127.0.0.1:", gateway().port()), Get("/healthz"),
                          {}, absl::Seconds(10));
  EXPECT_EQ(plain.status, 0) << plain.Describe();
  EXPECT_NE(plain.curl_exit, 0) << plain.Describe();

  // A clean restart (SIGTERM, exit 0) keeps the certificate.
  absl::StatusOr<int> exit_code = gateway().Terminate();
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(Start(Flags(state)));
  EXPECT_EQ(gateway().LoggedFingerprint(), fingerprint) << gateway().Log();
  served = ServedFingerprint(gateway().port());
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(*served, fingerprint);
  EXPECT_EQ(ReadFileOrEmpty(cert_file), cert_pem);
  HttpResult pinned = VerifiedHealth(pinned_copy, "127.0.0.1", {"--pinnedpubkey", pin});
  EXPECT_EQ(pinned.status, 200) << pinned.Describe();

  // So does a crash (SIGKILL).
  gateway().Kill();
  ASSERT_NO_FATAL_FAILURE(Start(Flags(state)));
  EXPECT_EQ(gateway().LoggedFingerprint(), fingerprint) << gateway().Log();
  served = ServedFingerprint(gateway().port());
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(*served, fingerprint);
  pinned = VerifiedHealth(pinned_copy, "127.0.0.1", {"--pinnedpubkey", pin});
  EXPECT_EQ(pinned.status, 200) << pinned.Describe();

  // Another state dir is another certificate, which the pinned one does not verify.
  ASSERT_NO_FATAL_FAILURE(Start(Flags(dir_.File("other-state"))));
  const std::string other = gateway().LoggedFingerprint();
  EXPECT_THAT(other, MatchesRegex(kFingerprintPattern));
  EXPECT_NE(other, fingerprint);
  HttpResult mismatch = VerifiedHealth(pinned_copy);
  EXPECT_EQ(mismatch.status, 0) << mismatch.Describe();
  EXPECT_EQ(mismatch.curl_exit, 60) << mismatch.Describe();  // CURLE_PEER_FAILED_VERIFICATION
}

TEST_F(GatewayTlsTest, OperatorCertificateIsServed) {
  // A test CA and a leaf for gateway.berth.test it signs (EC), passed as a chain; and a
  // self-signed RSA certificate.
  const std::string ca_key = dir_.File("ca.key"), ca_cert = dir_.File("ca.crt");
  const std::string leaf_key = dir_.File("leaf.key"), leaf_csr = dir_.File("leaf.csr");
  const std::string leaf_cert = dir_.File("leaf.crt"), chain = dir_.File("chain.pem");
  const std::string ext = dir_.File("leaf.ext");
  ASSERT_NO_FATAL_FAILURE(Openssl(absl::StrCat(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
      "'/CN=Berth Test CA' -keyout ",
      ca_key, " -out ", ca_cert)));
  ASSERT_NO_FATAL_FAILURE(Openssl(absl::StrCat(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "
      "'/CN=gateway.berth.test' -keyout ",
      leaf_key, " -out ", leaf_csr, " && printf 'subjectAltName=DNS:gateway.berth.test\\n' > ",
      ext, " && openssl x509 -req -in ", leaf_csr, " -CA ", ca_cert, " -CAkey ", ca_key,
      " -CAcreateserial -days 2 -extfile ", ext, " -out ", leaf_cert, " && cat ", leaf_cert, " ",
      ca_cert, " > ", chain)));
  const std::string rsa_key = dir_.File("rsa.key"), rsa_cert = dir_.File("rsa.crt");
  ASSERT_NO_FATAL_FAILURE(Openssl(absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=rsa.berth.test' "
      "-addext 'subjectAltName=DNS:rsa.berth.test' -keyout ",
      rsa_key, " -out ", rsa_cert)));

  struct Configured {
    std::string cert, key, ca, host;
  };
  for (const Configured& c : {Configured{chain, leaf_key, ca_cert, "gateway.berth.test"},
                              Configured{rsa_cert, rsa_key, rsa_cert, "rsa.berth.test"}}) {
    SCOPED_TRACE(c.host);
    const std::string state = dir_.File(absl::StrCat("state-", c.host));
    ASSERT_NO_FATAL_FAILURE(
        Start(Flags(state, {"--tls_cert=" + c.cert, "--tls_key=" + c.key})));
    absl::StatusOr<std::string> expected = FileFingerprint(c.cert);  // the leaf, first in file
    ASSERT_TRUE(expected.ok()) << expected.status();
    EXPECT_EQ(gateway().LoggedFingerprint(), *expected) << gateway().Log();
    absl::StatusOr<std::string> served = ServedFingerprint(gateway().port(), c.host);
    ASSERT_TRUE(served.ok()) << served.status();
    EXPECT_EQ(*served, *expected);
    // curl verifies it by name against the operator's CA.
    HttpResult verified = VerifiedHealth(c.ca, c.host);
    EXPECT_EQ(verified.status, 200) << verified.Describe();
    // ...and refuses it for a name it does not carry.
    HttpResult wrong_name = VerifiedHealth(c.ca, "127.0.0.1");
    EXPECT_EQ(wrong_name.status, 0) << wrong_name.Describe();
    EXPECT_EQ(wrong_name.curl_exit, 60) << wrong_name.Describe();
    // No certificate of its own was made.
    EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(state, "/gateway-cert.pem")), "");
  }
}

TEST_F(GatewayTlsTest, BadTlsConfigurationStopsTheStart) {
  const std::string rsa_key = dir_.File("rsa.key"), rsa_cert = dir_.File("rsa.crt");
  ASSERT_NO_FATAL_FAILURE(Openssl(absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=x' -keyout ", rsa_key,
      " -out ", rsa_cert)));
  const std::string other_key = dir_.File("other.key");
  ASSERT_NO_FATAL_FAILURE(
      Openssl(absl::StrCat("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ",
                           other_key)));
  // A damaged certificate of its own is an error, never silently replaced.
  const std::string damaged = dir_.File("damaged-state");
  ASSERT_NO_FATAL_FAILURE(Openssl(absl::StrCat("mkdir -p ", damaged, " && echo garbage > ",
                                               damaged, "/gateway-cert.pem && echo garbage > ",
                                               damaged, "/gateway-key.pem")));
  struct Bad {
    std::string what;
    std::vector<std::string> flags;
  };
  const std::vector<Bad> cases = {
      {"--tls_cert without --tls_key", Flags(dir_.File("s1"), {"--tls_cert=" + rsa_cert})},
      {"--tls_key without --tls_cert", Flags(dir_.File("s2"), {"--tls_key=" + rsa_key})},
      {"a key that is not the certificate's",
       Flags(dir_.File("s3"), {"--tls_cert=" + rsa_cert, "--tls_key=" + other_key})},
      {"a missing certificate file",
       Flags(dir_.File("s4"), {"--tls_cert=" + dir_.File("nope.crt"), "--tls_key=" + rsa_key})},
      {"a damaged certificate in the state dir", Flags(damaged)},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].what);
    const std::string log = dir_.File(absl::StrCat("bad-", i, ".log"));
    absl::StatusOr<int> exit_code = GatewayProcess::StartExpectingExit(cases[i].flags, log);
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    EXPECT_NE(*exit_code, 0) << ReadFileOrEmpty(log);
    EXPECT_THAT(ReadFileOrEmpty(log), HasSubstr("gateway:")) << "no error message";
  }
  // The damaged files are left as they were.
  EXPECT_EQ(ReadFileOrEmpty(absl::StrCat(damaged, "/gateway-cert.pem")), "garbage\n");
}

}  // namespace
}  // namespace berth::testing
