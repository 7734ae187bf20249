#include "gateway/server/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersHistogramsAndTheGauge) {
  Metrics metrics;
  metrics.RequestStarted();
  metrics.RequestStarted();
  metrics.RequestStarted();
  metrics.RequestFinished("GET /v1/boxes/{box_id}", 200, absl::Milliseconds(3));
  metrics.RequestFinished("GET /v1/boxes/{box_id}", 404, absl::Milliseconds(30));
  metrics.BackendError("docker-svc", "UNAVAILABLE");
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("berth_gateway_requests_total{code=\"200\",route=\"GET "
                              "/v1/boxes/{box_id}\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("code=\"404\",route=\"GET /v1/boxes/{box_id}\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE berth_gateway_request_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("route=\"GET /v1/boxes/{box_id}\",le=\"0.005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("route=\"GET /v1/boxes/{box_id}\",le=\"0.05\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("route=\"GET /v1/boxes/{box_id}\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_request_duration_seconds_count{route=\"GET "
                              "/v1/boxes/{box_id}\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_requests_in_flight 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_backend_errors_total{backend=\"docker-svc\","
                              "code=\"UNAVAILABLE\"} 1\n"));
}

TEST(MetricsTest, RendersConnectionsAndStreams) {
  Metrics metrics;
  ConnectionObserver& connections = metrics;
  connections.ConnectionOpened();
  connections.ConnectionOpened();
  connections.ConnectionClosed();
  connections.ConnectionRefused(ConnectionObserver::Refusal::kMaxConnections);
  connections.ConnectionRefused(ConnectionObserver::Refusal::kMaxConnectionsPerClient);
  connections.ConnectionRefused(ConnectionObserver::Refusal::kMaxConnectionsPerClient);
  connections.UnauthenticatedConnectionTimedOut();
  connections.TlsHandshakeFailed();
  connections.TlsHandshakeFailed();
  metrics.StreamOpened();
  metrics.StreamOpened();
  metrics.StreamOpened();
  metrics.StreamClosed(/*expired=*/true);
  metrics.StreamRefused(StreamCap::kMaxStreamsPerUser);
  metrics.ReadinessChecked();
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE berth_gateway_connections_open gauge\n"
                              "berth_gateway_connections_open 1\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_gateway_connections_refused_total{cap=\"max_connections\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_connections_refused_total"
                              "{cap=\"max_connections_per_ip\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_unauthenticated_timeouts_total 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE berth_gateway_tls_handshake_errors_total counter\n"
                              "berth_gateway_tls_handshake_errors_total 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_streams_open 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_streams_refused_total{cap=\"max_streams\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_gateway_streams_refused_total{cap=\"max_streams_per_user\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("berth_gateway_streams_refused_total{cap=\"max_backend_streams\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_streams_expired_total 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE berth_gateway_readiness_checks_total counter\n"
                              "berth_gateway_readiness_checks_total 1\n"));
}

TEST(MetricsTest, CountsAuthFailuresByReasonFromZero) {
  Metrics metrics;
  EXPECT_THAT(metrics.Render(),
              HasSubstr("berth_gateway_auth_failures_total{reason=\"expired\"} 0\n"));
  metrics.AuthFailed("expired");
  metrics.AuthFailed("expired");
  metrics.AuthFailed("missing");
  metrics.AuthFailed("");  // a refusal without a reason
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# HELP berth_gateway_auth_failures_total "));
  EXPECT_THAT(text, HasSubstr("berth_gateway_auth_failures_total{reason=\"expired\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_auth_failures_total{reason=\"missing\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("berth_gateway_auth_failures_total{reason=\"malformed\"} 1\n"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics metrics;
  metrics.RequestStarted();
  metrics.RequestFinished("odd \"route\"\\\n", 400, absl::Milliseconds(1));
  EXPECT_THAT(metrics.Render(), HasSubstr("route=\"odd \\\"route\\\"\\\\\\n\""));
}

}  // namespace
}  // namespace berth::gateway
