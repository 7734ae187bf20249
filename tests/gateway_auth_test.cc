// Issue 4, acceptance 2: JWT authentication on every route but health and metrics (RS256, ES256 and HS256 tokens
// accepted; no token, a bad signature, an expired token, a wrong issuer or audience -> 401 with
// WWW-Authenticate) and end users confined to their own boxes (others' are 404).
// Issue 11: the backend scope only from the HS256 secret or --jwt_backend_issuer (else 403), and
// no public key without an audience.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/testing/read_file.h"
#include "common/testing/temp_dir.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class GatewayAuthTest : public GatewayTest {
 protected:
  // The ids in a list answer that belong to this test.
  std::vector<std::string> ListedIds(const HttpResult& result) {
    EXPECT_EQ(result.status, 200) << result.Describe();
    absl::StatusOr<v1::ListResponse> list = ParseJson<v1::ListResponse>(result.body);
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<std::string> ids;
    if (!list.ok()) return ids;
    for (const v1::Box& box : list->boxes()) {
      if (Mine(box.box_id())) ids.push_back(box.box_id());
    }
    return ids;
  }

  void ExpectUnauthenticated(const HttpResult& result, const std::string& what) {
    SCOPED_TRACE(what);
    ExpectError(result, 401, 16);
    EXPECT_TRUE(absl::StartsWith(result.Header("www-authenticate"), "Bearer"))
        << result.Describe();
  }
};

// `token` with its payload replaced by `claims_json` (the signature no longer matches).
std::string WithPayload(const std::string& token, const std::string& claims_json) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return token;
  std::string payload;
  absl::WebSafeBase64Escape(claims_json, &payload);
  return absl::StrCat(parts[0], ".", payload, ".", parts[2]);
}

