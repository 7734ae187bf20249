#ifndef BERTH_GATEWAY_SERVER_RUN_H_
#define BERTH_GATEWAY_SERVER_RUN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/server/stream_limiter.h"

namespace berth::gateway {

struct GatewayConfig {
  std::string http_address = "0.0.0.0";
  uint16_t http_port = 4678;
  std::string boxes = "unix:/run/berth/boxes.sock";
  // Empty: allocator-svc is known only through docker-svc's Host report (the gateway talks to
  // docker-svc alone). Set: /readyz also checks allocator-svc's health there.
  std::string allocator;
  // Both set: the operator's certificate. Both empty: the gateway's own, in state_dir.
  std::string tls_cert;
  std::string tls_key;
  std::string state_dir = "/var/lib/berth/gateway";
  std::string jwt_public_key;
  std::string jwt_hs256_secret_file;
  std::string jwt_issuer;
  std::vector<std::string> jwt_audiences;
  // Empty: only the HS256 secret may grant the backend scope.
  std::string jwt_backend_issuer;
  bool insecure_no_auth = false;
  std::vector<std::string> cors_origins = {"*"};
  uint64_t max_body_bytes = 1 << 20;
  absl::Duration request_timeout = absl::Seconds(10);
  int threads = 2;
  // Connections held at most, in all and per client IP (an IPv6 client by its /64).
  int max_connections = 2048;
  int max_connections_per_ip = 64;
  // A connection must authenticate a request (TLS handshake and a header with a valid token)
  // within this of being accepted.
  absl::Duration unauthenticated_timeout = absl::Seconds(5);
  StreamLimits stream_limits;
  // Each write of an event stream must be done within this, else its connection is closed.
  absl::Duration stream_write_timeout = absl::Seconds(30);
  // The longest an event stream lasts, whatever its token's exp.
  absl::Duration max_stream_lifetime = absl::Hours(24);
  // After SIGTERM, how long requests already received may take to be answered.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Where GET /metrics is also served over plain HTTP (common::ValidateMetricsListen); empty:
  // only on the HTTPS port.
  std::string metrics_listen;
};

// Runs the gateway until SIGTERM/SIGINT: raises its soft RLIMIT_NOFILE to the hard limit (and
// refuses to start when that cannot hold max_connections), loads or makes its certificate
// (logging its SHA-256 fingerprint), builds the routes from the protos, serves HTTPS (and the
// metrics on metrics_listen when set), sends READY=1 to systemd once it listens, WATCHDOG=1
// while it runs; on the signal STOPPING=1, no
// new connections and idle ones closed, event streams ended, requests already received
// answered within shutdown_grace and then cancelled (503), every backend callback waited for
// before anything it uses is destroyed. OK after a clean stop, or why it could not start (bad
// flags, too few file descriptors, certificate, keys, an address in use).
absl::Status RunGateway(const GatewayConfig& config);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_RUN_H_
