#include "gateway/server/gateway_handler.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "gateway/routing/http_status.h"
#include "gateway/routing/transcoder.h"
#include "google/protobuf/message.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {
namespace {

namespace http = boost::beast::http;

constexpr char kCallerUserMetadata[] = "berth-user";
constexpr char kJson[] = "application/json";

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, kJson);
  response.body() = std::move(body);
  return response;
}

// The gRPC code's name for metric labels ("UNAVAILABLE").
std::string CodeName(const grpc::Status& status) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
}

// Sets the CORS answer headers for an allowed origin ("" when none is).
template <typename Response>
void SetAllowOrigin(const std::string& allow_origin, Response& response) {
  if (allow_origin.empty()) return;
  response.set(http::field::access_control_allow_origin, allow_origin);
  if (allow_origin != "*") response.set(http::field::vary, "Origin");
}

}  // namespace

// One request on its way through the gateway.
struct GatewayHandler::Exchange {
  HttpRequest request;
  std::shared_ptr<ResponseWriter> writer;
  absl::Time start;
  std::string route_label = "unmatched";
  std::string allow_origin;  // CORS header of the answer, when the origin is allowed
  std::atomic<bool> finished{false};
};

GatewayHandler::GatewayHandler(routing::RouteTable routes, Backend* boxes, Backend* allocator,
                               GatewayHandlerOptions options)
    : routes_(std::move(routes)),
      boxes_(boxes),
      allocator_(allocator),
      options_(std::move(options)) {}

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
                           absl::Now() - exchange->start);
  exchange->writer->Send(std::move(response));
}

void GatewayHandler::FinishError(const std::shared_ptr<Exchange>& exchange,
                                 const absl::Status& status) {
  HttpResponse response =
      JsonResponse(routing::HttpStatusOf(status), routing::ErrorBody(status));
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.set(http::field::www_authenticate,
                 absl::StrCat("Bearer realm=\"berth\", error=\"invalid_token\""));
  }
  if (std::string allow = routing::AllowHeaderOf(status); !allow.empty()) {
    response.set(http::field::allow, allow);
  }
  Finish(exchange, std::move(response));
}

void GatewayHandler::Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  metrics_.RequestStarted();
  auto exchange = std::make_shared<Exchange>();
  exchange->request = std::move(request);
  exchange->writer = std::move(writer);
  exchange->start = absl::Now();
  const HttpRequest& req = exchange->request;
  exchange->allow_origin = AllowedOrigin(std::string(req[http::field::origin]));
  // Views into the request, which the exchange keeps for as long as the target is used.
  const routing::RequestTarget target =
      routing::SplitRequestTarget(absl::string_view(req.target().data(), req.target().size()));

  if (req.method() == http::verb::options) {
    exchange->route_label = "OPTIONS (CORS preflight)";
    HttpResponse response{http::status::no_content, 11};
    response.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
    response.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    response.set(http::field::access_control_max_age, "600");
    return Finish(exchange, std::move(response));
  }
  const bool probe = target.path == "/healthz" || target.path == "/readyz" ||
                     target.path == "/metrics";
  if (probe && req.method() != http::verb::get && req.method() != http::verb::head) {
    return FinishError(exchange, routing::MethodNotAllowed(std::string(req.method_string()),
                                                           target.path, "GET, HEAD"));
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
    response.body() = metrics_.Render();
    return Finish(exchange, std::move(response));
  }
  HandleRoute(exchange, target);
}

void GatewayHandler::HandleReady(std::shared_ptr<Exchange> exchange) {
  struct Ready {
    std::atomic<int> pending{2};
    std::atomic<bool> all_serving{true};
  };
  auto ready = std::make_shared<Ready>();
  auto done = [this, exchange, ready](bool serving) {
    if (!serving) ready->all_serving = false;
    if (ready->pending.fetch_sub(1) != 1) return;
    if (ready->all_serving) return Finish(exchange, JsonResponse(200, "{\"status\":\"ready\"}"));
    FinishError(exchange, absl::UnavailableError("a backend does not answer"));
  };
  boxes_->CheckHealth(absl::Seconds(2), done);
  allocator_->CheckHealth(absl::Seconds(2), done);
}

void GatewayHandler::HandleRoute(std::shared_ptr<Exchange> exchange,
                                 const routing::RequestTarget& target) {
  const HttpRequest& req = exchange->request;
  // The caller first, so that without a valid token no path tells what exists.
  Caller caller{"", /*backend=*/true};
  if (options_.verifier.has_value()) {
    const auto authorization = req[http::field::authorization];
    absl::StatusOr<Caller> verified = options_.verifier->Verify(
        absl::string_view(authorization.data(), authorization.size()));
    if (!verified.ok()) return FinishError(exchange, verified.status());
    caller = *std::move(verified);
  }
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
  if (!caller.backend) metadata[kCallerUserMetadata] = caller.subject;
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(
          route.method->output_type());
  const int success = route.success_status();

  if (route.server_streaming) {
    HttpResponse head{http::status::ok, 11};
    head.set(http::field::content_type, "application/x-ndjson");
    SetAllowOrigin(exchange->allow_origin, head);
    exchange->writer->StartStream(std::move(head));
    std::shared_ptr<StreamHandle> stream = boxes_->ServerStream(
        route.grpc_path, (*message)->SerializeAsString(), metadata,
        [exchange, prototype](std::string bytes) {
          std::unique_ptr<google::protobuf::Message> event(prototype->New());
          if (!event->ParseFromString(bytes)) return;
          absl::StatusOr<std::string> line = routing::StreamResultLine(*event);
          if (line.ok()) exchange->writer->Chunk(*std::move(line));
        },
        [this, exchange](const grpc::Status& status) {
          if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
            metrics_.BackendError(boxes_->name(), CodeName(status));
            exchange->writer->Chunk(routing::StreamErrorLine(common::FromGrpcStatus(status)));
          }
          exchange->writer->End();
          if (!exchange->finished.exchange(true)) {
            metrics_.RequestFinished(exchange->route_label, 200, absl::Now() - exchange->start);
          }
        });
    exchange->writer->OnClientGone([stream] { stream->Cancel(); });
    return;
  }

  const absl::Duration timeout = route.rule.timeout_ms() > 0
                                     ? absl::Milliseconds(route.rule.timeout_ms())
                                     : options_.default_timeout;
  boxes_->Unary(route.grpc_path, (*message)->SerializeAsString(), timeout, metadata,
                [this, exchange, prototype, success](const grpc::Status& status,
                                                     std::string bytes) {
                  spdlog::debug("{} answered: {}", exchange->route_label, status.error_code());
                  if (!status.ok()) {
                    metrics_.BackendError(boxes_->name(), CodeName(status));
                    if (status.error_code() == grpc::StatusCode::CANCELLED && shutting_down_) {
                      return FinishError(exchange, absl::UnavailableError(
                                                       "the gateway is shutting down; try again"));
                    }
                    return FinishError(exchange, common::FromGrpcStatus(status));
                  }
                  std::unique_ptr<google::protobuf::Message> answer(prototype->New());
                  if (!answer->ParseFromString(bytes)) {
                    return FinishError(exchange, absl::InternalError("unreadable answer"));
                  }
                  absl::StatusOr<std::string> json = routing::ResponseToJson(*answer);
                  if (!json.ok()) {
                    // The backend's answer, not the request, is at fault.
                    return FinishError(exchange, absl::InternalError(json.status().message()));
                  }
                  Finish(exchange, JsonResponse(success, *std::move(json)));
                });
}

}  // namespace berth::gateway