TEST_F(GatewayAuthTest, TokenMatrix) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const TestKeys& k = keys();

  struct Case {
    std::string what;
    std::vector<std::string> headers;
    bool accepted;
  };
  auto bearer = [](const std::string& token) {
    return std::vector<std::string>{TestKeys::AuthHeader(token)};
  };
  JwtClaims expired = UserClaims("alice");
  expired.exp_in = -absl::Minutes(5);
  JwtClaims no_exp = UserClaims("alice");
  no_exp.exp_in.reset();
  JwtClaims wrong_issuer = UserClaims("alice");
  wrong_issuer.iss = "someone-else";
  JwtClaims no_issuer = UserClaims("alice");
  no_issuer.iss = "";
  JwtClaims wrong_audience = UserClaims("alice");
  wrong_audience.aud_json = "\"not-berth\"";
  JwtClaims no_audience = UserClaims("alice");
  no_audience.aud_json = "";
  JwtClaims audience_list = UserClaims("alice");
  audience_list.aud_json = absl::StrCat("[\"x\",\"", kJwtOtherAudience, "\"]");
  JwtClaims no_subject = UserClaims("");
  JwtClaims not_yet_valid = UserClaims("alice");
  not_yet_valid.nbf_in = absl::Minutes(5);
  const std::string valid = k.Rs256(UserClaims("alice"));
  const std::string other_secret = "ffffffffffffffffffffffffffffffff-other-secret";

  const std::vector<Case> cases = {
      {"no Authorization header", {}, false},
      {"Basic credentials", {"Authorization: Basic YWxpY2U6c2VjcmV0"}, false},
      {"Bearer without a token", {"Authorization: Bearer"}, false},
      {"not a JWT", bearer("not-a-jwt"), false},
      {"three garbage parts", bearer("abc.def.ghi"), false},
      {"RS256 signed by another key", bearer(SignJwt(JwtAlg::kRS256, k.other_rsa().private_pem,
                                                     UserClaims("alice").ToJson())),
       false},
      {"HS256 with another secret",
       bearer(SignJwt(JwtAlg::kHS256, other_secret, UserClaims("alice").ToJson())), false},
      {"payload changed after signing",
       bearer(WithPayload(valid, UserClaims("bob").ToJson())), false},
      {"alg none", bearer(SignJwt(JwtAlg::kNone, "", UserClaims("alice").ToJson())), false},
      {"ES256 while no EC key is configured", bearer(k.Es256(UserClaims("alice"))), false},
      {"expired", bearer(k.Rs256(expired)), false},
      {"no exp", bearer(k.Rs256(no_exp)), false},
      {"not valid before 5 minutes from now", bearer(k.Rs256(not_yet_valid)), false},
      {"wrong issuer", bearer(k.Rs256(wrong_issuer)), false},
      {"no issuer", bearer(k.Rs256(no_issuer)), false},
      {"wrong audience", bearer(k.Rs256(wrong_audience)), false},
      {"no audience", bearer(k.Rs256(no_audience)), false},
      {"end-user token without sub", bearer(k.Rs256(no_subject)), false},
      {"HS256 wrong issuer", bearer(k.Hs256(wrong_issuer)), false},
      // Accepted:
      {"RS256", bearer(valid), true},
      {"HS256", bearer(k.Hs256(UserClaims("alice"))), true},
      {"HS256 backend", bearer(k.Hs256(BackendClaims())), true},
      {"aud list with the second configured audience", bearer(k.Rs256(audience_list)), true},
      {"scheme in lower case", {"Authorization: bearer " + valid}, true},
  };
  std::vector<HttpCall> calls;
  for (const Case& c : cases) {
    HttpCall call = Get("/v1/boxes");
    call.headers = c.headers;
    calls.push_back(call);
  }
  std::vector<HttpResult> results = Calls(calls);
  ASSERT_EQ(results.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].accepted) {
      EXPECT_EQ(results[i].status, 200) << cases[i].what << "\n" << results[i].Describe();
    } else {
      ExpectUnauthenticated(results[i], cases[i].what);
      // The answer never echoes the token.
      if (!cases[i].headers.empty() && cases[i].headers[0].size() > 40) {
        EXPECT_THAT(results[i].body, Not(HasSubstr(cases[i].headers[0].substr(22, 30))))
            << cases[i].what;
      }
    }
  }
  // Every route under /v1 and /json_transport wants a token, whatever the method; the token is
  // checked before the route is looked up, so paths do not tell strangers what exists.
  HttpCall json_transport = Post("/json_transport", R"({"user_id":"alice"})");
  json_transport.method = "PUT";
  HttpCall json_transport_bad_token = json_transport;
  json_transport_bad_token.headers = bearer("abc.def.ghi");
  std::vector<HttpResult> others =
      Calls({Get("/v1/boxes/some-box"), Delete("/v1/boxes/some-box"),
             Post("/v1/boxes", R"({"app":"test-box"})"), Get("/v1/events"), json_transport,
             json_transport_bad_token, Get("/v1/no-such-route"), Get("/elsewhere")});
  for (const HttpResult& result : others) ExpectUnauthenticated(result, "a route without token");
  // With a valid token the lookup happens: an unknown route is 404.
  HttpResult unknown = Call(Get("/v1/no-such-route", valid));
  EXPECT_EQ(unknown.status, 404) << unknown.Describe();

  // Health and metrics are open.
  std::vector<HttpResult> open = Calls({Get("/healthz"), Get("/readyz"), Get("/metrics")});
  for (const HttpResult& result : open) EXPECT_EQ(result.status, 200) << result.Describe();

  // A gateway with an EC public key (and no HS256 secret) takes ES256 tokens only, and no
  // backend token at all (the public key grants no backend scope).
  ASSERT_NO_FATAL_FAILURE(StartGateway({absl::StrCat("--jwt_public_key=", k.ec_public_file()),
                                        "--jwt_hs256_secret_file=",
                                        absl::StrCat("--state_dir=", work_dir(), "/ec-state")}));
  std::vector<HttpResult> ec =
      Calls({Get("/v1/boxes", k.Es256(UserClaims("alice"))),
             Get("/v1/boxes", k.Es256(BackendClaims())), Get("/v1/boxes", valid),
             Get("/v1/boxes", k.Hs256(UserClaims("alice"))),
             Get("/v1/boxes", k.Es256(expired))});
  ASSERT_EQ(ec.size(), 5u);
  EXPECT_EQ(ec[0].status, 200) << ec[0].Describe();
  ExpectError(ec[1], 403, 7, "backend scope");
  ExpectUnauthenticated(ec[2], "RS256 on the EC gateway");
  ExpectUnauthenticated(ec[3], "HS256 on the EC gateway");
  ExpectUnauthenticated(ec[4], "expired ES256");
}

