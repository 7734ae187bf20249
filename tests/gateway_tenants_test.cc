// End users as tenants of one host, through the real gateway, docker-svc, allocator-svc and
// dockerd: one user's token can hold at most its quota of boxes, each with a TTL, never under
// an id of its choosing, while other users' sessions go on; free text a caller sends cannot
// forge a log line.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "berth/box/v1/box.pb.h"
#include "common/testing/read_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
using ::testing::HasSubstr;
using ::testing::Not;

class GatewayTenantsTest : public GatewayTest {};

TEST_F(GatewayTenantsTest, OneUsersQuotaIs429WhileAnotherUsersSessionGoesOn) {
  BoxHostOptions options;
  options.docker_svc_flags = {"--max_boxes_per_user=2", "--user_box_ttl=20m",
                              "--user_box_max_ttl=1h"};
  ASSERT_NO_FATAL_FAILURE(StartAll(options));
  const std::string mallory = UserToken("mallory");

  // Two boxes, each with the default TTL; the third create is refused.
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<v1::CreateResponse> made = CreateBox(R"({"app":"test-box"})", mallory);
    ASSERT_TRUE(made.ok()) << made.status();
    EXPECT_EQ(made->box().user_id(), "mallory");
    EXPECT_EQ(made->box().ttl().seconds(), 20 * 60);
  }
  HttpResult third = Call(Post("/v1/boxes", R"({"app":"test-box"})", mallory));
  ExpectError(third, 429, 8, "at most 2 per user");
  // Nor a longer TTL, nor an id of the user's choosing (the id of another's box, say).
  ExpectError(Call(Post("/v1/boxes", R"({"app":"test-box","ttl":"7200s"})", mallory)), 400, 3,
              "ttl");
  ExpectError(Call(Post("/v1/boxes", R"({"app":"test-box","boxId":"s-victim"})", mallory)), 400,
              3, "box_id");

  // Meanwhile the webserver hands another user a box (a cold assign: no box waits).
  HttpResult assigned = Call(Post(
      "/v1/boxes:assign", R"({"app":"test-box","userId":"victim","sessionId":"s1"})",
      BackendToken()));
  ASSERT_EQ(assigned.status, 200) << assigned.Describe();
  absl::StatusOr<v1::AssignResponse> answer = ParseJson<v1::AssignResponse>(assigned.body);
  ASSERT_TRUE(answer.ok()) << answer.status() << assigned.body;
  EXPECT_EQ(answer->box().user_id(), "victim");
  Track(answer->box().box_id());
  // And the victim's own creates are not counted against mallory's quota.
  absl::StatusOr<v1::CreateResponse> victims =
      CreateBox(R"({"app":"test-box"})", UserToken("victim"));
  ASSERT_TRUE(victims.ok()) << victims.status();

  // Stopping one of mallory's boxes frees a place.
  HttpResult listed = Call(Get("/v1/boxes", mallory));
  absl::StatusOr<v1::ListResponse> boxes = ParseJson<v1::ListResponse>(listed.body);
  ASSERT_TRUE(boxes.ok() && boxes->boxes_size() == 2) << listed.Describe();
  ASSERT_EQ(Call(Delete("/v1/boxes/" + boxes->boxes(0).box_id(), mallory)).status, 200);
  EXPECT_TRUE(CreateBox(R"({"app":"test-box"})", mallory).ok());
}

TEST_F(GatewayTenantsTest, AStopReasonThatWouldForgeALogLineIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  absl::StatusOr<v1::CreateResponse> made = CreateBox(R"({"app":"test-box"})", BackendToken());
  ASSERT_TRUE(made.ok()) << made.status();
  const std::string id = made->box().box_id();
  const std::string forged = "2026-01-01T00:00:00.000 I docker-svc[1]: [box x] forged";
  HttpResult refused = Call(Delete(
      absl::StrCat("/v1/boxes/", id, "?reason=done%0A", absl::StrReplaceAll(forged, {{" ", "%20"}, {"[", "%5B"}, {"]", "%5D"}})),
      BackendToken()));
  ExpectError(refused, 400, 3, "printable");
  // Nothing changed, and no log line starts with the forged text.
  HttpResult still = Call(Get("/v1/boxes/" + id, BackendToken()));
  EXPECT_EQ(still.status, 200) << still.Describe();
  for (const std::string& log : {host().docker_svc_log(), gateway().log_path()}) {
    for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(log), '\n')) {
      EXPECT_FALSE(absl::StartsWith(line, forged)) << log << ": " << line;
    }
  }
  HttpResult stopped = Call(Delete(absl::StrCat("/v1/boxes/", id, "?reason=user%20left"),
                                   BackendToken()));
  EXPECT_EQ(stopped.status, 200) << stopped.Describe();
}

}  // namespace
}  // namespace berth::testing
