#include "gateway/server/gateway_handler.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/box/v1/box.pb.h"
#include "common/call_metadata.h"
#include "gateway/page/host_page.h"
#include "gateway/routing/http_status.h"
#include "gateway/routing/transcoder.h"
#include "google/protobuf/message.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {
namespace {

namespace http = boost::beast::http;

constexpr char kJson[] = "application/json";
// docker-svc's report on itself and its allocator-svc, for /readyz.
constexpr char kHostMethod[] = "/berth.box.v1.Boxes/Host";
constexpr absl::Duration kReadyTimeout = absl::Seconds(2);
// How long a /readyz check's result answers the /readyz requests that follow it.
constexpr absl::Duration kReadyCacheTtl = absl::Seconds(1);
// The route label of requests refused before a route was looked up.
constexpr char kUnmatched[] = "unmatched";

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, kJson);
  response.body() = std::move(body);
  return response;
}

// The status code's name for metric labels ("UNAVAILABLE").
std::string CodeName(const absl::Status& status) { return absl::StatusCodeToString(status.code()); }

// The clock of a handler whose options name none.
const common::Clock& SystemClock() {
  static const common::SystemClock* const clock = new common::SystemClock();
  return *clock;
}

// Why docker-svc's answer to the Host call of /readyz means the gateway is not ready; "" when
// it is ready.
std::string HostReportProblem(const absl::Status& status, const std::string& response) {
  box::v1::HostResponse host;
  if (!status.ok() || !host.ParseFromString(response)) return "docker-svc does not answer";
  if (!host.allocator_error().empty()) {
    return absl::StrCat("docker-svc's allocator: ", host.allocator_error());
  }
  return "";
}

// Sets the CORS answer headers for an allowed origin ("" when none is).
template <typename Response>
void SetAllowOrigin(const std::string& allow_origin, Response& response) {
  if (allow_origin.empty()) return;
  response.set(http::field::access_control_allow_origin, allow_origin);
  if (allow_origin != "*") response.set(http::field::vary, "Origin");
}

// The JSON error answer for `status`, with the headers its code calls for.
HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse response =
      JsonResponse(routing::HttpStatusOf(status), routing::ErrorBody(status));
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.set(http::field::www_authenticate,
                 absl::StrCat("Bearer realm=\"berth\", error=\"invalid_token\""));
  }
  if (std::string allow = routing::AllowHeaderOf(status); !allow.empty()) {
    response.set(http::field::allow, allow);
  }
  return response;
}

// The paths served to anyone, for GET and HEAD only: the probes and the host page.
bool IsPublic(absl::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/";
}

// The requests answered without a token: the public paths and CORS preflights.
bool NeedsNoToken(http::verb method, absl::string_view path) {
  return method == http::verb::options || IsPublic(path);
}

// The host page (gateway/page): static, the same for everyone; its script asks for a token
// before it calls anything. Nothing but its inline parts may run or load (its CSP), it is not
// to be sniffed as anything but HTML, framed, nor kept in any cache.
HttpResponse HostPageResponse() {
  const HostPage& page = GetHostPage();
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "text/html; charset=utf-8");
  response.set("Content-Security-Policy", page.content_security_policy);
  response.set("X-Content-Type-Options", "nosniff");
  response.set(http::field::x_frame_options, "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.set(http::field::cache_control, "no-store");
  response.body() = page.html;
  return response;
}

absl::string_view TargetOf(const HttpRequestHeader& header) {
  return absl::string_view(header.target().data(), header.target().size());
}

}  // namespace

// One request on its way through the gateway.
struct GatewayHandler::Exchange {
  HttpRequest request;
  std::shared_ptr<ResponseWriter> writer;
  absl::Time start;
  std::string route_label = kUnmatched;
  std::string allow_origin;  // CORS header of the answer, when the origin is allowed
  std::atomic<bool> finished{false};
};

GatewayHandler::GatewayHandler(routing::RouteTable routes, Backend* boxes, Backend* allocator,
                               GatewayHandlerOptions options)
    : routes_(std::move(routes)),
      boxes_(boxes),
      allocator_(allocator),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock()),
      streams_(std::make_shared<StreamLimiter>(options_.stream_limits)) {}

std::string GatewayHandler::AllowedOrigin(const std::string& origin) const {
  if (origin.empty()) return "";
  for (const std::string& allowed : options_.cors_origins) {
    if (allowed == "*") return "*";
    if (allowed == origin) return origin;
  }
  return "";
}

