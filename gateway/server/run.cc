#include "gateway/server/run.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "absl/strings/str_join.h"
#include "berth/box/v1/box.pb.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "gateway/backend/grpc_backend.h"
#include "gateway/server/file_limit.h"
#include "gateway/server/gateway_handler.h"
#include "gateway/tls/certificate.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {
namespace {

absl::StatusOr<Certificate> GetCertificate(const GatewayConfig& config) {
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (!config.tls_cert.empty()) return LoadCertificate(config.tls_cert, config.tls_key);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return LoadOrCreateSelfSigned(config.state_dir, host);
}

absl::Status ConfigureTls(boost::asio::ssl::context& tls, const Certificate& certificate) {
  boost::system::error_code error;
  tls.set_options(boost::asio::ssl::context::default_workarounds |
                      boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                      boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1,
                  error);
  if (!error) {
    tls.use_certificate_chain(
        boost::asio::buffer(certificate.chain_pem.data(), certificate.chain_pem.size()), error);
  }
  if (!error) {
    tls.use_private_key(boost::asio::buffer(certificate.key_pem.data(), certificate.key_pem.size()),
                        boost::asio::ssl::context::pem, error);
  }
  if (error) return absl::InvalidArgumentError("TLS setup: " + error.message());
  return absl::OkStatus();
}

void Notify(const char* state) { sd_notify(0, state); }

// INVALID_ARGUMENT naming the flag when a cap or deadline could not work.
absl::Status CheckLimits(const GatewayConfig& config) {
  if (config.max_connections < 1 || config.max_connections_per_ip < 1) {
    return absl::InvalidArgumentError(
        "--max_connections and --max_connections_per_ip must be at least 1");
  }
  if (config.stream_limits.per_user < 1 || config.stream_limits.backend < 1 ||
      config.stream_limits.total < 1) {
    return absl::InvalidArgumentError(
        "--max_streams, --max_streams_per_user and --max_backend_streams must be at least 1");
  }
  if (config.unauthenticated_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--unauthenticated_timeout must be positive");
  }
  if (config.stream_write_timeout <= absl::ZeroDuration() ||
      config.max_stream_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--stream_write_timeout and --max_stream_lifetime must be positive");
  }
  return absl::OkStatus();
}

// The shutdown, in order: no new connections and idle ones closed; event streams ended (their
// clients get the stream's last chunk); requests already received answered within `grace`;
// calls still running then cancelled (their clients get an error answer); every backend
// callback waited for, and the connections closed, before the server stops.
void StopServing(absl::Duration grace, HttpServer& server, GatewayHandler& handler,
                 const std::vector<GrpcBackend*>& backends) {
  const absl::Time deadline = absl::Now() + grace;
  server.StopAccepting();
  handler.BeginShutdown();
  for (GrpcBackend* backend : backends) backend->CancelCalls(/*streams_only=*/true);
  while (server.unanswered_requests() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (server.unanswered_requests() > 0) {
    spdlog::warn("cancelling {} requests still unanswered after the grace",
                 server.unanswered_requests());
  }
  for (GrpcBackend* backend : backends) backend->CancelCalls(/*streams_only=*/false);
  // Cancelled calls call back at once; the answers and last chunks they write take a moment.
  const absl::Time finish_by = absl::Now() + absl::Seconds(2);
  for (GrpcBackend* backend : backends) backend->WaitIdle(finish_by);
  while (server.open_connections() > 0 && absl::Now() < finish_by) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  server.Stop();
}

}  // namespace

absl::Status RunGateway(const GatewayConfig& config) {
  common::PrepareDaemonProcess();
  RETURN_IF_ERROR(CheckLimits(config));
  RETURN_IF_ERROR(common::ValidateMetricsListen(config.metrics_listen));
  ASSIGN_OR_RETURN(const uint64_t file_limit,
                   RaiseFileLimitFor(static_cast<uint64_t>(config.max_connections)));
  spdlog::info("up to {} connections ({} per client IP); {} file descriptors",
               config.max_connections, config.max_connections_per_ip, file_limit);
  ASSIGN_OR_RETURN(Certificate certificate, GetCertificate(config));
  spdlog::info("TLS certificate SHA-256 fingerprint {}", certificate.fingerprint);
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_server);
  RETURN_IF_ERROR(ConfigureTls(tls, certificate));

