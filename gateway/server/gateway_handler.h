#ifndef BERTH_GATEWAY_SERVER_GATEWAY_HANDLER_H_
#define BERTH_GATEWAY_SERVER_GATEWAY_HANDLER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gateway/auth/jwt_verifier.h"
#include "gateway/backend/backend.h"
#include "gateway/http/http_server.h"
#include "gateway/routing/route_table.h"
#include "gateway/server/metrics.h"
#include "gateway/server/stream_limiter.h"
#include "google/protobuf/message.h"

namespace berth::gateway {

struct GatewayHandlerOptions {
  // nullopt: --insecure_no_auth, every caller has the backend role.
  std::optional<JwtVerifier> verifier;
  // Origins allowed by CORS; "*" allows any.
  std::vector<std::string> cors_origins = {"*"};
  // Deadline of a unary call whose route sets none.
  absl::Duration default_timeout = absl::Seconds(10);
  // How many event streams may be open at once.
  StreamLimits stream_limits;
  // The longest an event stream lasts, whatever its token's exp (an exp of 1e300, or none
  // without auth, must not keep a docker-svc thread forever).
  absl::Duration max_stream_lifetime = absl::Hours(24);
  // The handler's time: /readyz's cache, event streams' lifetimes, request durations. It must
  // be the verifier's clock (a token's exp is in its time) and tell the real time whenever the
  // backends are real ones (stream deadlines are passed to them as absolute times). Null: the
  // system clock. Must outlive the handler.
  const common::Clock* clock = nullptr;
};

// Answers every HTTP request of the gateway:
//   GET /healthz   200 while the process runs;
//   GET /readyz    200 when docker-svc answers its Host report and that report says its
//                  allocator-svc answers too (and, when the gateway was given one, a health
//                  check of allocator-svc answers), else 503. One check runs at a time: the
//                  /readyz requests that arrive meanwhile share its result, and so do those of
//                  the next kReadyCacheTtl (1 s) after it, so that a flood of them costs
//                  docker-svc about one call a second;
//   GET /metrics   Prometheus text (metrics.h);
//   GET /          the host page (gateway/page/host_page.h), with its Content-Security-Policy;
//                  like the probes it needs no token, and other methods than GET and HEAD are
//                  405;
//   OPTIONS        CORS preflight, 204;
//   anything else  the caller's Bearer JWT is verified from the header, before the body is
//                  read (401, or 403 for a backend scope its issuer may not grant, for every
//                  path, and the connection closes), then the path is looked up among the
//                  routes declared in the protos (berth.api.http): translated into one RPC on
//                  docker-svc, its answer into JSON. An end user's token (no "backend" scope)
//                  acts as its subject (metadata berth-user), which docker-svc enforces. An
//                  event stream counts against StreamLimits (429 over them) and ends, with a
//                  last error line, when its token's exp passes, or max_stream_lifetime after
//                  it began if that comes first.
// Errors are JSON {"code":..,"message":..} with the HTTP status of routing/http_status.h; a
// backend call's error keeps its code and message, except CANCELLED after BeginShutdown().
// Answers to an Origin that cors_origins allows carry Access-Control-Allow-Origin.
// Thread-safe; nothing blocks a server thread. The backends' callbacks may run on any thread,
// even before the call that takes them returns.
class GatewayHandler final : public RequestHandler {
 public:
  // `boxes` is docker-svc. `allocator` may be null: allocator-svc is then known only through
  // docker-svc. Both must outlive the handler and every callback it gave them.
  GatewayHandler(routing::RouteTable routes, Backend* boxes, Backend* allocator,
                 GatewayHandlerOptions options);

  // Authenticates a request that needs a token; the probes, the host page and CORS preflights
  // go through unauthenticated.
  HeaderVerdict CheckHeader(const HttpRequestHeader& header) override;
  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override;
  Metrics& metrics() { return metrics_; }
  // From now on a backend call that ends CANCELLED was cut off by the shutdown: its caller is
  // answered 503 (retry elsewhere or later), not 499.
  void BeginShutdown() { shutting_down_ = true; }

 private:
  struct Exchange;
  // `target` views exchange->request's target.
  void HandleRoute(std::shared_ptr<Exchange> exchange, const routing::RequestTarget& target);
  // Calls a unary route's RPC and answers with its result.
  void CallUnary(std::shared_ptr<Exchange> exchange, const routing::Route& route,
                 std::string request, const CallMetadata& metadata);
  // The unary call ended: the answer's JSON with `success` status, or the error.
  void AnswerUnary(const std::shared_ptr<Exchange>& exchange,
                   const google::protobuf::Message& prototype, int success,
                   const absl::Status& status, const std::string& bytes);
  void HandleStream(std::shared_ptr<Exchange> exchange, const routing::Route& route,
                    const Caller& caller, std::string request, const CallMetadata& metadata);
  // The stream's call ended with `status`: writes its last error line, if any, gives back its
  // place (`slot`) and ends the chunked answer. `ends_at_exp`: the call's deadline was the
  // token's exp, not the stream's longest lifetime.
  void EndStream(const std::shared_ptr<Exchange>& exchange, const absl::Status& status,
                 bool ends_at_exp, std::shared_ptr<StreamLimiter::Slot> slot);
  void HandleReady(std::shared_ptr<Exchange> exchange);
  // Asks the backends whether the gateway is ready; done("") when it is, else done(why not),
  // once, on whichever thread the last backend check answers on.
  void CheckReadiness(std::function<void(std::string problem)> done);
  // The check in flight ended: caches its result and answers the /readyz requests waiting.
  void ReadinessChecked(std::string problem);
  void AnswerReady(const std::shared_ptr<Exchange>& exchange, const std::string& problem);
  // Who calls, from the request's Authorization header; a refusal is counted by its reason.
  absl::StatusOr<Caller> Authenticate(const HttpRequestHeader& header);
  void Finish(const std::shared_ptr<Exchange>& exchange, HttpResponse response);
  void FinishError(const std::shared_ptr<Exchange>& exchange, const absl::Status& status);
  // The Access-Control-Allow-Origin value for `origin`, or "" when it is not allowed.
  std::string AllowedOrigin(const std::string& origin) const;

  const routing::RouteTable routes_;
  Backend* const boxes_;
  Backend* const allocator_;
  const GatewayHandlerOptions options_;
  const common::Clock& clock_;
  Metrics metrics_;
  const std::shared_ptr<StreamLimiter> streams_;
  std::atomic<bool> shutting_down_{false};

  // /readyz: the check in flight, the requests waiting for it, and the last check's result.
  absl::Mutex ready_mu_;
  bool ready_checking_ ABSL_GUARDED_BY(ready_mu_) = false;
  std::vector<std::shared_ptr<Exchange>> ready_waiting_ ABSL_GUARDED_BY(ready_mu_);
  absl::Time ready_checked_at_ ABSL_GUARDED_BY(ready_mu_) = absl::InfinitePast();
  std::string ready_problem_ ABSL_GUARDED_BY(ready_mu_);  // empty: ready
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_GATEWAY_HANDLER_H_