void GatewayHandler::Finish(const std::shared_ptr<Exchange>& exchange, HttpResponse response) {
  if (exchange->finished.exchange(true)) return;
  SetAllowOrigin(exchange->allow_origin, response);
  metrics_.RequestFinished(exchange->route_label, static_cast<int>(response.result_int()),
                           clock_.Now() - exchange->start);
  exchange->writer->Send(std::move(response));
}

void GatewayHandler::FinishError(const std::shared_ptr<Exchange>& exchange,
                                 const absl::Status& status) {
  Finish(exchange, ErrorResponse(status));
}

absl::StatusOr<Caller> GatewayHandler::Authenticate(const HttpRequestHeader& header) {
  if (!options_.verifier.has_value()) return Caller{"", /*backend=*/true};
  const auto authorization = header[http::field::authorization];
  absl::StatusOr<Caller> caller =
      options_.verifier->Verify(absl::string_view(authorization.data(), authorization.size()));
  if (!caller.ok()) metrics_.AuthFailed(AuthFailureReason(caller.status()));
  return caller;
}

HeaderVerdict GatewayHandler::CheckHeader(const HttpRequestHeader& header) {
  HeaderVerdict verdict;
  if (NeedsNoToken(header.method(), routing::SplitRequestTarget(TargetOf(header)).path)) {
    return verdict;
  }
  absl::StatusOr<Caller> caller = Authenticate(header);
  if (caller.ok()) {
    verdict.authenticated = true;
    return verdict;
  }
  // Answered before the body is read, and counted like every answer.
  metrics_.RequestStarted();
  HttpResponse refusal = ErrorResponse(caller.status());
  SetAllowOrigin(AllowedOrigin(std::string(header[http::field::origin])), refusal);
  metrics_.RequestFinished(kUnmatched, static_cast<int>(refusal.result_int()),
                           absl::ZeroDuration());
  verdict.refusal = std::move(refusal);
  return verdict;
}

void GatewayHandler::Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  metrics_.RequestStarted();
  auto exchange = std::make_shared<Exchange>();
  exchange->request = std::move(request);
  exchange->writer = std::move(writer);
  exchange->start = clock_.Now();
  const HttpRequest& req = exchange->request;
  exchange->allow_origin = AllowedOrigin(std::string(req[http::field::origin]));
  // Views into the request, which the exchange keeps for as long as the target is used.
  const routing::RequestTarget target = routing::SplitRequestTarget(TargetOf(req.base()));

  if (req.method() == http::verb::options) {
    exchange->route_label = "OPTIONS (CORS preflight)";
    HttpResponse response{http::status::no_content, 11};
    response.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
    response.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    response.set(http::field::access_control_max_age, "600");
    return Finish(exchange, std::move(response));
  }
  if (IsPublic(target.path) && req.method() != http::verb::get &&
      req.method() != http::verb::head) {
    return FinishError(exchange, routing::MethodNotAllowed(std::string(req.method_string()),
                                                           target.path, "GET, HEAD"));
  }
  if (target.path == "/") {
    exchange->route_label = "GET /";
    return Finish(exchange, HostPageResponse());
  }
  if (target.path == "/healthz") {
    exchange->route_label = "GET /healthz";
    return Finish(exchange, JsonResponse(200, "{\"status\":\"serving\"}"));
  }
  if (target.path == "/readyz") {
    exchange->route_label = "GET /readyz";
    return HandleReady(exchange);
  }
  if (target.path == "/metrics") {
    exchange->route_label = "GET /metrics";
    HttpResponse response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain; version=0.0.4");
    response.body() = metrics_.Render();  // the text format 0.0.4
    return Finish(exchange, std::move(response));
  }
  HandleRoute(exchange, target);
}

void GatewayHandler::HandleReady(std::shared_ptr<Exchange> exchange) {
  std::optional<std::string> cached;  // the problem of a recent check ("": ready)
  {
    absl::MutexLock lock(&ready_mu_);
    if (clock_.Now() - ready_checked_at_ < kReadyCacheTtl) {
      cached = ready_problem_;
    } else {
      ready_waiting_.push_back(exchange);
      if (ready_checking_) return;  // answered with the check in flight
      ready_checking_ = true;
    }
  }
  if (cached.has_value()) return AnswerReady(exchange, *cached);
  metrics_.ReadinessChecked();
  CheckReadiness([this](std::string problem) { ReadinessChecked(std::move(problem)); });
}