  common::SystemClock clock;
  GatewayHandlerOptions options;
  options.cors_origins = config.cors_origins;
  options.default_timeout = config.request_timeout;
  options.stream_limits = config.stream_limits;
  options.max_stream_lifetime = config.max_stream_lifetime;
  options.clock = &clock;
  if (config.insecure_no_auth) {
    spdlog::warn("*** --insecure_no_auth: every caller may do everything; development only ***");
  } else {
    ASSIGN_OR_RETURN(JwtConfig jwt,
                     LoadJwtConfig(config.jwt_public_key, config.jwt_hs256_secret_file,
                                   config.jwt_issuer, config.jwt_audiences,
                                   config.jwt_backend_issuer));
    ASSIGN_OR_RETURN(JwtVerifier verifier, JwtVerifier::Create(std::move(jwt), &clock));
    options.verifier.emplace(std::move(verifier));
  }
  const google::protobuf::ServiceDescriptor* boxes_service =
      box::v1::Box::descriptor()->file()->FindServiceByName("Boxes");
  ASSIGN_OR_RETURN(routing::RouteTable routes, routing::RouteTable::Create({boxes_service}));
  GrpcBackend boxes("docker-svc", config.boxes);
  std::unique_ptr<GrpcBackend> allocator;
  if (!config.allocator.empty()) {
    allocator = std::make_unique<GrpcBackend>("allocator-svc", config.allocator);
  }
  std::vector<GrpcBackend*> backends = {&boxes};
  if (allocator != nullptr) backends.push_back(allocator.get());
  GatewayHandler handler(std::move(routes), &boxes, allocator.get(), std::move(options));
  RETURN_IF_ERROR(handler.metrics().exposition().Serve(config.metrics_listen));

  HttpServerOptions server_options;
  server_options.address = config.http_address;
  server_options.port = config.http_port;
  server_options.threads = config.threads;
  server_options.max_body_bytes = config.max_body_bytes;
  server_options.max_connections = config.max_connections;
  server_options.max_connections_per_client = config.max_connections_per_ip;
  server_options.unauthenticated_timeout = config.unauthenticated_timeout;
  server_options.stream_write_timeout = config.stream_write_timeout;
  server_options.observer = &handler.metrics();
  ASSIGN_OR_RETURN(std::unique_ptr<HttpServer> server,
                   HttpServer::Start(server_options, &tls, &handler));
  spdlog::info("gateway serving https on {}:{}", config.http_address, server->port());
  common::BeginServing();
  Notify("READY=1\nSTATUS=serving");

  // Watchdog pings from this thread while it waits for the stop signal and the server threads
  // run.
  uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  const absl::Duration tick =
      watchdog ? absl::Microseconds(static_cast<int64_t>(watchdog_usec)) / 2 : absl::Seconds(60);
  int signal_number = 0;
  while (signal_number == 0) {
    signal_number = common::WaitForStopSignal(tick);
    if (watchdog) Notify("WATCHDOG=1");
  }
  spdlog::info("gateway stopping on signal {}", signal_number);
  Notify("STOPPING=1");
  StopServing(config.shutdown_grace, *server, handler, backends);
  bool idle = true;
  for (GrpcBackend* backend : backends) idle = backend->WaitIdle(absl::Now()) && idle;
  if (!idle) {
    // A callback still due would use what is destroyed here, or static objects destroyed by a
    // normal exit: end the process now, with nothing destroyed.
    spdlog::warn("backend calls still unfinished at exit; exiting at once");
    spdlog::default_logger()->flush();
    _exit(0);
  }
  spdlog::info("gateway stopped");
  return absl::OkStatus();
}

}  // namespace berth::gateway