// A valid token of the public key (an identity provider's) claiming the backend scope is
// refused 403 from its header alone, on every route, and is not taken for an end user either;
// the HS256 secret's backend token works. With --jwt_backend_issuer, that issuer's tokens alone
// carry the scope, whatever their key.
TEST_F(GatewayAuthTest, BackendScopeComesOnlyFromTheBackendKeyOrIssuer) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const TestKeys& k = keys();
  const std::string forged = k.Rs256(BackendClaims());
  HttpCall create = Post("/v1/boxes", R"({"app":"test-box"})", forged);
  std::vector<HttpResult> refused = Calls(
      {Get("/v1/host", forged), Get("/v1/boxes", forged), create, Get("/v1/events", forged)});
  for (const HttpResult& result : refused) {
    ExpectError(result, 403, 7, "only tokens signed with the gateway's HS256 secret");
  }
  EXPECT_EQ(Call(Get("/v1/host", BackendToken())).status, 200);
  EXPECT_EQ(Call(Get("/v1/boxes", UserToken("alice"))).status, 200);

  JwtClaims from_backend_issuer = BackendClaims();
  from_backend_issuer.iss = "berth-backend";
  JwtClaims user_of_backend_issuer = UserClaims("alice");
  user_of_backend_issuer.iss = "berth-backend";
  ASSERT_NO_FATAL_FAILURE(StartGateway({"--jwt_backend_issuer=berth-backend",
                                        absl::StrCat("--state_dir=", work_dir(), "/s2")}));
  std::vector<HttpResult> results = Calls({Get("/v1/host", k.Rs256(from_backend_issuer)),
                                           Get("/v1/host", k.Hs256(from_backend_issuer)),
                                           Get("/v1/host", k.Hs256(BackendClaims())),
                                           Get("/v1/host", k.Rs256(BackendClaims())),
                                           Get("/v1/boxes", k.Rs256(user_of_backend_issuer)),
                                           Get("/v1/host", k.Rs256(user_of_backend_issuer))});
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(results[0].status, 200) << results[0].Describe();
  EXPECT_EQ(results[1].status, 200) << results[1].Describe();
  ExpectError(results[2], 403, 7, "backend issuer");
  ExpectError(results[3], 403, 7, "backend issuer");
  EXPECT_EQ(results[4].status, 200) << results[4].Describe();  // a user of that issuer
  ExpectError(results[5], 403, 7, "needs the backend role");
}

// An identity provider's key signs tokens for other services too: without --jwt_audience the
// gateway does not start with --jwt_public_key.
TEST(GatewayAuthStartTest, PublicKeyWithoutAudienceStopsTheStart) {
  ASSERT_TRUE(TestKeys::Get().ok());
  TempDir dir;
  const std::string log = dir.File("gateway.log");
  absl::StatusOr<int> exit_code = GatewayProcess::StartExpectingExit(
      {absl::StrCat("--boxes=unix:", dir.File("none.sock")),
       absl::StrCat("--state_dir=", dir.File("state")),
       absl::StrCat("--jwt_public_key=", TestKeys::Get().rsa_public_file()),
       absl::StrCat("--jwt_issuer=", kJwtIssuer)},
      log);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_NE(*exit_code, 0);
  EXPECT_THAT(ReadFileOrEmpty(log), HasSubstr("--jwt_public_key needs --jwt_audience"));
}