void GatewayHandler::ReadinessChecked(std::string problem) {
  std::vector<std::shared_ptr<Exchange>> waiting;
  {
    absl::MutexLock lock(&ready_mu_);
    ready_checking_ = false;
    ready_checked_at_ = clock_.Now();
    ready_problem_ = problem;
    waiting.swap(ready_waiting_);
  }
  for (const std::shared_ptr<Exchange>& exchange : waiting) AnswerReady(exchange, problem);
}

void GatewayHandler::AnswerReady(const std::shared_ptr<Exchange>& exchange,
                                 const std::string& problem) {
  if (problem.empty()) return Finish(exchange, JsonResponse(200, "{\"status\":\"ready\"}"));
  FinishError(exchange, absl::UnavailableError(problem));
}

void GatewayHandler::CheckReadiness(std::function<void(std::string problem)> done) {
  // The checks answer on the backends' threads, in any order; the last one calls `done`.
  struct Ready {
    Ready(int checks, std::function<void(std::string)> on_done)
        : pending(checks), done(std::move(on_done)) {}
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu);
    std::string problem ABSL_GUARDED_BY(mu);  // the first check's that failed
    const std::function<void(std::string)> done;
  };
  auto ready = std::make_shared<Ready>(allocator_ != nullptr ? 2 : 1, std::move(done));
  auto checked = [ready](std::string problem) {
    std::string first_problem;
    {
      absl::MutexLock lock(&ready->mu);
      if (ready->problem.empty()) ready->problem = std::move(problem);
      if (--ready->pending > 0) return;
      first_problem = ready->problem;
    }
    ready->done(std::move(first_problem));
  };
  // docker-svc's Host report says whether docker-svc answers and whether its allocator-svc
  // answers it, so that the gateway needs no connection of its own to allocator-svc. The call
  // carries no berth-user: the gateway asks as the backend.
  boxes_->Unary(kHostMethod, box::v1::HostRequest().SerializeAsString(), kReadyTimeout, {},
                [checked](const absl::Status& status, std::string response) {
                  checked(HostReportProblem(status, response));
                });
  if (allocator_ != nullptr) {
    allocator_->CheckHealth(kReadyTimeout, [checked](bool serving) {
      checked(serving ? "" : "allocator-svc (--allocator) does not answer");
    });
  }
}

void GatewayHandler::HandleRoute(std::shared_ptr<Exchange> exchange,
                                 const routing::RequestTarget& target) {
  const HttpRequest& req = exchange->request;
  // The caller first, so that without a valid token no path tells what exists. (CheckHeader
  // verified the token already; this finds it among the verified ones.)
  absl::StatusOr<Caller> verified = Authenticate(req.base());
  if (!verified.ok()) return FinishError(exchange, verified.status());
  const Caller caller = *std::move(verified);
  absl::StatusOr<routing::RouteMatch> match =
      routes_.Match(std::string(req.method_string()), target.path);
  if (!match.ok()) return FinishError(exchange, match.status());
  const routing::Route& route = *match->route;
  exchange->route_label = route.label;
  if (route.rule.backend_only() && !caller.backend) {
    return FinishError(exchange, absl::PermissionDeniedError("this route needs the backend role"));
  }
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> message = routing::BuildRequest(
      route, match->bindings, target.query, absl::string_view(req.body()),
      std::string(req[http::field::content_type]));
  if (!message.ok()) return FinishError(exchange, message.status());
  CallMetadata metadata;
  if (!caller.backend) metadata[common::kCallerUserMetadata] = caller.subject;
  if (route.server_streaming) {
    return HandleStream(exchange, route, caller, (*message)->SerializeAsString(), metadata);
  }
  CallUnary(exchange, route, (*message)->SerializeAsString(), metadata);
}

void GatewayHandler::CallUnary(std::shared_ptr<Exchange> exchange, const routing::Route& route,
                               std::string request, const CallMetadata& metadata) {
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(
          route.method->output_type());
  const int success = route.success_status();
  const absl::Duration timeout = route.rule.timeout_ms() > 0
                                     ? absl::Milliseconds(route.rule.timeout_ms())
                                     : options_.default_timeout;
  boxes_->Unary(route.grpc_path, std::move(request), timeout, metadata,
                [this, exchange, prototype, success](const absl::Status& status,
                                                     std::string bytes) {
                  AnswerUnary(exchange, *prototype, success, status, bytes);
                });
}

