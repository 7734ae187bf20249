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
  if (!exchange->allow_origin.empty()) {
    response.set(http::field::access_control_allow_origin, exchange->allow_origin);
    if (exchange->allow_origin != "*") response.set(http::field::vary, "Origin");
  }
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
  const std::string target_text(req.target());
  exchange->allow_origin = AllowedOrigin(std::string(req[http::field::origin]));
  const routing::RequestTarget target = routing::SplitRequestTarget(target_text);

  if (req.method() == http::verb::options) {
    exchange->route_label = "OPTIONS (CORS preflight)";
    HttpResponse response{http::status::no_content, 11};
    response.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
    response.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    response.set(http::field::access_control_max_age, "600");
    return Finish(exchange, std::move(response));
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
  HandleRoute(exchange);
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

void GatewayHandler::HandleRoute(std::shared_ptr<Exchange> exchange) {
  const HttpRequest& req = exchange->request;
  const std::string target_text(req.target());
  const routing::RequestTarget target = routing::SplitRequestTarget(target_text);
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
    if (!exchange->allow_origin.empty()) {
      head.set(http::field::access_control_allow_origin, exchange->allow_origin);
    }
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
            metrics_.BackendError(boxes_->name(), std::to_string(status.error_code()));
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
                    metrics_.BackendError(boxes_->name(), std::to_string(status.error_code()));
                    return FinishError(exchange, common::FromGrpcStatus(status));
                  }
                  std::unique_ptr<google::protobuf::Message> answer(prototype->New());
                  if (!answer->ParseFromString(bytes)) {
                    return FinishError(exchange, absl::InternalError("unreadable answer"));
                  }
                  absl::StatusOr<std::string> json = routing::ResponseToJson(*answer);
                  if (!json.ok()) return FinishError(exchange, json.status());
                  Finish(exchange, JsonResponse(success, *std::move(json)));
                });
}

}  // namespace berth::gateway
