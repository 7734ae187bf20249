#include "gateway/server/gateway_handler.h"

#include <jwt.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "common/call_metadata.h"
#include "common/testing/fake_clock.h"
#include "gateway/backend/testing/fake_backend.h"
#include "testing_support/jwt_signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

namespace http = boost::beast::http;

using ::berth::common::kCallerUserMetadata;
using ::berth::gateway::testing::FakeBackend;
using ::berth::testing::FakeClock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-handler-test";
constexpr char kBackendIssuer[] = "berth-backend";
constexpr int64_t kNow = 1'700'000'000;  // FakeClock's default start.
constexpr char kOrigin[] = "https://app.example";

constexpr char kGetMethod[] = "/berth.box.v1.Boxes/Get";
constexpr char kHostMethod[] = "/berth.box.v1.Boxes/Host";
constexpr char kWatchMethod[] = "/berth.box.v1.Boxes/Watch";

// An HS256 token with `claims_json` as payload, signed with `secret`.
std::string Sign(const std::string& claims_json, const std::string& secret = kSecret) {
  return berth::testing::SignWithLibjwt(JWT_ALG_HS256, secret, claims_json);
}

// An end user's token for `sub`, valid until kNow + `lifetime_seconds`.
std::string UserToken(const std::string& sub = "u1", int64_t lifetime_seconds = 3600) {
  return Sign(absl::StrCat(R"({"sub":")", sub, R"(","exp":)", kNow + lifetime_seconds, "}"));
}

// A token of the backend role, from the issuer that may grant it.
std::string BackendToken() {
  return Sign(absl::StrCat(R"({"sub":"webserver","scope":"backend","iss":")", kBackendIssuer,
                           R"(","exp":)", kNow + 3600, "}"));
}

// A request to make: Get("/v1/boxes").Token(t).Origin(o).
struct RequestSpec {
  RequestSpec Token(std::string value) && {
    token = std::move(value);
    return std::move(*this);
  }
  // Sent as application/json.
  RequestSpec Body(std::string value) && {
    body = std::move(value);
    return std::move(*this);
  }
  RequestSpec Origin(std::string value) && {
    origin = std::move(value);
    return std::move(*this);
  }

  http::verb method = http::verb::get;
  std::string target;
  std::string token;  // empty: no Authorization header
  std::string body;
  std::string origin;
};

RequestSpec Req(http::verb method, std::string target) {
  RequestSpec spec;
  spec.method = method;
  spec.target = std::move(target);
  return spec;
}

RequestSpec Get(std::string target) { return Req(http::verb::get, std::move(target)); }

HttpRequest MakeRequest(const RequestSpec& spec) {
  HttpRequest request{spec.method, spec.target, 11};
  if (!spec.token.empty()) request.set(http::field::authorization, "Bearer " + spec.token);
  if (!spec.origin.empty()) request.set(http::field::origin, spec.origin);
  if (!spec.body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = spec.body;
    request.prepare_payload();
  }
  return request;
}

// Records what the handler answers through it.
class FakeWriter final : public ResponseWriter {
 public:
  void Send(HttpResponse response) override {
    absl::MutexLock lock(&mu_);
    ++sends_;
    response_ = std::move(response);
  }
  void StartStream(HttpResponse head) override {
    absl::MutexLock lock(&mu_);
    head_ = std::move(head);
  }
  void Chunk(std::string data) override {
    absl::MutexLock lock(&mu_);
    chunks_.push_back(std::move(data));
  }
  void End() override {
    absl::MutexLock lock(&mu_);
    ++ends_;
  }
  void OnClientGone(std::function<void()> on_close) override {
    absl::MutexLock lock(&mu_);
    on_gone_ = std::move(on_close);
  }

  // The client hangs up: runs the OnClientGone callback unless the stream has ended, as the
  // server does.
  void ClientGone() {
    std::function<void()> on_gone;
    {
      absl::MutexLock lock(&mu_);
      if (ends_ > 0) return;
      on_gone = std::move(on_gone_);
    }
    if (on_gone) on_gone();
  }

  std::optional<HttpResponse> response() const {
    absl::MutexLock lock(&mu_);
    return response_;
  }
  int sends() const {
    absl::MutexLock lock(&mu_);
    return sends_;
  }
  std::optional<HttpResponse> head() const {
    absl::MutexLock lock(&mu_);
    return head_;
  }
  std::vector<std::string> chunks() const {
    absl::MutexLock lock(&mu_);
    return chunks_;
  }
  int ends() const {
    absl::MutexLock lock(&mu_);
    return ends_;
  }

 private:
  mutable absl::Mutex mu_;
  std::optional<HttpResponse> response_ ABSL_GUARDED_BY(mu_);
  int sends_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<HttpResponse> head_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  int ends_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> on_gone_ ABSL_GUARDED_BY(mu_);
};

std::string Header(const HttpResponse& response, http::field field) {
  return std::string(response[field]);
}

bool HasHeader(const HttpResponse& response, http::field field) {
  return response.find(field) != response.end();
}

std::string Serialized(const google::protobuf::Message& message) {
  return message.SerializeAsString();
}

class GatewayHandlerTest : public ::testing::Test {
 protected:
  GatewayHandlerTest() { Rebuild(); }

