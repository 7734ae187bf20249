#include "docker-svc/boxes/app_profiles.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::docker {
namespace {

using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kGoodProfile[] = R"pb(
name: "browser"
image: "berth/test-box:latest"
ports { port: 32261 protocol: PROTOCOL_TCP }
ports { port: 32262 protocol: PROTOCOL_TCP }
ports { port: 32263 protocol: PROTOCOL_UDP }
env { key: "LANG" value: "C.UTF-8" }
overridable_env: "DPI"
devices { host_path: "/dev/fuse" }
cap_add: "SYS_NICE"
tmpfs { key: "/run" value: "size=16m" }
memory_bytes: 1073741824
readiness_marker: "done_sleeping_until_X_clients"
tty: true
aes_key_env: "BERTH_AES_KEY"
)pb";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(ParseAppProfileTest, AGoodProfileGetsItsDefaults) {
  ASSERT_OK_AND_ASSIGN(box::v1::AppProfile profile,
                       ParseAppProfile("/etc/berth/apps/browser.textproto", kGoodProfile));
  EXPECT_EQ(profile.image(), "berth/test-box:latest");
  EXPECT_EQ(profile.ports_size(), 3);
  EXPECT_EQ(profile.mappings_dir(), "/whist/resourceMappings");
  EXPECT_EQ(profile.readiness_timeout_seconds(), 20u);
  EXPECT_EQ(profile.stop_grace_seconds(), 10u);
}

TEST(ParseAppProfileTest, SyntaxErrorsAndUnknownFieldsNameFileAndLine) {
  EXPECT_THAT(ParseAppProfile("apps/browser.textproto", "name: \"browser\"\nimagee: \"x\"\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("apps/browser.textproto:2"), HasSubstr("imagee"))));
  EXPECT_THAT(ParseAppProfile("apps/browser.textproto", "name: \"browser\"\n\nports { port: }\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("apps/browser.textproto:3")));
}

TEST(ParseAppProfileTest, EveryProblemIsListedWithItsLineAndField) {
  const std::string text =
      "name: \"browser\"\n"                                 // 1
      "ports { port: 80 protocol: PROTOCOL_TCP }\n"         // 2
      "ports { port: 80 protocol: PROTOCOL_TCP }\n"         // 3
      "ports { port: 70000 protocol: PROTOCOL_UDP }\n"      // 4
      "env { key: \"GOOD\" value: \"x\" }\n"               // 5
      "env { key: \"BAD=KEY\" value: \"x\" }\n"            // 6
      "binds { host_path: \"relative\" container_path: \"/x\" }\n"  // 7
      "devices { host_path: \"/etc/passwd\" }\n"           // 8
      "cap_add: \"CAP_SYS_ADMIN\"\n"                        // 9
      "readiness_marker: \"../escape\"\n"                   // 10
      "aes_key_env: \"KEY\"\n"                              // 11
      "overridable_env: \"KEY\"\n";                         // 12
  absl::StatusOr<box::v1::AppProfile> parsed = ParseAppProfile("a/browser.textproto", text);
  ASSERT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  const std::string message(parsed.status().message());
  EXPECT_THAT(message, HasSubstr("a/browser.textproto: image: is required"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:3: ports[1]: port 80 is listed twice"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:4: ports[2]: port 70000"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:6: env[\"BAD=KEY\"]"));
  EXPECT_THAT(message, Not(HasSubstr("GOOD")));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:7: binds[0]"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:8: devices[0]"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:9: cap_add[0]"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:10: readiness_marker"));
  EXPECT_THAT(message, HasSubstr("a/browser.textproto:12: overridable_env[0]"));
}

TEST(ParseAppProfileTest, AKeyCannotAddALineThatDoesNotNameTheFile) {
  // A key with a newline, a quote and a byte that is not UTF-8 (as the fuzzer built it): the
  // problem about it is one line, the key C-escaped.
  const std::string text =
      "name: \"browser\"\n"
      "image: \"berth/test-box:latest\"\n"
      "env { key: \"A\\nb.textproto:1: forged\\\"\\377\" value: \"x\" }\n";
  absl::StatusOr<box::v1::AppProfile> parsed = ParseAppProfile("a/browser.textproto", text);
  ASSERT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  const std::vector<std::string> lines = absl::StrSplit(parsed.status().message(), '\n');
  EXPECT_THAT(lines, ElementsAre("a/browser.textproto:3: env[\"A\\nb.textproto:1: "
                                 "forged\\\"\\xff\"]: is not an environment variable name"));
}

TEST(ParseAppProfileTest, NameMustMatchTheFile) {
  EXPECT_THAT(ParseAppProfile("apps/other.textproto", kGoodProfile),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("apps/other.textproto:2: name: \"browser\" differs")));
}

TEST(LoadAppProfilesTest, LoadsEveryProfileAndIgnoresOtherFiles) {
  TempDir dir;
  WriteFile(dir.File("browser.textproto"), kGoodProfile);
  WriteFile(dir.File("README"), "not a profile");
  WriteFile(dir.File("browser.textproto.dpkg-old"), "garbage");
  ASSERT_OK_AND_ASSIGN(AppCatalog catalog, LoadAppProfiles(dir.path()));
  EXPECT_THAT(catalog.names(), ElementsAre("browser"));
  ASSERT_NE(catalog.Find("browser"), nullptr);
  EXPECT_EQ(catalog.Find("nothing"), nullptr);
}

TEST(LoadAppProfilesTest, OneBadFileStopsTheLoadAndIsNamed) {
  TempDir dir;
  WriteFile(dir.File("browser.textproto"), kGoodProfile);
  WriteFile(dir.File("broken.textproto"), "name: \"broken\"\nimage: 7\n");
  EXPECT_THAT(LoadAppProfiles(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("broken.textproto:2"), Not(HasSubstr("browser.textproto")))));
}

TEST(LoadAppProfilesTest, TheShippedExampleProfilesAreValid) {
  ASSERT_OK_AND_ASSIGN(AppCatalog catalog,
                       LoadAppProfiles(absl::StrCat(BERTH_SOURCE_DIR, "/deploy/apps")));
  const box::v1::AppProfile* test_box = catalog.Find("test-box");
  ASSERT_NE(test_box, nullptr);
  EXPECT_EQ(test_box->image(), "berth/test-box:latest");
  EXPECT_EQ(test_box->ports_size(), 4);
}

TEST(LoadAppProfilesTest, MissingDirectoryIsNotFoundAndEmptyIsFine) {
  TempDir dir;
  EXPECT_THAT(LoadAppProfiles(dir.File("missing")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  ASSERT_OK_AND_ASSIGN(AppCatalog catalog, LoadAppProfiles(dir.path()));
  EXPECT_EQ(catalog.size(), 0u);
}

}  // namespace
}  // namespace berth::docker
