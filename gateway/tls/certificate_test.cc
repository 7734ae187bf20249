#include "gateway/tls/certificate.h"

#include <sys/stat.h>

#include <fstream>

#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

using ::berth::testing::ReadFileOrEmpty;
using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(CertificateTest, SelfSignedIsMadeOnceAndKeptAcrossStarts) {
  TempDir state;
  ASSERT_OK_AND_ASSIGN(Certificate first, LoadOrCreateSelfSigned(state.path(), "host-1"));
  EXPECT_THAT(first.fingerprint, MatchesRegex("([0-9A-F]{2}:){31}[0-9A-F]{2}"));
  EXPECT_THAT(first.chain_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(first.key_pem, HasSubstr("PRIVATE KEY"));
  struct stat st {};
  ASSERT_EQ(stat(state.File("gateway-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_OK_AND_ASSIGN(Certificate second, LoadOrCreateSelfSigned(state.path(), "host-1"));
  EXPECT_EQ(second.fingerprint, first.fingerprint);
  EXPECT_EQ(second.key_pem, first.key_pem);

  TempDir other;
  ASSERT_OK_AND_ASSIGN(Certificate third, LoadOrCreateSelfSigned(other.path(), "host-1"));
  EXPECT_NE(third.fingerprint, first.fingerprint);
}

TEST(CertificateTest, AGivenPairIsUsedAndAMismatchRefused) {
  TempDir a;
  TempDir b;
  ASSERT_OK_AND_ASSIGN(Certificate one, LoadOrCreateSelfSigned(a.path(), "one"));
  ASSERT_OK_AND_ASSIGN(Certificate two, LoadOrCreateSelfSigned(b.path(), "two"));
  ASSERT_OK_AND_ASSIGN(Certificate loaded,
                       LoadCertificate(a.File("gateway-cert.pem"), a.File("gateway-key.pem")));
  EXPECT_EQ(loaded.fingerprint, one.fingerprint);
  EXPECT_THAT(LoadCertificate(a.File("gateway-cert.pem"), b.File("gateway-key.pem")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not belong")));
  EXPECT_THAT(LoadCertificate(a.File("missing.pem"), a.File("gateway-key.pem")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pem")));
  std::ofstream(a.File("garbage.pem")) << "not a certificate";
  EXPECT_THAT(LoadCertificate(a.File("garbage.pem"), a.File("gateway-key.pem")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not parse")));
}

TEST(CertificateTest, ADamagedCertificateIsAnErrorNotReplaced) {
  TempDir state;
  ASSERT_OK_AND_ASSIGN(Certificate first, LoadOrCreateSelfSigned(state.path(), "h"));
  std::ofstream(state.File("gateway-cert.pem")) << "damaged";
  EXPECT_THAT(LoadOrCreateSelfSigned(state.path(), "h"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(ReadFileOrEmpty(state.File("gateway-cert.pem")), "damaged");
}

}  // namespace
}  // namespace berth::gateway