  // A new handler with the options `tweak` leaves (auth on, CORS "*", default timeout 7 s).
  void Rebuild(const std::function<void(GatewayHandlerOptions&)>& tweak = nullptr,
               bool with_allocator = false) {
    handler_.reset();
    GatewayHandlerOptions options;
    JwtConfig jwt;
    jwt.hs256_secret = kSecret;
    jwt.backend_issuer = kBackendIssuer;
    absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(std::move(jwt), &clock_);
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    options.verifier.emplace(*std::move(verifier));
    options.default_timeout = absl::Seconds(7);
    options.clock = &clock_;
    if (tweak) tweak(options);
    const google::protobuf::ServiceDescriptor* boxes_service =
        box::v1::Box::descriptor()->file()->FindServiceByName("Boxes");
    absl::StatusOr<routing::RouteTable> routes = routing::RouteTable::Create({boxes_service});
    EXPECT_TRUE(routes.ok()) << routes.status();
    handler_ = std::make_unique<GatewayHandler>(
        *std::move(routes), &boxes_, with_allocator ? &allocator_ : nullptr, std::move(options));
  }

  // What the server does with a request: its header checked first; a refusal is the answer
  // (its body is never read nor handed on), else the whole request is handled.
  std::shared_ptr<FakeWriter> Call(const RequestSpec& spec) {
    auto writer = std::make_shared<FakeWriter>();
    HttpRequest request = MakeRequest(spec);
    HeaderVerdict verdict = handler_->CheckHeader(request.base());
    if (verdict.refusal.has_value()) {
      writer->Send(*std::move(verdict.refusal));
      return writer;
    }
    handler_->Handle(std::move(request), writer);
    return writer;
  }

  // The handler's answer to `spec`, which must be complete once Call returns.
  HttpResponse Answer(const RequestSpec& spec) {
    std::shared_ptr<FakeWriter> writer = Call(spec);
    EXPECT_EQ(writer->sends(), 1);
    return writer->response().value_or(HttpResponse{});
  }

  // Whether the Prometheus text holds the sample line `line` ("name{labels} value").
  bool HasMetric(const std::string& line) {
    return absl::StrCat("\n", handler_->metrics().Render()).find(absl::StrCat("\n", line, "\n")) !=
           std::string::npos;
  }

  FakeClock clock_;
  FakeBackend boxes_{"docker-svc"};
  FakeBackend allocator_{"allocator-svc"};
  std::unique_ptr<GatewayHandler> handler_;
};

// ---------------------------------------------------------------------------------------------
// CORS

TEST_F(GatewayHandlerTest, PreflightIs204WithCorsHeadersAndNeedsNoToken) {
  HttpRequest request = MakeRequest(Req(http::verb::options, "/v1/boxes").Origin(kOrigin));
  HeaderVerdict verdict = handler_->CheckHeader(request.base());
  EXPECT_FALSE(verdict.refusal.has_value());
  EXPECT_FALSE(verdict.authenticated);

  HttpResponse answer = Answer(Req(http::verb::options, "/v1/boxes").Origin(kOrigin));
  EXPECT_EQ(answer.result_int(), 204);
  EXPECT_EQ(Header(answer, http::field::access_control_allow_origin), "*");
  EXPECT_FALSE(HasHeader(answer, http::field::vary));
  EXPECT_EQ(Header(answer, http::field::access_control_allow_methods),
            "GET, POST, PUT, DELETE, OPTIONS");
  EXPECT_EQ(Header(answer, http::field::access_control_allow_headers),
            "Authorization, Content-Type");
  EXPECT_EQ(Header(answer, http::field::access_control_max_age), "600");
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, PreflightEchoesOnlyAnAllowedOrigin) {
  Rebuild([](GatewayHandlerOptions& options) { options.cors_origins = {kOrigin}; });

  HttpResponse allowed = Answer(Req(http::verb::options, "/v1/boxes").Origin(kOrigin));
  EXPECT_EQ(allowed.result_int(), 204);
  EXPECT_EQ(Header(allowed, http::field::access_control_allow_origin), kOrigin);
  EXPECT_EQ(Header(allowed, http::field::vary), "Origin");

  HttpResponse other = Answer(Req(http::verb::options, "/v1/boxes").Origin("https://evil.example"));
  EXPECT_EQ(other.result_int(), 204);
  EXPECT_FALSE(HasHeader(other, http::field::access_control_allow_origin));
  EXPECT_FALSE(HasHeader(other, http::field::vary));
}

TEST_F(GatewayHandlerTest, AnswersOfEveryKindCarryTheAllowedOrigin) {
  Rebuild([](GatewayHandlerOptions& options) { options.cors_origins = {kOrigin}; });

  // A success.
  boxes_.ScriptUnary(absl::OkStatus(), Serialized(box::v1::GetResponse()));
  HttpResponse ok = Answer(Get("/v1/boxes/b1").Token(UserToken()).Origin(kOrigin));
  EXPECT_EQ(ok.result_int(), 200);
  EXPECT_EQ(Header(ok, http::field::access_control_allow_origin), kOrigin);
  EXPECT_EQ(Header(ok, http::field::vary), "Origin");

  // A backend error.
  boxes_.ScriptUnary(absl::NotFoundError("no box b2"));
  HttpResponse error = Answer(Get("/v1/boxes/b2").Token(UserToken()).Origin(kOrigin));
  EXPECT_EQ(error.result_int(), 404);
  EXPECT_EQ(Header(error, http::field::access_control_allow_origin), kOrigin);

  // A refusal made from the header alone.
  HttpResponse refusal = Answer(Get("/v1/boxes/b3").Origin(kOrigin));
  EXPECT_EQ(refusal.result_int(), 401);
  EXPECT_EQ(Header(refusal, http::field::access_control_allow_origin), kOrigin);

  // A probe.
  HttpResponse probe = Answer(Get("/healthz").Origin(kOrigin));
  EXPECT_EQ(Header(probe, http::field::access_control_allow_origin), kOrigin);

  // No Origin, or one not allowed: no CORS header.
  boxes_.ScriptUnary(absl::OkStatus(), Serialized(box::v1::GetResponse()));
  HttpResponse no_origin = Answer(Get("/v1/boxes/b1").Token(UserToken()));
  EXPECT_FALSE(HasHeader(no_origin, http::field::access_control_allow_origin));
  HttpResponse foreign = Answer(Get("/v1/boxes/b3").Origin("https://evil.example"));
  EXPECT_EQ(foreign.result_int(), 401);
  EXPECT_FALSE(HasHeader(foreign, http::field::access_control_allow_origin));
}

