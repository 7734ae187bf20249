// Issue 11: event streams (GET /v1/events) against the real gateway, docker-svc, allocator-svc
// and dockerd. Each stream holds a docker-svc thread, so an end user may hold only a few
// (--max_streams_per_user), everyone together only --max_streams, and no stream outlives its
// token: it ends, with a last error line and a clean end of the chunked body, at the token's exp
// (or, whatever the exp, at --max_stream_lifetime). A client that stops reading its stream loses
// its connection at --stream_write_timeout instead of holding it.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_raw_client.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int kDeadlineExceeded = 4;
constexpr int kResourceExhausted = 8;
constexpr int kUnauthenticated = 16;

class GatewayStreamsTest : public GatewayTest {
 protected:
  // A stream opened with `token`: its curl, once the stream has started (its snapshot is in) or
  // has been refused (curl ended).
  std::unique_ptr<CurlStream> OpenStream(const std::string& token) {
    absl::StatusOr<std::unique_ptr<CurlStream>> stream = CurlStream::Start(
        gateway().base_url(), "/v1/events", {TestKeys::AuthHeader(token)}, absl::Seconds(120));
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return nullptr;
    CurlStream& s = **stream;
    EXPECT_TRUE(WaitUntil(
        [&] { return !s.running() || absl::StrContains(s.Output(), "KIND_SNAPSHOT_DONE"); },
        absl::Seconds(30)))
        << s.Output();
    return *std::move(stream);
  }
  static bool Started(const CurlStream& stream) {
    return absl::StrContains(stream.Output(), "KIND_SNAPSHOT_DONE");
  }
  // GET /v1/events expected to be refused (a stream would run until curl gives up).
  HttpResult Refused(const std::string& token) {
    return Curl(gateway().base_url(), Get("/v1/events", token), {"-k"}, absl::Seconds(20));
  }
  double Metric(const std::string& series) {
    return MetricValue(Call(Get("/metrics")).body, series).value_or(-1);
  }
};

// Alice may hold 4 streams (the default); her fifth is 429 and names the limit. Bob and the
// backend have their own. The total cap (6 here) refuses anyone once full. A stream that ends
// gives its place back.
TEST_F(GatewayStreamsTest, StreamsAreCappedPerUserAndInTotal) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}, {"--max_streams=6"}));
  const std::string alice = UserToken("alice");
  std::vector<std::unique_ptr<CurlStream>> alices;
  for (int i = 0; i < 4; ++i) {
    alices.push_back(OpenStream(alice));
    ASSERT_NE(alices.back(), nullptr);
    ASSERT_TRUE(Started(*alices.back())) << i << ": " << alices.back()->Output();
  }
  HttpResult fifth = Refused(alice);
  ExpectError(fifth, 429, kResourceExhausted, "4 event streams");

  std::unique_ptr<CurlStream> bob = OpenStream(UserToken("bob"));
  ASSERT_NE(bob, nullptr);
  EXPECT_TRUE(Started(*bob)) << bob->Output();
  std::unique_ptr<CurlStream> backend = OpenStream(BackendToken());
  ASSERT_NE(backend, nullptr);
  EXPECT_TRUE(Started(*backend)) << backend->Output();
  // Six open: the gateway is full for everyone.
  HttpResult carol = Refused(UserToken("carol"));
  ExpectError(carol, 429, kResourceExhausted, "the gateway already serves its 6 event streams");
  EXPECT_EQ(Metric("berth_gateway_streams_open"), 6);
  EXPECT_EQ(Metric("berth_gateway_streams_refused_total{cap=\"max_streams_per_user\"}"), 1);
  EXPECT_EQ(Metric("berth_gateway_streams_refused_total{cap=\"max_streams\"}"), 1);

  // One of alice's ends: she may open one again.
  alices.front()->HangUp();
  EXPECT_TRUE(
      WaitUntil([&] { return Metric("berth_gateway_streams_open") == 5; }, absl::Seconds(15)));
  std::unique_ptr<CurlStream> again = OpenStream(alice);
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(Started(*again)) << again->Output();

  // All gone: every place is back (and docker-svc's watches with them).
  for (auto& stream : alices) stream->HangUp();
  again->HangUp();
  bob->HangUp();
  backend->HangUp();
  EXPECT_TRUE(
      WaitUntil([&] { return Metric("berth_gateway_streams_open") == 0; }, absl::Seconds(15)));
}

