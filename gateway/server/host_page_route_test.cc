// GET / on the gateway's handler: the host page, served without a token and with its headers.
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "berth/box/v1/box.pb.h"
#include "common/testing/fake_clock.h"
#include "gateway/backend/testing/fake_backend.h"
#include "gateway/page/host_page.h"
#include "gateway/server/gateway_handler.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

namespace http = boost::beast::http;

using ::berth::gateway::testing::FakeBackend;
using ::berth::testing::FakeClock;

// Whether the Prometheus text has a sample of `name` with every one of `labels` (in any order)
// and the value `value`.
bool HasSample(const std::string& text, absl::string_view name,
               const std::vector<std::string>& labels, absl::string_view value) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, absl::StrCat(name, "{")) ||
        !absl::EndsWith(line, absl::StrCat(" ", value))) {
      continue;
    }
    if (std::all_of(labels.begin(), labels.end(),
                    [&](const std::string& label) { return absl::StrContains(line, label); })) {
      return true;
    }
  }
  return false;
}

// Keeps the one answer Send() gives.
class AnswerWriter final : public ResponseWriter {
 public:
  void Send(HttpResponse response) override { answer = std::move(response); }
  void StartStream(HttpResponse head) override { streamed = true; }
  void Chunk(std::string data) override {}
  void End() override {}
  void OnClientGone(std::function<void()> on_close) override {}

  std::optional<HttpResponse> answer;
  bool streamed = false;
};

class HostPageRouteTest : public ::testing::Test {
 protected:
  HostPageRouteTest() {
    GatewayHandlerOptions options;
    JwtConfig jwt;
    jwt.hs256_secret = "0123456789abcdef0123456789abcdef-page-test";
    absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(std::move(jwt), &clock_);
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    options.verifier.emplace(*std::move(verifier));
    options.clock = &clock_;
    absl::StatusOr<routing::RouteTable> routes = routing::RouteTable::Create(
        {box::v1::Box::descriptor()->file()->FindServiceByName("Boxes")});
    EXPECT_TRUE(routes.ok()) << routes.status();
    handler_ =
        std::make_unique<GatewayHandler>(*std::move(routes), &boxes_, nullptr, std::move(options));
  }

  // The answer to `method` `target` without a token, as the server gets it: the header checked
  // first (a refusal is the answer), then the request handled.
  HttpResponse Answer(http::verb method, const std::string& target) {
    HttpRequest request{method, target, 11};
    HeaderVerdict verdict = handler_->CheckHeader(request.base());
    if (verdict.refusal.has_value()) return *std::move(verdict.refusal);
    auto writer = std::make_shared<AnswerWriter>();
    handler_->Handle(std::move(request), writer);
    EXPECT_FALSE(writer->streamed);
    return writer->answer.value_or(HttpResponse{});
  }

  FakeClock clock_;
  FakeBackend boxes_{"docker-svc"};
  std::unique_ptr<GatewayHandler> handler_;
};

TEST_F(HostPageRouteTest, ServesThePageWithoutATokenNorTheBackend) {
  for (const char* target : {"/", "/?from=bookmark"}) {
    SCOPED_TRACE(target);
    HttpResponse page = Answer(http::verb::get, target);
    EXPECT_EQ(page.result_int(), 200);
    EXPECT_EQ(page.body(), GetHostPage().html);
    EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
    EXPECT_EQ(page["Content-Security-Policy"], GetHostPage().content_security_policy);
    EXPECT_EQ(page["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(page[http::field::cache_control], "no-store");
    EXPECT_EQ(page[http::field::x_frame_options], "DENY");
  }
  EXPECT_EQ(boxes_.calls(), 0);
  EXPECT_TRUE(HasSample(handler_->metrics().Render(), "berth_gateway_requests_total",
                        {R"(route="GET /")", R"(code="200")"}, "2"))
      << handler_->metrics().Render();
}

TEST_F(HostPageRouteTest, AllowsOnlyGetAndHead) {
  EXPECT_EQ(Answer(http::verb::head, "/").result_int(), 200);
  for (http::verb method : {http::verb::post, http::verb::put, http::verb::delete_}) {
    HttpResponse answer = Answer(method, "/");
    EXPECT_EQ(answer.result_int(), 405);
    EXPECT_EQ(answer[http::field::allow], "GET, HEAD");
  }
}

TEST_F(HostPageRouteTest, OtherPathsStillNeedAToken) {
  for (const char* target : {"/index.html", "//", "/v1/host", "/favicon.ico"}) {
    SCOPED_TRACE(target);
    HttpResponse answer = Answer(http::verb::get, target);
    EXPECT_EQ(answer.result_int(), 401);
    EXPECT_TRUE(absl::StartsWith(std::string(answer[http::field::www_authenticate]), "Bearer"));
  }
  EXPECT_EQ(boxes_.calls(), 0);
}

}  // namespace
}  // namespace berth::gateway