// ---------------------------------------------------------------------------------------------
// Auth and what reaches the backend

TEST_F(GatewayHandlerTest, EndUserTokenCallsAsItsSubject) {
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/boxes/b1").Token(UserToken("u7")));
  EXPECT_EQ(writer->sends(), 0);  // waits for the backend

  std::vector<FakeBackend::UnaryCall> calls = boxes_.unary_calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, kGetMethod);
  EXPECT_EQ(calls[0].metadata, (CallMetadata{{kCallerUserMetadata, "u7"}}));
  EXPECT_EQ(calls[0].timeout, absl::Seconds(7));  // the route sets none: the default
  box::v1::GetRequest request;
  ASSERT_TRUE(request.ParseFromString(calls[0].request));
  EXPECT_EQ(request.box_id(), "b1");

  box::v1::GetResponse response;
  response.mutable_box()->set_box_id("b1");
  response.mutable_box()->set_user_id("u7");
  ASSERT_TRUE(boxes_.FinishUnary(absl::OkStatus(), Serialized(response)));
  ASSERT_EQ(writer->sends(), 1);
  EXPECT_EQ(writer->response()->result_int(), 200);
  EXPECT_EQ(Header(*writer->response(), http::field::content_type), "application/json");
  EXPECT_EQ(writer->response()->body(), R"({"box":{"boxId":"b1","userId":"u7"}})");
  EXPECT_TRUE(
      HasMetric(R"(berth_gateway_requests_total{code="200",route="GET /v1/boxes/{box_id}"} 1)"));
}

TEST_F(GatewayHandlerTest, BackendTokenCallsWithoutUserMetadata) {
  boxes_.ScriptUnary(absl::OkStatus(), Serialized(box::v1::ListResponse()));
  HttpResponse answer = Answer(Get("/v1/boxes?userId=u3").Token(BackendToken()));
  EXPECT_EQ(answer.result_int(), 200);
  EXPECT_EQ(answer.body(), "{}");
  std::vector<FakeBackend::UnaryCall> calls = boxes_.unary_calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "/berth.box.v1.Boxes/List");
  EXPECT_THAT(calls[0].metadata, IsEmpty());
  box::v1::ListRequest request;
  ASSERT_TRUE(request.ParseFromString(calls[0].request));
  EXPECT_EQ(request.user_id(), "u3");
}

TEST_F(GatewayHandlerTest, CreateForwardsTheBodyWithTheRoutesTimeoutAndSuccessStatus) {
  box::v1::CreateResponse response;
  response.mutable_box()->set_box_id("b9");
  response.set_created(true);
  boxes_.ScriptUnary(absl::OkStatus(), Serialized(response));
  HttpResponse answer = Answer(Req(http::verb::post, "/v1/boxes")
                                   .Token(UserToken("u1"))
                                   .Body(R"({"app":"test-box","dpi":96})"));
  EXPECT_EQ(answer.result_int(), 201);
  EXPECT_EQ(answer.body(), R"({"box":{"boxId":"b9"},"created":true})");
  std::vector<FakeBackend::UnaryCall> calls = boxes_.unary_calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "/berth.box.v1.Boxes/Create");
  EXPECT_EQ(calls[0].timeout, absl::Seconds(60));
  EXPECT_EQ(calls[0].metadata, (CallMetadata{{kCallerUserMetadata, "u1"}}));
  box::v1::CreateRequest request;
  ASSERT_TRUE(request.ParseFromString(calls[0].request));
  EXPECT_EQ(request.app(), "test-box");
  EXPECT_EQ(request.dpi(), 96u);
}

TEST_F(GatewayHandlerTest, MissingTokenIsRefusedFromTheHeaderOnEveryPath) {
  for (const char* target : {"/v1/boxes", "/v1/boxes/b1", "/v1/no/such/route", "/json_transport"}) {
    SCOPED_TRACE(target);
    HttpRequest request = MakeRequest(Req(http::verb::post, target).Body(R"({"app":"test-box"})"));
    HeaderVerdict verdict = handler_->CheckHeader(request.base());
    ASSERT_TRUE(verdict.refusal.has_value());
    EXPECT_FALSE(verdict.authenticated);
    EXPECT_EQ(verdict.refusal->result_int(), 401);
    EXPECT_EQ(verdict.refusal->body(), R"({"code":16,"message":"missing Authorization header"})");
    EXPECT_EQ(Header(*verdict.refusal, http::field::www_authenticate),
              R"(Bearer realm="berth", error="invalid_token")");
    EXPECT_EQ(Header(*verdict.refusal, http::field::content_type), "application/json");
  }
  EXPECT_EQ(boxes_.calls(), 0);
  EXPECT_TRUE(HasMetric(R"(berth_gateway_requests_total{code="401",route="unmatched"} 4)"));
  EXPECT_TRUE(HasMetric(R"(berth_gateway_auth_failures_total{reason="missing"} 4)"));
  EXPECT_TRUE(HasMetric(R"(berth_gateway_auth_failures_total{reason="bad_signature"} 0)"));
}