// An end user sees, stops and watches only its own boxes; others' are 404 as if they did not
// exist.
TEST_F(GatewayAuthTest, EndUsersSeeOnlyTheirOwnBoxes) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string alice = UserToken("alice");
  const std::string bob = keys().Hs256(UserClaims("bob"));  // HS256 for a change
  const std::string backend = BackendToken();

  // End users do not choose box ids (issue 11): docker-svc makes one for each create.
  absl::StatusOr<v1::CreateResponse> bob_box = CreateBox(R"({"app":"test-box"})", bob);
  ASSERT_TRUE(bob_box.ok()) << bob_box.status();
  EXPECT_EQ(bob_box->box().user_id(), "bob");
  const std::string b = bob_box->box().box_id();
  // Naming oneself as the user is fine too.
  absl::StatusOr<v1::CreateResponse> alice_box =
      CreateBox(R"({"app":"test-box","userId":"alice"})", alice);
  ASSERT_TRUE(alice_box.ok()) << alice_box.status();
  EXPECT_EQ(alice_box->box().user_id(), "alice");
  const std::string a = alice_box->box().box_id();

  // Alice's watch shows her box only.
  absl::StatusOr<std::unique_ptr<CurlStream>> stream = CurlStream::Start(
      gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(alice)}, absl::Seconds(90));
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_SNAPSHOT_DONE"}, absl::Seconds(15)).has_value())
      << (*stream)->Output();

  // Bob's box, to alice: 404 like a box that does not exist, for get and delete.
  std::vector<HttpResult> foreign =
      Calls({Get("/v1/boxes/" + b, alice), Delete("/v1/boxes/" + b, alice),
             Get("/v1/boxes/" + BoxId("nonexistent"), alice)});
  ASSERT_EQ(foreign.size(), 3u);
  ExpectError(foreign[0], 404, 5, b);
  ExpectError(foreign[1], 404, 5, b);
  ExpectError(foreign[2], 404, 5);
  // Same message shape as for a box that does not exist (nothing tells them apart).
  absl::StatusOr<ErrorBody> unknown = ParseErrorBody(foreign[2].body);
  absl::StatusOr<ErrorBody> hidden = ParseErrorBody(foreign[0].body);
  if (unknown.ok() && hidden.ok()) {
    EXPECT_EQ(absl::StrReplaceAll(hidden->message, {{b, "ID"}}),
              absl::StrReplaceAll(unknown->message, {{BoxId("nonexistent"), "ID"}}));
  }
  // ...and alice's delete did nothing to it.
  HttpResult still = Call(Get("/v1/boxes/" + b, bob));
  ASSERT_EQ(still.status, 200) << still.Describe();
  absl::StatusOr<v1::GetResponse> bob_view = ParseJson<v1::GetResponse>(still.body);
  ASSERT_TRUE(bob_view.ok());
  EXPECT_NE(bob_view->box().state(), v1::BOX_STATE_DYING);
  EXPECT_EQ(bob_view->box().reason(), "");

  // Lists: each user sees its own; a filter naming another user finds nothing; the backend
  // sees both.
  std::vector<HttpResult> lists =
      Calls({Get("/v1/boxes", alice), Get("/v1/boxes?userId=bob", alice),
             Get("/v1/boxes?user_id=bob", alice), Get("/v1/boxes", bob), Get("/v1/boxes", backend),
             Get("/v1/boxes?userId=bob", backend)});
  ASSERT_EQ(lists.size(), 6u);
  EXPECT_THAT(ListedIds(lists[0]), ElementsAre(a));
  EXPECT_THAT(ListedIds(lists[1]), IsEmpty());
  EXPECT_THAT(ListedIds(lists[2]), IsEmpty());
  EXPECT_THAT(ListedIds(lists[3]), ElementsAre(b));
  EXPECT_THAT(ListedIds(lists[4]), ::testing::UnorderedElementsAre(a, b));
  EXPECT_THAT(ListedIds(lists[5]), ElementsAre(b));

  // Alice cannot create a box for bob (403), and bob's box id is not hers to take: an end user
  // names no box id at all (400), so a 409 cannot tell her that bob's exists.
  HttpResult for_bob = Call(Post("/v1/boxes", R"({"app":"test-box","userId":"bob"})", alice));
  ExpectError(for_bob, 403, 7);
  HttpResult take = Call(
      Post("/v1/boxes", absl::StrCat(R"({"app":"test-box","boxId":")", b, R"("})"), alice));
  ExpectError(take, 400, 3, "box_id");
  EXPECT_THAT(take.body, Not(HasSubstr("bob"))) << take.Describe();

  // Bob stops his box, then alice hers; alice's stream shows only her box's end.
  HttpResult bob_stop = Call(Delete("/v1/boxes/" + b, bob));
  EXPECT_EQ(bob_stop.status, 200) << bob_stop.Describe();
  HttpResult alice_stop = Call(Delete("/v1/boxes/" + a, alice));
  EXPECT_EQ(alice_stop.status, 200) << alice_stop.Describe();
  ASSERT_TRUE((*stream)->WaitForLine({"KIND_GONE", a}, absl::Seconds(30)).has_value())
      << (*stream)->Output();
  EventLines events = ParseEventLines((*stream)->Lines());
  EXPECT_THAT(events.malformed, IsEmpty());
  EXPECT_THAT(events.errors, IsEmpty());
  bool saw_snapshot_of_a = false;
  for (const v1::BoxEvent& event : events.events) {
    if (event.kind() == v1::BoxEvent::KIND_SNAPSHOT_DONE) continue;
    EXPECT_EQ(event.box().user_id(), "alice") << DescribeEvent(event);
    EXPECT_NE(event.box().box_id(), b) << DescribeEvent(event);
    if (event.kind() == v1::BoxEvent::KIND_SNAPSHOT && event.box().box_id() == a) {
      saw_snapshot_of_a = true;
    }
  }
  EXPECT_TRUE(saw_snapshot_of_a) << (*stream)->Output();
  EXPECT_EQ(Leftovers(host(), a), "");
  EXPECT_EQ(Leftovers(host(), b), "");
}

}  // namespace
}  // namespace berth::testing