void GatewayHandler::AnswerUnary(const std::shared_ptr<Exchange>& exchange,
                                 const google::protobuf::Message& prototype, int success,
                                 const absl::Status& status, const std::string& bytes) {
  spdlog::debug("{} answered: {}", exchange->route_label, static_cast<int>(status.code()));
  if (!status.ok()) {
    metrics_.BackendError(boxes_->name(), CodeName(status));
    if (status.code() == absl::StatusCode::kCancelled && shutting_down_) {
      return FinishError(exchange,
                         absl::UnavailableError("the gateway is shutting down; try again"));
    }
    return FinishError(exchange, status);
  }
  std::unique_ptr<google::protobuf::Message> answer(prototype.New());
  if (!answer->ParseFromString(bytes)) {
    return FinishError(exchange, absl::InternalError("unreadable answer"));
  }
  absl::StatusOr<std::string> json = routing::ResponseToJson(*answer);
  if (!json.ok()) {
    // The backend's answer, not the request, is at fault.
    return FinishError(exchange, absl::InternalError(json.status().message()));
  }
  Finish(exchange, JsonResponse(success, *std::move(json)));
}

void GatewayHandler::HandleStream(std::shared_ptr<Exchange> exchange, const routing::Route& route,
                                  const Caller& caller, std::string request,
                                  const CallMetadata& metadata) {
  StreamCap refused_by = StreamCap::kMaxStreams;
  absl::StatusOr<StreamLimiter::Slot> slot = streams_->Acquire(caller, &refused_by);
  if (!slot.ok()) {
    metrics_.StreamRefused(refused_by);
    return FinishError(exchange, slot.status());
  }
  // Held by the stream's last callback, which ends the stream.
  auto held = std::make_shared<StreamLimiter::Slot>(*std::move(slot));
  metrics_.StreamOpened();
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(
          route.method->output_type());
  HttpResponse head{http::status::ok, 11};
  head.set(http::field::content_type, "application/x-ndjson");
  SetAllowOrigin(exchange->allow_origin, head);
  exchange->writer->StartStream(std::move(head));
  // The call's deadline is the token's exp: a stream lives no longer than its credentials. Nor
  // longer than max_stream_lifetime, whatever exp says (1e300 is a valid one), or without auth.
  const absl::Time longest = clock_.Now() + options_.max_stream_lifetime;
  const bool ends_at_exp = caller.expires <= longest;
  const absl::Time deadline = ends_at_exp ? caller.expires : longest;
  std::shared_ptr<StreamHandle> stream = boxes_->ServerStream(
      route.grpc_path, std::move(request), metadata, deadline,
      [exchange, prototype](std::string bytes) {
        std::unique_ptr<google::protobuf::Message> event(prototype->New());
        if (!event->ParseFromString(bytes)) return;
        absl::StatusOr<std::string> line = routing::StreamResultLine(*event);
        if (line.ok()) exchange->writer->Chunk(*std::move(line));
      },
      [this, exchange, held, ends_at_exp](const absl::Status& status) mutable {
        EndStream(exchange, status, ends_at_exp, std::move(held));
      });
  exchange->writer->OnClientGone([stream] { stream->Cancel(); });
}

void GatewayHandler::EndStream(const std::shared_ptr<Exchange>& exchange,
                               const absl::Status& status, bool ends_at_exp,
                               std::shared_ptr<StreamLimiter::Slot> slot) {
  const bool timed_out = status.code() == absl::StatusCode::kDeadlineExceeded;
  const bool expired = timed_out && ends_at_exp;
  if (expired) {
    exchange->writer->Chunk(routing::StreamErrorLine(
        absl::UnauthenticatedError("the token expired; watch again with a new one")));
  } else if (timed_out) {
    exchange->writer->Chunk(routing::StreamErrorLine(
        absl::DeadlineExceededError("the stream lasted as long as a stream may; watch again")));
  } else if (!status.ok() && status.code() != absl::StatusCode::kCancelled) {
    metrics_.BackendError(boxes_->name(), CodeName(status));
    exchange->writer->Chunk(routing::StreamErrorLine(status));
  }
  // Counted, and its place given back, before the client can see the end.
  slot.reset();
  metrics_.StreamClosed(expired);
  if (!exchange->finished.exchange(true)) {
    metrics_.RequestFinished(exchange->route_label, 200, clock_.Now() - exchange->start);
  }
  exchange->writer->End();
}

}  // namespace berth::gateway