// A stream ends when its token's exp passes: the events up to then, a last line saying why
// (UNAUTHENTICATED, "expired"), and a clean end of the body (curl exits 0). A stream of a token
// that lives longer goes on.
TEST_F(GatewayStreamsTest, AStreamEndsWhenItsTokenExpires) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  JwtClaims short_lived = UserClaims("alice");
  short_lived.exp_in = absl::Seconds(8);
  const absl::Time expires = absl::Now() + absl::Seconds(8);
  std::unique_ptr<CurlStream> stream = OpenStream(keys().Rs256(short_lived));
  ASSERT_NE(stream, nullptr);
  std::unique_ptr<CurlStream> lasting = OpenStream(UserToken("alice"));
  ASSERT_NE(lasting, nullptr);
  ASSERT_TRUE(Started(*lasting)) << lasting->Output();

  absl::StatusOr<int> exit_code = stream->Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << "the stream outlived its token by a minute:\n" << stream->Output();
  EXPECT_EQ(*exit_code, 0) << "the stream did not end cleanly:\n" << stream->Output();
  EXPECT_GE(absl::Now(), expires - absl::Seconds(1)) << "ended before its token expired";
  EventLines lines = ParseEventLines(stream->Lines());
  EXPECT_THAT(lines.malformed, IsEmpty());
  ASSERT_THAT(lines.errors, SizeIs(1)) << stream->Output();
  EXPECT_EQ(lines.errors[0].code, kUnauthenticated);
  EXPECT_THAT(lines.errors[0].message, HasSubstr("expired"));
  EXPECT_THAT(stream->Output(), HasSubstr("KIND_SNAPSHOT_DONE"));
  EXPECT_TRUE(absl::EndsWith(stream->Output(), "\n")) << "the error line is not the last";

  EXPECT_TRUE(lasting->running()) << lasting->Output();
  // Counted before the stream's end is written, so before curl could exit.
  EXPECT_EQ(Metric("berth_gateway_streams_expired_total"), 1);
  EXPECT_TRUE(
      WaitUntil([&] { return Metric("berth_gateway_streams_open") == 1; }, absl::Seconds(15)));
  lasting->HangUp();
}

// exp 1e300 is a valid exp (it names no time the gateway can reach): the stream ends anyway,
// at --max_stream_lifetime (24 h by default; 5 s here), with a last line saying why, and its
// token does not count as expired.
TEST_F(GatewayStreamsTest, AStreamEndsAtItsLongestLifetimeWhateverItsExp) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}, {"--max_stream_lifetime=5s"}));
  const std::string forever =
      SignJwt(JwtAlg::kRS256, keys().rsa().private_pem,
              absl::StrCat(R"({"sub":"alice","iss":")", kJwtIssuer, R"(","aud":")", kJwtAudience,
                           R"(","exp":1e300})"));
  ASSERT_FALSE(forever.empty());
  const absl::Time opened = absl::Now();
  std::unique_ptr<CurlStream> stream = OpenStream(forever);
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(Started(*stream)) << stream->Output();

  absl::StatusOr<int> exit_code = stream->Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << "the stream outlived --max_stream_lifetime by a minute:\n"
                              << stream->Output();
  EXPECT_EQ(*exit_code, 0) << "the stream did not end cleanly:\n" << stream->Output();
  EXPECT_GE(absl::Now(), opened + absl::Seconds(4)) << "ended before its lifetime was over";
  EventLines lines = ParseEventLines(stream->Lines());
  EXPECT_THAT(lines.malformed, IsEmpty());
  ASSERT_THAT(lines.errors, SizeIs(1)) << stream->Output();
  EXPECT_EQ(lines.errors[0].code, kDeadlineExceeded);
  EXPECT_THAT(lines.errors[0].message, HasSubstr("watch again"));
  EXPECT_EQ(Metric("berth_gateway_streams_expired_total"), 0);
  EXPECT_EQ(Metric("berth_gateway_streams_open"), 0);
}