TEST_F(GatewayHandlerTest, ValidTokenAuthenticatesTheHeader) {
  HttpRequest request = MakeRequest(Get("/v1/boxes").Token(UserToken()));
  HeaderVerdict verdict = handler_->CheckHeader(request.base());
  EXPECT_FALSE(verdict.refusal.has_value());
  EXPECT_TRUE(verdict.authenticated);
  EXPECT_EQ(boxes_.calls(), 0);  // nothing is called before the body is in
}

TEST_F(GatewayHandlerTest, BadSignatureIsRefused) {
  const std::string forged = Sign(absl::StrCat(R"({"sub":"u1","exp":)", kNow + 60, "}"),
                                  "another-secret-another-secret-0123456789");
  HttpResponse answer =
      Answer(Req(http::verb::post, "/v1/boxes").Token(forged).Body(R"({"app":"test-box"})"));
  EXPECT_EQ(answer.result_int(), 401);
  EXPECT_EQ(answer.body(), R"({"code":16,"message":"bad signature"})");
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, ExpiredTokenIsRefusedBeforeTheBackend) {
  const std::string token = UserToken("u1", /*lifetime_seconds=*/60);
  clock_.Advance(absl::Seconds(60 + 30));  // exp plus the verifier's leeway
  HttpResponse answer = Answer(Get("/v1/boxes/b1").Token(token));
  EXPECT_EQ(answer.result_int(), 401);
  EXPECT_EQ(answer.body(), R"({"code":16,"message":"token expired"})");
  EXPECT_TRUE(HasHeader(answer, http::field::www_authenticate));
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, TokenThatExpiresWhileTheBodyArrivesIsRefused) {
  const std::string token = UserToken("u1", /*lifetime_seconds=*/60);
  HttpRequest request =
      MakeRequest(Req(http::verb::post, "/v1/boxes").Token(token).Body(R"({"app":"test-box"})"));
  ASSERT_TRUE(handler_->CheckHeader(request.base()).authenticated);
  clock_.Advance(absl::Seconds(90));
  auto writer = std::make_shared<FakeWriter>();
  handler_->Handle(std::move(request), writer);
  ASSERT_EQ(writer->sends(), 1);
  EXPECT_EQ(writer->response()->result_int(), 401);
  EXPECT_EQ(writer->response()->body(), R"({"code":16,"message":"token expired"})");
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, BackendScopeFromAnotherIssuerIsForbidden) {
  const std::string token =
      Sign(absl::StrCat(R"({"sub":"x","scope":"backend","exp":)", kNow + 60, "}"));
  HttpRequest request = MakeRequest(Get("/v1/host").Token(token));
  HeaderVerdict verdict = handler_->CheckHeader(request.base());
  ASSERT_TRUE(verdict.refusal.has_value());
  EXPECT_FALSE(verdict.authenticated);
  EXPECT_EQ(verdict.refusal->result_int(), 403);
  EXPECT_THAT(std::string(verdict.refusal->body()), HasSubstr(R"({"code":7,"message":")"));
  EXPECT_FALSE(HasHeader(*verdict.refusal, http::field::www_authenticate));
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, BackendOnlyRouteRefusesAnEndUser) {
  HttpResponse refused = Answer(Get("/v1/host").Token(UserToken()));
  EXPECT_EQ(refused.result_int(), 403);
  EXPECT_EQ(refused.body(), R"({"code":7,"message":"this route needs the backend role"})");
  EXPECT_EQ(boxes_.calls(), 0);

  boxes_.ScriptUnary(absl::OkStatus(), Serialized(box::v1::HostResponse()));
  HttpResponse allowed = Answer(Get("/v1/host").Token(BackendToken()));
  EXPECT_EQ(allowed.result_int(), 200);
  ASSERT_EQ(boxes_.unary_calls().size(), 1u);
  EXPECT_EQ(boxes_.unary_calls()[0].method, kHostMethod);
}

TEST_F(GatewayHandlerTest, WithoutAuthEveryCallerIsTheBackend) {
  Rebuild([](GatewayHandlerOptions& options) { options.verifier.reset(); });
  HttpRequest request = MakeRequest(Get("/v1/host"));
  HeaderVerdict verdict = handler_->CheckHeader(request.base());
  EXPECT_FALSE(verdict.refusal.has_value());
  EXPECT_TRUE(verdict.authenticated);

  boxes_.ScriptUnary(absl::OkStatus(), Serialized(box::v1::HostResponse()));
  HttpResponse answer = Answer(Get("/v1/host"));
  EXPECT_EQ(answer.result_int(), 200);
  ASSERT_EQ(boxes_.unary_calls().size(), 1u);
  EXPECT_THAT(boxes_.unary_calls()[0].metadata, IsEmpty());
}

TEST_F(GatewayHandlerTest, UnknownRouteAndWrongMethodAreAnsweredWithoutTheBackend) {
  HttpResponse missing = Answer(Get("/v1/nothing").Token(UserToken()));
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_EQ(missing.body(), R"({"code":5,"message":"no route for path \"/v1/nothing\""})");

  HttpResponse wrong_method = Answer(Req(http::verb::patch, "/v1/boxes/b1").Token(UserToken()));
  EXPECT_EQ(wrong_method.result_int(), 405);
  EXPECT_EQ(Header(wrong_method, http::field::allow), "DELETE, GET");
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, MalformedBodyIsAnsweredWithoutTheBackend) {
  HttpResponse answer = Answer(Req(http::verb::post, "/v1/boxes").Token(UserToken()).Body("{"));
  EXPECT_EQ(answer.result_int(), 400);
  EXPECT_THAT(std::string(answer.body()), HasSubstr(R"({"code":3,"message":")"));
  EXPECT_THAT(std::string(answer.body()), HasSubstr("line 1"));

  HttpResponse unknown_field = Answer(
      Req(http::verb::post, "/v1/boxes").Token(UserToken()).Body(R"({"app":"a","colour":"red"})"));
  EXPECT_EQ(unknown_field.result_int(), 400);
  EXPECT_THAT(std::string(unknown_field.body()), HasSubstr("colour"));
  EXPECT_EQ(boxes_.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// Probes

TEST_F(GatewayHandlerTest, HealthzAndMetricsNeedNoTokenNorBackend) {
  HttpRequest request = MakeRequest(Get("/healthz"));
  EXPECT_FALSE(handler_->CheckHeader(request.base()).refusal.has_value());
  HttpResponse health = Answer(Get("/healthz"));
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_EQ(health.body(), R"({"status":"serving"})");

  HttpResponse metrics = Answer(Get("/metrics"));
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_EQ(Header(metrics, http::field::content_type), "text/plain; version=0.0.4");
  EXPECT_THAT(std::string(metrics.body()),
              HasSubstr(R"(berth_gateway_requests_total{code="200",route="GET /healthz"} 1)"));
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, ProbesAllowOnlyGetAndHead) {
  for (const char* target : {"/healthz", "/readyz", "/metrics"}) {
    SCOPED_TRACE(target);
    HttpResponse answer = Answer(Req(http::verb::post, target));
    EXPECT_EQ(answer.result_int(), 405);
    EXPECT_EQ(Header(answer, http::field::allow), "GET, HEAD");
  }
  EXPECT_EQ(boxes_.calls(), 0);
}

TEST_F(GatewayHandlerTest, ReadyWhenDockerSvcReportsItsAllocatorAnswering) {
  HttpRequest request = MakeRequest(Get("/readyz"));
  HeaderVerdict verdict = handler_->CheckHeader(request.base());
  EXPECT_FALSE(verdict.refusal.has_value());

  std::shared_ptr<FakeWriter> writer = Call(Get("/readyz"));
  EXPECT_EQ(writer->sends(), 0);
  std::vector<FakeBackend::UnaryCall> calls = boxes_.unary_calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, kHostMethod);
  EXPECT_THAT(calls[0].metadata, IsEmpty());  // asked as the backend
  EXPECT_EQ(calls[0].timeout, absl::Seconds(2));

  box::v1::HostResponse host;
  host.set_boxes(3);
  ASSERT_TRUE(boxes_.FinishUnary(absl::OkStatus(), Serialized(host)));
  ASSERT_EQ(writer->sends(), 1);
  EXPECT_EQ(writer->response()->result_int(), 200);
  EXPECT_EQ(writer->response()->body(), R"({"status":"ready"})");
  EXPECT_TRUE(HasMetric("berth_gateway_readiness_checks_total 1"));
}

TEST_F(GatewayHandlerTest, NotReadyWhenDockerSvcDoesNotAnswer) {
  boxes_.ScriptUnary(absl::UnavailableError("docker-svc is unavailable; try again"));
  HttpResponse answer = Answer(Get("/readyz"));
  EXPECT_EQ(answer.result_int(), 503);
  EXPECT_EQ(answer.body(), R"({"code":14,"message":"docker-svc does not answer"})");

  // An answer that is not a HostResponse counts as none.
  clock_.Advance(absl::Seconds(1));
  boxes_.ScriptUnary(absl::OkStatus(), std::string("\x00", 1));
  HttpResponse garbled = Answer(Get("/readyz"));
  EXPECT_EQ(garbled.result_int(), 503);
  EXPECT_EQ(garbled.body(), R"({"code":14,"message":"docker-svc does not answer"})");
}

TEST_F(GatewayHandlerTest, NotReadyWhenDockerSvcsAllocatorDoesNotAnswer) {
  box::v1::HostResponse host;
  host.set_allocator_error("allocator-svc is unavailable");
  boxes_.ScriptUnary(absl::OkStatus(), Serialized(host));
  HttpResponse answer = Answer(Get("/readyz"));
  EXPECT_EQ(answer.result_int(), 503);
  EXPECT_EQ(answer.body(),
            R"({"code":14,"message":"docker-svc's allocator: allocator-svc is unavailable"})");
}

TEST_F(GatewayHandlerTest, ReadyzRequestsDuringACheckShareIt) {
  std::vector<std::shared_ptr<FakeWriter>> writers;
  for (int i = 0; i < 3; ++i) writers.push_back(Call(Get("/readyz")));
  EXPECT_EQ(boxes_.unary_calls().size(), 1u);
  for (const auto& writer : writers) EXPECT_EQ(writer->sends(), 0);

  ASSERT_TRUE(boxes_.FinishUnary(absl::OkStatus(), Serialized(box::v1::HostResponse())));
  for (const auto& writer : writers) {
    ASSERT_EQ(writer->sends(), 1);
    EXPECT_EQ(writer->response()->result_int(), 200);
  }
  EXPECT_TRUE(HasMetric("berth_gateway_readiness_checks_total 1"));
  EXPECT_TRUE(HasMetric(R"(berth_gateway_requests_total{code="200",route="GET /readyz"} 3)"));
}

TEST_F(GatewayHandlerTest, ReadyzResultAnswersForOneSecond) {
  boxes_.ScriptUnary(absl::UnavailableError("down"));
  EXPECT_EQ(Answer(Get("/readyz")).result_int(), 503);
  ASSERT_EQ(boxes_.unary_calls().size(), 1u);

  // Within the second, the last result answers at once, failure included.
  clock_.Advance(absl::Milliseconds(999));
  HttpResponse cached = Answer(Get("/readyz"));
  EXPECT_EQ(cached.result_int(), 503);
  EXPECT_EQ(cached.body(), R"({"code":14,"message":"docker-svc does not answer"})");
  EXPECT_EQ(boxes_.unary_calls().size(), 1u);

  // Then a new check.
  clock_.Advance(absl::Milliseconds(1));
  std::shared_ptr<FakeWriter> writer = Call(Get("/readyz"));
  EXPECT_EQ(boxes_.unary_calls().size(), 2u);
  ASSERT_TRUE(boxes_.FinishUnary(absl::OkStatus(), Serialized(box::v1::HostResponse())));
  EXPECT_EQ(writer->response()->result_int(), 200);
  EXPECT_TRUE(HasMetric("berth_gateway_readiness_checks_total 2"));

  // The new result is the one cached.
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_EQ(Answer(Get("/readyz")).result_int(), 200);
  EXPECT_EQ(boxes_.unary_calls().size(), 2u);
}

TEST_F(GatewayHandlerTest, ReadyzWaitsForTheAllocatorHealthCheckWhenGivenOne) {
  Rebuild(nullptr, /*with_allocator=*/true);
  std::shared_ptr<FakeWriter> writer = Call(Get("/readyz"));
  EXPECT_EQ(boxes_.unary_calls().size(), 1u);
  EXPECT_THAT(allocator_.health_checks(), ElementsAre(absl::Seconds(2)));

  ASSERT_TRUE(boxes_.FinishUnary(absl::OkStatus(), Serialized(box::v1::HostResponse())));
  EXPECT_EQ(writer->sends(), 0);  // the allocator has not answered yet
  ASSERT_TRUE(allocator_.FinishHealth(true));
  ASSERT_EQ(writer->sends(), 1);
  EXPECT_EQ(writer->response()->result_int(), 200);
}

TEST_F(GatewayHandlerTest, NotReadyWhenTheAllocatorGivenIsNotServing) {
  Rebuild(nullptr, /*with_allocator=*/true);
  std::shared_ptr<FakeWriter> writer = Call(Get("/readyz"));
  ASSERT_TRUE(allocator_.FinishHealth(false));
  ASSERT_TRUE(boxes_.FinishUnary(absl::OkStatus(), Serialized(box::v1::HostResponse())));
  ASSERT_EQ(writer->sends(), 1);
  EXPECT_EQ(writer->response()->result_int(), 503);
  EXPECT_EQ(writer->response()->body(),
            R"({"code":14,"message":"allocator-svc (--allocator) does not answer"})");

  // Both failing: the first failure to arrive is told.
  clock_.Advance(absl::Seconds(1));
  writer = Call(Get("/readyz"));
  ASSERT_TRUE(boxes_.FinishUnary(absl::UnavailableError("down")));
  ASSERT_TRUE(allocator_.FinishHealth(false));
  EXPECT_EQ(writer->response()->body(), R"({"code":14,"message":"docker-svc does not answer"})");
}

// ---------------------------------------------------------------------------------------------
// Backend errors

struct CodeCase {
  absl::StatusCode code;
  int http_status;
  const char* name;
};

TEST_F(GatewayHandlerTest, BackendErrorsMapToHttpStatusesAndJsonBodies) {
  const std::vector<CodeCase> cases = {
      {absl::StatusCode::kCancelled, 499, "CANCELLED"},
      {absl::StatusCode::kUnknown, 500, "UNKNOWN"},
      {absl::StatusCode::kInvalidArgument, 400, "INVALID_ARGUMENT"},
      {absl::StatusCode::kDeadlineExceeded, 504, "DEADLINE_EXCEEDED"},
      {absl::StatusCode::kNotFound, 404, "NOT_FOUND"},
      {absl::StatusCode::kAlreadyExists, 409, "ALREADY_EXISTS"},
      {absl::StatusCode::kPermissionDenied, 403, "PERMISSION_DENIED"},
      {absl::StatusCode::kResourceExhausted, 429, "RESOURCE_EXHAUSTED"},
      {absl::StatusCode::kFailedPrecondition, 400, "FAILED_PRECONDITION"},
      {absl::StatusCode::kAborted, 409, "ABORTED"},
      {absl::StatusCode::kOutOfRange, 400, "OUT_OF_RANGE"},
      {absl::StatusCode::kUnimplemented, 501, "UNIMPLEMENTED"},
      {absl::StatusCode::kInternal, 500, "INTERNAL"},
      {absl::StatusCode::kUnavailable, 503, "UNAVAILABLE"},
      {absl::StatusCode::kDataLoss, 500, "DATA_LOSS"},
      {absl::StatusCode::kUnauthenticated, 401, "UNAUTHENTICATED"},
  };
  for (const CodeCase& c : cases) {
    SCOPED_TRACE(c.name);
    boxes_.ScriptUnary(absl::Status(c.code, "box \"b1\": what went wrong"));
    HttpResponse answer = Answer(Get("/v1/boxes/b1").Token(UserToken()));
    EXPECT_EQ(answer.result_int(), c.http_status);
    EXPECT_EQ(Header(answer, http::field::content_type), "application/json");
    EXPECT_EQ(answer.body(), absl::StrCat(R"({"code":)", static_cast<int>(c.code),
                                          R"(,"message":"box \"b1\": what went wrong"})"));
    EXPECT_EQ(HasHeader(answer, http::field::www_authenticate),
              c.code == absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(HasMetric(absl::StrCat(
        R"(berth_gateway_backend_errors_total{backend="docker-svc",code=")", c.name, R"("} 1)")));
  }
}

TEST_F(GatewayHandlerTest, CancelledCallDuringShutdownIs503) {
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/boxes/b1").Token(UserToken()));
  handler_->BeginShutdown();
  ASSERT_TRUE(boxes_.FinishUnary(absl::CancelledError("the call to docker-svc was cancelled")));
  ASSERT_EQ(writer->sends(), 1);
  EXPECT_EQ(writer->response()->result_int(), 503);
  EXPECT_EQ(writer->response()->body(),
            R"({"code":14,"message":"the gateway is shutting down; try again"})");
  EXPECT_TRUE(
      HasMetric(R"(berth_gateway_backend_errors_total{backend="docker-svc",code="CANCELLED"} 1)"));
}

TEST_F(GatewayHandlerTest, UnreadableBackendAnswerIs500) {
  boxes_.ScriptUnary(absl::OkStatus(), std::string("\x00", 1));
  HttpResponse answer = Answer(Get("/v1/boxes/b1").Token(UserToken()));
  EXPECT_EQ(answer.result_int(), 500);
  EXPECT_EQ(answer.body(), R"({"code":13,"message":"unreadable answer"})");
}

// ---------------------------------------------------------------------------------------------
// Event streams

std::string EventBytes(box::v1::BoxEvent::Kind kind, const std::string& box_id) {
  box::v1::BoxEvent event;
  event.set_kind(kind);
  if (!box_id.empty()) event.mutable_box()->set_box_id(box_id);
  return event.SerializeAsString();
}

TEST_F(GatewayHandlerTest, EventsAreWrittenAsLinesUntilTheBackendEndsTheStream) {
  std::shared_ptr<FakeWriter> writer =
      Call(Get("/v1/events").Token(UserToken("u5", 600)).Origin(kOrigin));
  ASSERT_TRUE(writer->head().has_value());
  EXPECT_EQ(writer->sends(), 0);
  EXPECT_EQ(writer->head()->result_int(), 200);
  EXPECT_EQ(Header(*writer->head(), http::field::content_type), "application/x-ndjson");
  EXPECT_EQ(Header(*writer->head(), http::field::access_control_allow_origin), "*");

  std::vector<FakeBackend::StreamCall> streams = boxes_.stream_calls();
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].method, kWatchMethod);
  EXPECT_EQ(streams[0].metadata, (CallMetadata{{kCallerUserMetadata, "u5"}}));
  EXPECT_EQ(streams[0].deadline, absl::FromUnixSeconds(kNow + 600));  // the token's exp
  EXPECT_TRUE(HasMetric("berth_gateway_streams_open 1"));

  ASSERT_TRUE(boxes_.SendMessage(0, EventBytes(box::v1::BoxEvent::KIND_SNAPSHOT, "b1")));
  ASSERT_TRUE(boxes_.SendMessage(0, std::string("\x00", 1)));  // unreadable: skipped
  ASSERT_TRUE(boxes_.SendMessage(0, EventBytes(box::v1::BoxEvent::KIND_SNAPSHOT_DONE, "")));
  EXPECT_THAT(writer->chunks(),
              ElementsAre("{\"result\":{\"kind\":\"KIND_SNAPSHOT\",\"box\":{\"boxId\":\"b1\"}}}\n",
                          "{\"result\":{\"kind\":\"KIND_SNAPSHOT_DONE\"}}\n"));
  EXPECT_EQ(writer->ends(), 0);

  ASSERT_TRUE(boxes_.EndStream(0, absl::OkStatus()));
  EXPECT_EQ(writer->chunks().size(), 2u);  // no error line
  EXPECT_EQ(writer->ends(), 1);
  EXPECT_EQ(writer->sends(), 0);
  EXPECT_TRUE(HasMetric("berth_gateway_streams_open 0"));
  EXPECT_TRUE(HasMetric("berth_gateway_streams_expired_total 0"));
  EXPECT_TRUE(HasMetric(R"(berth_gateway_requests_total{code="200",route="GET /v1/events"} 1)"));
}

TEST_F(GatewayHandlerTest, StreamEndsWithCode16WhenTheTokenExpires) {
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/events").Token(UserToken("u1", 120)));
  ASSERT_EQ(boxes_.stream_calls().size(), 1u);
  EXPECT_EQ(boxes_.stream_calls()[0].deadline, absl::FromUnixSeconds(kNow + 120));
  // The backend ends the call at its deadline.
  ASSERT_TRUE(
      boxes_.EndStream(0, absl::DeadlineExceededError("docker-svc did not answer in time")));
  EXPECT_THAT(writer->chunks(),
              ElementsAre("{\"error\":{\"code\":16,\"message\":\"the token expired; watch again "
                          "with a new one\"}}\n"));
  EXPECT_EQ(writer->ends(), 1);
  EXPECT_TRUE(HasMetric("berth_gateway_streams_expired_total 1"));
  EXPECT_TRUE(HasMetric("berth_gateway_streams_open 0"));
  // A deadline is not the backend's failure.
  EXPECT_FALSE(
      absl::StrContains(handler_->metrics().Render(), "berth_gateway_backend_errors_total{"));
}

TEST_F(GatewayHandlerTest, StreamEndsWithCode4AtItsLongestLifetime) {
  Rebuild([](GatewayHandlerOptions& options) { options.max_stream_lifetime = absl::Hours(1); });
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/events").Token(UserToken("u1", 2 * 3600)));
  ASSERT_EQ(boxes_.stream_calls().size(), 1u);
  EXPECT_EQ(boxes_.stream_calls()[0].deadline, clock_.Now() + absl::Hours(1));
  ASSERT_TRUE(
      boxes_.EndStream(0, absl::DeadlineExceededError("docker-svc did not answer in time")));
  EXPECT_THAT(writer->chunks(),
              ElementsAre("{\"error\":{\"code\":4,\"message\":\"the stream lasted as long as a "
                          "stream may; watch again\"}}\n"));
  EXPECT_EQ(writer->ends(), 1);
  EXPECT_TRUE(HasMetric("berth_gateway_streams_expired_total 0"));
}

TEST_F(GatewayHandlerTest, StreamWithoutAuthLastsItsLongestLifetime) {
  Rebuild([](GatewayHandlerOptions& options) {
    options.verifier.reset();
    options.max_stream_lifetime = absl::Minutes(5);
  });
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/events"));
  ASSERT_EQ(boxes_.stream_calls().size(), 1u);
  EXPECT_THAT(boxes_.stream_calls()[0].metadata, IsEmpty());
  EXPECT_EQ(boxes_.stream_calls()[0].deadline, clock_.Now() + absl::Minutes(5));
  ASSERT_TRUE(boxes_.EndStream(0, absl::OkStatus()));
  EXPECT_EQ(writer->ends(), 1);
}

TEST_F(GatewayHandlerTest, BackendFailureEndsTheStreamWithItsErrorLine) {
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/events").Token(UserToken()));
  ASSERT_TRUE(boxes_.SendMessage(0, EventBytes(box::v1::BoxEvent::KIND_SNAPSHOT_DONE, "")));
  ASSERT_TRUE(boxes_.EndStream(0, absl::ResourceExhaustedError("the watch fell too far behind")));
  EXPECT_THAT(writer->chunks(),
              ElementsAre("{\"result\":{\"kind\":\"KIND_SNAPSHOT_DONE\"}}\n",
                          "{\"error\":{\"code\":8,\"message\":\"the watch fell too far "
                          "behind\"}}\n"));
  EXPECT_EQ(writer->ends(), 1);
  EXPECT_EQ(writer->sends(), 0);
  EXPECT_TRUE(HasMetric(
      R"(berth_gateway_backend_errors_total{backend="docker-svc",code="RESOURCE_EXHAUSTED"} 1)"));
}

TEST_F(GatewayHandlerTest, ClientGoneCancelsTheStream) {
  std::shared_ptr<FakeWriter> writer = Call(Get("/v1/events").Token(UserToken()));
  ASSERT_EQ(boxes_.stream_calls().size(), 1u);
  EXPECT_FALSE(boxes_.stream_cancelled(0));
  writer->ClientGone();
  EXPECT_TRUE(boxes_.stream_cancelled(0));
  EXPECT_TRUE(boxes_.stream_ended(0));
  EXPECT_THAT(writer->chunks(), IsEmpty());  // CANCELLED writes no error line
  EXPECT_EQ(writer->ends(), 1);
  EXPECT_TRUE(HasMetric("berth_gateway_streams_open 0"));
}

TEST_F(GatewayHandlerTest, StreamsOverACapAre429UntilOneEnds) {
  Rebuild([](GatewayHandlerOptions& options) { options.stream_limits.per_user = 1; });
  std::shared_ptr<FakeWriter> first = Call(Get("/v1/events").Token(UserToken("u1")));
  ASSERT_TRUE(first->head().has_value());

  HttpResponse refused = Answer(Get("/v1/events").Token(UserToken("u1")));
  EXPECT_EQ(refused.result_int(), 429);
  EXPECT_THAT(std::string(refused.body()), HasSubstr(R"({"code":8,"message":")"));
  EXPECT_EQ(boxes_.stream_calls().size(), 1u);
  EXPECT_TRUE(HasMetric(R"(berth_gateway_streams_refused_total{cap="max_streams_per_user"} 1)"));

  // Another user has a place of its own.
  std::shared_ptr<FakeWriter> other = Call(Get("/v1/events").Token(UserToken("u2")));
  EXPECT_TRUE(other->head().has_value());

  // The first stream's end gives its place back.
  ASSERT_TRUE(boxes_.EndStream(0, absl::OkStatus()));
  std::shared_ptr<FakeWriter> again = Call(Get("/v1/events").Token(UserToken("u1")));
  EXPECT_TRUE(again->head().has_value());
  EXPECT_EQ(boxes_.stream_calls().size(), 3u);
  ASSERT_TRUE(boxes_.EndStream(1, absl::OkStatus()));
  ASSERT_TRUE(boxes_.EndStream(2, absl::OkStatus()));
}

}  // namespace
}  // namespace berth::gateway
