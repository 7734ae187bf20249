// gateway: Berth's HTTPS/JSON front door.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "gateway/server/run.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, http_listen, "0.0.0.0:4678", "HTTPS listen address, IP:PORT");
ABSL_FLAG(std::string, boxes, "unix:/run/berth/boxes.sock", "docker-svc's address");
ABSL_FLAG(std::string, allocator, "",
          "allocator-svc's address, for /readyz only; empty: known through docker-svc alone");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; empty: the gateway's own");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, state_dir, "/var/lib/berth/gateway",
          "where the gateway's own certificate is kept");
ABSL_FLAG(std::string, jwt_public_key, "", "PEM public key (RS256 or ES256) of JWTs");
ABSL_FLAG(std::string, jwt_hs256_secret_file, "", "file holding the HS256 secret of JWTs");
ABSL_FLAG(std::string, jwt_issuer, "", "required JWT iss; empty: not checked");
ABSL_FLAG(std::vector<std::string>, jwt_audience, {},
          "accepted JWT aud values; empty: any (required with --jwt_public_key)");
ABSL_FLAG(std::string, jwt_backend_issuer, "",
          "the JWT iss whose tokens alone may carry the backend scope; empty: only tokens "
          "signed with the HS256 secret may");
ABSL_FLAG(bool, insecure_no_auth, false, "no authentication at all (development only)");
ABSL_FLAG(std::vector<std::string>, cors_origins, {"*"}, "origins browsers may call from");
ABSL_FLAG(uint64_t, max_body, 1 << 20, "largest request body in bytes (larger: 413)");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(10),
          "deadline of a backend call whose route sets none");
ABSL_FLAG(int32_t, threads, 2, "HTTP server threads");
ABSL_FLAG(int32_t, max_connections, 2048,
          "TCP connections held at most; more are closed at once (needs this many file "
          "descriptors plus 128 under the hard RLIMIT_NOFILE)");
ABSL_FLAG(int32_t, max_connections_per_ip, 64,
          "TCP connections held at most per client IP (an IPv6 client by its /64)");
ABSL_FLAG(absl::Duration, unauthenticated_timeout, absl::Seconds(5),
          "a connection is closed unless its TLS handshake and a request header with a valid "
          "token arrive within this of its accept");
ABSL_FLAG(int32_t, max_streams, 128,
          "event streams (GET /v1/events) open at most; keep it below docker-svc's own cap of "
          "watches, which operators' watches share");
ABSL_FLAG(int32_t, max_streams_per_user, 4, "event streams open at most per end user");
ABSL_FLAG(int32_t, max_backend_streams, 16,
          "event streams open at most for all backend tokens together");
ABSL_FLAG(absl::Duration, stream_write_timeout, absl::Seconds(30),
          "an event stream whose client takes longer than this to take one write is closed");
ABSL_FLAG(absl::Duration, max_stream_lifetime, absl::Hours(24),
          "an event stream ends this long after it began if its token's exp has not ended it");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "after SIGTERM, how long requests already received may take to be answered");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, metrics_listen, "",
          "IPV4:PORT to serve Prometheus metrics on over plain HTTP (GET /metrics), e.g. "
          "127.0.0.1:9743, besides /metrics on the HTTPS port; empty: only there");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Berth gateway: HTTPS/JSON in front of docker-svc");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status = berth::common::InitLogging("gateway", absl::GetFlag(FLAGS_log_level));
      !status.ok()) {
    fprintf(stderr, "gateway: %s\n", status.ToString().c_str());
    return EXIT_FAILURE;
  }
  berth::gateway::GatewayConfig config;
  const std::string listen = absl::GetFlag(FLAGS_http_listen);
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    spdlog::error("bad flags: --http_listen must be IP:PORT, not \"{}\"", listen);
    return EXIT_FAILURE;
  }
  config.http_address = listen.substr(0, colon);
  config.http_port = static_cast<uint16_t>(port);
  config.boxes = absl::GetFlag(FLAGS_boxes);
  config.allocator = absl::GetFlag(FLAGS_allocator);
  config.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key = absl::GetFlag(FLAGS_tls_key);
  config.state_dir = absl::GetFlag(FLAGS_state_dir);
  config.jwt_public_key = absl::GetFlag(FLAGS_jwt_public_key);
  config.jwt_hs256_secret_file = absl::GetFlag(FLAGS_jwt_hs256_secret_file);
  config.jwt_issuer = absl::GetFlag(FLAGS_jwt_issuer);
  config.jwt_audiences = absl::GetFlag(FLAGS_jwt_audience);
  config.jwt_backend_issuer = absl::GetFlag(FLAGS_jwt_backend_issuer);
  config.insecure_no_auth = absl::GetFlag(FLAGS_insecure_no_auth);
  config.cors_origins = absl::GetFlag(FLAGS_cors_origins);
  config.max_body_bytes = absl::GetFlag(FLAGS_max_body);
  config.request_timeout = absl::GetFlag(FLAGS_request_timeout);
  config.threads = absl::GetFlag(FLAGS_threads);
  config.max_connections = absl::GetFlag(FLAGS_max_connections);
  config.max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  config.unauthenticated_timeout = absl::GetFlag(FLAGS_unauthenticated_timeout);
  config.stream_limits.total = absl::GetFlag(FLAGS_max_streams);
  config.stream_limits.per_user = absl::GetFlag(FLAGS_max_streams_per_user);
  config.stream_limits.backend = absl::GetFlag(FLAGS_max_backend_streams);
  config.stream_write_timeout = absl::GetFlag(FLAGS_stream_write_timeout);
  config.max_stream_lifetime = absl::GetFlag(FLAGS_max_stream_lifetime);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (absl::Status status = berth::gateway::RunGateway(config); !status.ok()) {
    spdlog::error("gateway: {}", status.ToString());
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