// A client that opens a stream and stops reading it (a receive buffer of a few KiB, and a small
// segment size, by which Linux sizes the gateway's send buffer too) used to keep its connection
// forever: the gateway's write waited on it without a timeout, and even the stream's end at the
// token's exp queued behind that write. Events of boxes with long names fill what the buffers
// hold (some 25 KiB) until the gateway's write blocks; --stream_write_timeout (2 s here) later
// the connection is closed and the watch on docker-svc with it.
TEST_F(GatewayStreamsTest, AStreamWhoseClientStopsReadingIsClosed) {
  ASSERT_NO_FATAL_FAILURE(StartAll({}, {"--stream_write_timeout=2s"}));
  const std::string backend = BackendToken();
  SocketOptions stops_reading;
  stops_reading.receive_buffer = 1;  // the kernel's minimum
  stops_reading.max_segment = 256;
  absl::StatusOr<std::unique_ptr<TlsConnection>> tls =
      TlsConnection::Open(gateway().port(), "127.0.0.1", absl::Seconds(30), stops_reading);
  ASSERT_TRUE(tls.ok()) << tls.status();
  ASSERT_TRUE((*tls)
                  ->Write(absl::StrCat("GET /v1/events HTTP/1.1\r\nHost: gateway\r\n",
                                       TestKeys::AuthHeader(backend), "\r\n\r\n"))
                  .ok());
  TlsConnection::Received started = (*tls)->ReadUntil("KIND_SNAPSHOT_DONE", absl::Seconds(30));
  ASSERT_THAT(started.data, HasSubstr("KIND_SNAPSHOT_DONE"));
  ASSERT_EQ(Metric("berth_gateway_streams_open"), 1);

  // From now on the client reads nothing.
  const std::string long_name(200, 'n');
  auto stream_closed = [&] { return Metric("berth_gateway_streams_open") == 0; };
  int boxes = 0;
  for (; boxes < 40 && !stream_closed(); ++boxes) {
    absl::StatusOr<box::v1::CreateResponse> created =
        CreateBox(absl::StrCat(R"({"app":"test-box","userId":")", long_name, boxes,
                               R"(","sessionId":")", long_name, R"("})"),
                  backend);
    ASSERT_TRUE(created.ok()) << created.status();
    HttpResult stopped = Call(Delete(
        absl::StrCat("/v1/boxes/", created->box().box_id(), "?reason=", long_name), backend));
    ASSERT_EQ(stopped.status, 200) << stopped.Describe();
  }
  std::cerr << "the events of " << boxes << " boxes were written to the stream\n";
  EXPECT_TRUE(WaitUntil(stream_closed, absl::Seconds(60)))
      << "the stream of a client that reads nothing is still open after the events of " << boxes
      << " boxes";
  // Its connection is gone too: only this /metrics request's own is open.
  EXPECT_TRUE(
      WaitUntil([&] { return Metric("berth_gateway_connections_open") == 1; }, absl::Seconds(30)));
  // The client, reading again, gets what was sent and then the end, without the stream's last
  // chunk: it was cut off.
  TlsConnection::Received rest = (*tls)->ReadUntilClosed(absl::Seconds(60));
  EXPECT_TRUE(rest.closed);
  EXPECT_FALSE(absl::EndsWith(rest.data, "0\r\n\r\n"));
}

}  // namespace
}  // namespace berth::testing
