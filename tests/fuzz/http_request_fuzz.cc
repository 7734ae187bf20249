// Fuzz target: an HTTP request as the gateway reads it: Beast's parser with the gateway's
// limits, then GatewayHandler (CORS, auth from the header before the body, the route table,
// path and query decoding, the JSON body into the RPC's request, the answer into JSON) in front
// of backends that answer every call at once. Input: one byte choosing the handler (even: auth
// on, HS256; odd: --insecure_no_auth, so that every request reaches the routes), then the
// request's bytes as a client sends them.
//
// Properties: every request the parser takes is answered exactly once, completely, before
// Handle returns (the backends answer at once): one response, or one stream that ends; its
// status is a real one (200-599); a JSON answer's body is one JSON value; no header value
// holds a CR or LF.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "boost/beast/http.hpp"
#include "common/testing/fake_clock.h"
#include "gateway/auth/jwt_verifier.h"
#include "gateway/backend/backend.h"
#include "common/json_syntax.h"
#include "gateway/routing/route_table.h"
#include "gateway/server/gateway_handler.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

namespace http = ::boost::beast::http;
using ::berth::gateway::Backend;
using ::berth::gateway::CallMetadata;
using ::berth::gateway::GatewayHandler;
using ::berth::gateway::HttpRequest;
using ::berth::gateway::HttpResponse;

// Answers every call at once: a unary call with an empty response (the default message), a
// stream with one empty message then its end, a health check with SERVING.
class InstantBackend final : public Backend {
 public:
  explicit InstantBackend(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  void Unary(const std::string&, std::string, absl::Duration, const CallMetadata&,
             UnaryDone done) override {
    done(absl::OkStatus(), "");
  }
  std::shared_ptr<berth::gateway::StreamHandle> ServerStream(const std::string&, std::string,
                                                             const CallMetadata&, absl::Time,
                                                             StreamMessage on_message,
                                                             StreamDone on_done) override {
    on_message("");
    on_done(absl::OkStatus());
    return std::make_shared<NoHandle>();
  }
  void CheckHealth(absl::Duration, std::function<void(bool)> done) override { done(true); }

 private:
  struct NoHandle final : berth::gateway::StreamHandle {
    void Cancel() override {}
  };
  const std::string name_;
};

// Records the answer.
class RecordingWriter final : public berth::gateway::ResponseWriter {
 public:
  void Send(HttpResponse response) override {
    absl::MutexLock lock(&mu_);
    responses.push_back(std::move(response));
  }
  void StartStream(HttpResponse head) override {
    absl::MutexLock lock(&mu_);
    responses.push_back(std::move(head));
    ++streams;
  }
  void Chunk(std::string data) override {
    absl::MutexLock lock(&mu_);
    chunks.push_back(std::move(data));
  }
  void End() override {
    absl::MutexLock lock(&mu_);
    ++ends;
  }
  void OnClientGone(std::function<void()>) override {}

  absl::Mutex mu_;
  std::vector<HttpResponse> responses;
  std::vector<std::string> chunks;
  int streams = 0;
  int ends = 0;
};

std::unique_ptr<GatewayHandler> MakeHandler(bool auth, berth::testing::FakeClock* clock,
                                            Backend* boxes, Backend* allocator) {
  berth::gateway::GatewayHandlerOptions options;
  options.clock = clock;
  if (auth) {
    berth::gateway::JwtConfig config;
    config.hs256_secret = "fuzz-secret-0123456789abcdef-0123456789";
    absl::StatusOr<berth::gateway::JwtVerifier> verifier =
        berth::gateway::JwtVerifier::Create(config, clock);
    FUZZ_CHECK(verifier.ok(), verifier.status().ToString());
    options.verifier.emplace(*std::move(verifier));
  }
  absl::StatusOr<berth::gateway::routing::RouteTable> routes =
      berth::gateway::routing::RouteTable::Create(
          {berth::box::v1::Box::descriptor()->file()->FindServiceByName("Boxes")});
  FUZZ_CHECK(routes.ok(), routes.status().ToString());
  return std::make_unique<GatewayHandler>(*std::move(routes), boxes, allocator,
                                          std::move(options));
}

GatewayHandler& Handler(bool auth) {
  static berth::testing::FakeClock* const clock = new berth::testing::FakeClock();
  static InstantBackend* const boxes = new InstantBackend("docker-svc");
  static InstantBackend* const allocator = new InstantBackend("allocator-svc");
  static GatewayHandler* const with_auth = MakeHandler(true, clock, boxes, allocator).release();
  static GatewayHandler* const without = MakeHandler(false, clock, boxes, allocator).release();
  return auth ? *with_auth : *without;
}

void CheckResponse(const HttpResponse& response) {
  FUZZ_CHECK(response.result_int() >= 200 && response.result_int() <= 599,
             absl::StrCat(response.result_int()));
  for (const auto& field : response) {
    const absl::string_view value(field.value().data(), field.value().size());
    FUZZ_CHECK(!absl::StrContains(value, '\r') && !absl::StrContains(value, '\n'),
               std::string(value));
  }
  const auto type = response.find(http::field::content_type);
  if (type != response.end() &&
      absl::StartsWith(absl::string_view(type->value().data(), type->value().size()),
                       "application/json") &&
      !response.body().empty()) {
    const absl::Status json = berth::common::CheckJsonSyntax(response.body());
    FUZZ_CHECK(json.ok(), absl::StrCat(json.ToString(), "\n", response.body()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes = berth::fuzz::AsText(data, size);
  GatewayHandler& handler = Handler(berth::fuzz::TakeSelector(bytes) % 2 == 0);

  // The gateway's limits (HttpServerOptions' defaults).
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 << 10);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code error;
  size_t used = 0;
  while (!parser.is_done() && used < bytes.size()) {
    const size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used),
                                error);
    if (error == http::error::need_more) break;
    if (error || n == 0) return 0;
    used += n;
  }
  if (!parser.is_header_done()) return 0;
  auto writer = std::make_shared<RecordingWriter>();
  berth::gateway::HeaderVerdict verdict = handler.CheckHeader(parser.get().base());
  if (verdict.refusal.has_value()) {
    CheckResponse(*verdict.refusal);
    FUZZ_CHECK(verdict.refusal->result_int() >= 400, absl::StrCat(verdict.refusal->result_int()));
    return 0;
  }
  if (!parser.is_done()) return 0;  // The body never came whole: the server would time out.
  HttpRequest request = parser.release();
  handler.Handle(std::move(request), writer);

  absl::MutexLock lock(&writer->mu_);
  FUZZ_CHECK(writer->responses.size() == 1, absl::StrCat(writer->responses.size(), " answers"));
  FUZZ_CHECK(writer->streams == writer->ends, absl::StrCat(writer->streams, " streams, ",
                                                           writer->ends, " ends"));
  CheckResponse(writer->responses.front());
  return 0;
}
