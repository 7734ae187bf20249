// Issue 4, acceptance 5: CORS for browser clients — an OPTIONS preflight is 204 with
// Access-Control-Allow-Origin/-Methods/-Headers/-Max-Age, and actual answers (successes, errors
// and the event stream) carry Access-Control-Allow-Origin when the request had an allowed
// Origin; other origins get none. Checked with curl's response headers (-D, as curl -i shows).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kAllowed[] = "https://app.example.com";
constexpr char kAlsoAllowed[] = "https://admin.example.com";
constexpr char kForeign[] = "https://evil.example.net";

class GatewayCorsTest : public GatewayTest {
 protected:
  // A preflight for `method` on `path` from `origin`.
  static HttpCall Preflight(const std::string& path, const std::string& origin,
                            const std::string& method = "POST") {
    HttpCall call;
    call.method = "OPTIONS";
    call.path = path;
    call.headers = {"Origin: " + origin, "Access-Control-Request-Method: " + method,
                    "Access-Control-Request-Headers: authorization, content-type"};
    return call;
  }
  static HttpCall WithOrigin(HttpCall call, const std::string& origin) {
    call.headers.push_back("Origin: " + origin);
    return call;
  }

  // An allowed preflight: 204, the origin (or *), the methods, the headers and a max age.
  static void ExpectPreflightAllowed(const HttpResult& result, const std::string& allow_origin) {
    EXPECT_EQ(result.status, 204) << result.Describe();
    EXPECT_EQ(result.Header("access-control-allow-origin"), allow_origin) << result.Describe();
    const std::string methods = result.Header("access-control-allow-methods");
    for (const char* method : {"GET", "POST", "DELETE"}) {
      EXPECT_THAT(methods, HasSubstr(method)) << result.Describe();
    }
    const std::string headers = absl::AsciiStrToLower(result.Header("access-control-allow-headers"));
    EXPECT_THAT(headers, HasSubstr("authorization")) << result.Describe();
    EXPECT_THAT(headers, HasSubstr("content-type")) << result.Describe();
    int max_age = 0;
    EXPECT_TRUE(absl::SimpleAtoi(result.Header("access-control-max-age"), &max_age) &&
                max_age > 0)
        << result.Describe();
    EXPECT_EQ(result.body, "");
  }
};

TEST_F(GatewayCorsTest, ListedOriginsOnly) {
  ASSERT_NO_FATAL_FAILURE(
      StartAll({}, {absl::StrCat("--cors_origins=", kAllowed, ",", kAlsoAllowed)}));
  const std::string alice = UserToken("alice");

  // Preflights need no token.
  std::vector<HttpResult> preflights =
      Calls({Preflight("/v1/boxes", kAllowed), Preflight("/v1/boxes/some-box", kAlsoAllowed, "DELETE"),
             Preflight("/v1/events", kAllowed, "GET"), Preflight("/v1/boxes", kForeign)});
  ASSERT_EQ(preflights.size(), 4u);
  ExpectPreflightAllowed(preflights[0], kAllowed);
  ExpectPreflightAllowed(preflights[1], kAlsoAllowed);
  ExpectPreflightAllowed(preflights[2], kAllowed);
  // A foreign origin is not allowed: no Access-Control-Allow-Origin (the browser then refuses).
  EXPECT_FALSE(preflights[3].HasHeader("access-control-allow-origin")) << preflights[3].Describe();

  // Actual requests: the allowed origin is echoed (with Vary: Origin) on successes and errors.
  std::vector<HttpResult> actual =
      Calls({WithOrigin(Get("/v1/boxes", alice), kAllowed),
             WithOrigin(Get("/v1/boxes"), kAllowed),                        // 401
             WithOrigin(Get("/v1/boxes/" + BoxId("none"), alice), kAlsoAllowed),  // 404
             WithOrigin(Post("/v1/boxes", "{", alice), kAllowed),           // 400
             WithOrigin(Get("/healthz"), kAllowed),
             WithOrigin(Get("/v1/boxes", alice), kForeign), Get("/v1/boxes", alice)});
  ASSERT_EQ(actual.size(), 7u);
  const int expected_status[] = {200, 401, 404, 400, 200, 200, 200};
  const char* expected_origin[] = {kAllowed, kAllowed, kAlsoAllowed, kAllowed, kAllowed, "", ""};
  for (size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(actual[i].status, expected_status[i]) << actual[i].Describe();
    if (expected_origin[i][0] != '\0') {
      EXPECT_EQ(actual[i].Header("access-control-allow-origin"), expected_origin[i])
          << actual[i].Describe();
      EXPECT_THAT(actual[i].Header("vary"), HasSubstr("Origin")) << actual[i].Describe();
    } else {
      EXPECT_FALSE(actual[i].HasHeader("access-control-allow-origin")) << actual[i].Describe();
    }
  }

  // The event stream too.
  absl::StatusOr<std::unique_ptr<CurlStream>> stream =
      CurlStream::Start(gateway().base_url(), "/v1/events",
                        {TestKeys::AuthHeader(alice), absl::StrCat("Origin: ", kAllowed)},
                        absl::Seconds(30));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_SNAPSHOT_DONE"}, absl::Seconds(15)).has_value())
      << (*stream)->Headers() << (*stream)->Output();
  EXPECT_THAT(absl::AsciiStrToLower((*stream)->Headers()),
              HasSubstr(absl::StrCat("access-control-allow-origin: ", kAllowed)))
      << (*stream)->Headers();
  (*stream)->HangUp();
}

// The default (--cors_origins unset, i.e. "*") allows every origin with "*".
TEST_F(GatewayCorsTest, WildcardByDefault) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  std::vector<HttpResult> results =
      Calls({Preflight("/v1/boxes", kForeign), WithOrigin(Get("/v1/boxes", BackendToken()), kForeign),
             Get("/v1/boxes", BackendToken())});
  ASSERT_EQ(results.size(), 3u);
  ExpectPreflightAllowed(results[0], "*");
  EXPECT_EQ(results[1].status, 200) << results[1].Describe();
  EXPECT_EQ(results[1].Header("access-control-allow-origin"), "*") << results[1].Describe();
  EXPECT_EQ(results[2].status, 200) << results[2].Describe();
  EXPECT_FALSE(results[2].HasHeader("access-control-allow-origin")) << results[2].Describe();

  // The same through curl -i, the way an operator checks it.
  CommandResult shown = RunShell(absl::StrCat(
      "curl -sS -k -i -X OPTIONS -H 'Origin: https://x.example' "
      "-H 'Access-Control-Request-Method: DELETE' ",
      gateway().base_url(), "/v1/boxes/abc"));
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(absl::StartsWith(shown.output, "HTTP/1.1 204")) << shown.output;
  EXPECT_THAT(absl::AsciiStrToLower(shown.output), HasSubstr("access-control-allow-origin: *"))
      << shown.output;
}

}  // namespace
}  // namespace berth::testing
