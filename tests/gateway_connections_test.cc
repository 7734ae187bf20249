// Issue 11, the gateway against a hostile network: connection caps (total and per client IP)
// that hold with the process's descriptors to spare, a short deadline for connections that do
// not authenticate, and the token checked from the header before any body is read. Each test
// performs the attack on the real gateway binary over real TCP and TLS.
//
// No backend is needed (the gateway connects to docker-svc lazily and answers 503 without it),
// so these tests run without dockerd.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/read_file.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_raw_client.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// What the attacker opens; more than the 1,024 descriptors systemd gives a daemon by default.
constexpr int kIdleConnections = 1100;
// Logged by the gateway when accept() fails, e.g. out of descriptors (EMFILE).
constexpr char kAcceptFailing[] = "retrying every 100 ms";

// The peak resident memory of process `pid` so far (VmHWM), in bytes; -1 when unknown.
int64_t PeakResidentBytes(pid_t pid) {
  const std::string status = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmHWM:")) continue;
    int64_t kib = 0;
    absl::ConsumeSuffix(&line, "kB");
    if (absl::SimpleAtoi(line, &kib)) return kib << 10;
  }
  return -1;
}

class GatewayConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_TRUE(TestKeys::Get().ok());
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& gateway : gateways_) {
        std::cerr << "---- gateway log " << gateway->log_path() << ":\n" << gateway->Log() << "\n";
      }
    }
  }

  // Flags of a gateway without backends, checking tokens of TestKeys' RSA key and secret.
  std::vector<std::string> Flags(const std::vector<std::string>& extra = {}) {
    const TestKeys& keys = TestKeys::Get();
    std::vector<std::string> flags = {
        absl::StrCat("--boxes=unix:", dir_.File("no-docker-svc.sock")),
        absl::StrCat("--state_dir=", dir_.File("state")),
        absl::StrCat("--jwt_public_key=", keys.rsa_public_file()),
        absl::StrCat("--jwt_hs256_secret_file=", keys.secret_file()),
        absl::StrCat("--jwt_issuer=", kJwtIssuer),
        absl::StrCat("--jwt_audience=", kJwtAudience),
        "--log_level=debug"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return flags;
  }

  // Starts a gateway (call under ASSERT_NO_FATAL_FAILURE); gateway() is the last one.
  void Start(const std::vector<std::string>& flags,
             std::optional<FileLimit> file_limit = std::nullopt) {
    absl::StatusOr<std::unique_ptr<GatewayProcess>> gateway =
        GatewayProcess::Start(flags, dir_.File(absl::StrCat("gateway-", gateways_.size(), ".log")),
                              0, absl::Seconds(30), file_limit);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateways_.push_back(*std::move(gateway));
  }
  GatewayProcess& gateway() { return *gateways_.back(); }

  // GET `path` from `source_ip` (curl --interface), giving up after `max_time`.
  HttpResult GetFrom(const std::string& source_ip, const std::string& path,
                     absl::Duration max_time = absl::Seconds(30)) {
    HttpCall call = Get(path);
    call.curl_args = {"--interface", source_ip};
    return Curl(gateway().base_url(), call, {"-k"}, max_time);
  }

  // A metric of gateway() read from 127.0.0.3 (a client of its own), or -1.
  double Metric(const std::string& series) {
    return MetricValue(GetFrom("127.0.0.3", "/metrics").body, series).value_or(-1);
  }

  // Waits until the gateway has closed `expected` of `idle` (and no more).
  ::testing::AssertionResult ServerClosed(const IdleConnections& idle, int expected) {
    if (!WaitUntil([&] { return idle.ClosedByServer() >= expected; }, absl::Seconds(60))) {
      return ::testing::AssertionFailure()
             << "the gateway closed " << idle.ClosedByServer() << " of " << idle.size()
             << " idle connections, not " << expected;
    }
    if (idle.ClosedByServer() != expected) {
      return ::testing::AssertionFailure() << "the gateway closed " << idle.ClosedByServer()
                                           << " idle connections, more than " << expected;
    }
    return ::testing::AssertionSuccess();
  }

  TempDir dir_;
  std::vector<std::unique_ptr<GatewayProcess>> gateways_;
};

// 1,100 idle connections from one IP used to exhaust the gateway's 1,024 descriptors, and
// nothing was served until they timed out. Now the per-IP cap (default 64) closes all but 64
// of them at once and the gateway raised its soft limit: /healthz answers another address at
// once. The deadline for unauthenticated connections is set far off, so that only the caps can
// be what frees the gateway.
TEST_F(GatewayConnectionsTest, IdleConnectionsFromOneIpLeaveHealthzAnsweringFromAnother) {
  ASSERT_TRUE(EnsureFileLimit(kIdleConnections + 256).ok());
  ASSERT_NO_FATAL_FAILURE(
      Start(Flags({"--unauthenticated_timeout=300s"}), FileLimit{/*soft=*/1024, /*hard=*/8192}));
  IdleConnections idle;
  ASSERT_TRUE(idle.Open(kIdleConnections, gateway().port(), "127.0.0.1").ok());
  // Queued behind the 1,100, and answered.
  HttpResult other = GetFrom("127.0.0.2", "/healthz");
  EXPECT_EQ(other.status, 200) << other.Describe();
  ASSERT_TRUE(ServerClosed(idle, kIdleConnections - 64));
  // The attacker's own address gets nothing more.
  HttpResult same = GetFrom("127.0.0.1", "/healthz");
  EXPECT_EQ(same.status, 0) << same.Describe();
  EXPECT_NE(same.curl_exit, 28) << "a refused connection hung instead of closing\n"
                                << same.Describe();

  EXPECT_EQ(Metric("berth_gateway_connections_refused_total{cap=\"max_connections_per_ip\"}"),
            kIdleConnections - 64 + 1);
  // The 64 admitted, and the metrics request's own (curl's earlier ones close meanwhile).
  EXPECT_TRUE(WaitUntil([&] { return Metric("berth_gateway_connections_open") == 64 + 1; },
                        absl::Seconds(10)));
  EXPECT_EQ(idle.ClosedByServer(), kIdleConnections - 64) << "the 64 admitted were closed";
  EXPECT_THAT(gateway().Log(), HasSubstr("8192 file descriptors"));
  EXPECT_THAT(gateway().Log(), Not(HasSubstr(kAcceptFailing)));
}

// The same 1,100 idle connections spread over 20 addresses (55 each, under the per-IP cap) are
// all held, which 1,024 descriptors could not do: the gateway raised its soft limit to the hard
// one at start, and /healthz answers yet another address.
TEST_F(GatewayConnectionsTest, IdleConnectionsFromManyIpsFitTheRaisedDescriptorLimit) {
  ASSERT_TRUE(EnsureFileLimit(kIdleConnections + 256).ok());
  ASSERT_NO_FATAL_FAILURE(
      Start(Flags({"--unauthenticated_timeout=300s"}), FileLimit{/*soft=*/1024, /*hard=*/8192}));
  IdleConnections idle;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        idle.Open(kIdleConnections / 20, gateway().port(), absl::StrCat("127.0.1.", i)).ok());
  }
  HttpResult other = GetFrom("127.0.0.2", "/healthz");
  EXPECT_EQ(other.status, 200) << other.Describe();
  EXPECT_TRUE(
      WaitUntil([&] { return Metric("berth_gateway_connections_open") == kIdleConnections + 1; },
                absl::Seconds(30)));
  EXPECT_EQ(idle.ClosedByServer(), 0);
  EXPECT_THAT(gateway().Log(), Not(HasSubstr(kAcceptFailing)));
}

// The total cap holds whatever the addresses, with descriptors to spare even under a hard limit
// of 1,024: over it a connection is closed at once, and once connections go, new ones are
// served again.
TEST_F(GatewayConnectionsTest, TotalCapHoldsWithinTheDescriptorLimit) {
  constexpr int kCap = 800;
  ASSERT_TRUE(EnsureFileLimit(kIdleConnections + 256).ok());
  ASSERT_NO_FATAL_FAILURE(
      Start(Flags({absl::StrCat("--max_connections=", kCap), "--max_connections_per_ip=5000",
                   "--unauthenticated_timeout=300s"}),
            FileLimit{/*soft=*/1024, /*hard=*/1024}));
  IdleConnections idle;
  ASSERT_TRUE(idle.Open(kIdleConnections, gateway().port(), "127.0.0.1").ok());
  ASSERT_TRUE(ServerClosed(idle, kIdleConnections - kCap));
  // Full: another address is refused too, at once.
  HttpResult full = GetFrom("127.0.0.2", "/healthz");
  EXPECT_EQ(full.status, 0) << full.Describe();
  EXPECT_NE(full.curl_exit, 28) << "a refused connection hung instead of closing\n"
                                << full.Describe();

  // 100 of the attacker's connections go: their places are free again.
  idle.CloseSome(100);
  HttpResult healthz;
  EXPECT_TRUE(WaitUntil(
      [&] {
        healthz = GetFrom("127.0.0.2", "/healthz");
        return healthz.status == 200;
      },
      absl::Seconds(30)))
      << healthz.Describe();
  EXPECT_GE(Metric("berth_gateway_connections_refused_total{cap=\"max_connections\"}"),
            kIdleConnections - kCap + 1);
  EXPECT_LE(Metric("berth_gateway_connections_open"), kCap);
  EXPECT_THAT(gateway().Log(), Not(HasSubstr(kAcceptFailing)));
}

// A cap the descriptors cannot hold stops the start, saying what to change: the default 2,048
// connections under a hard limit of 1,024.
TEST_F(GatewayConnectionsTest, StartIsRefusedWhenTheDescriptorsCannotHoldTheCap) {
  const std::string log = dir_.File("refused.log");
  absl::StatusOr<int> exit_code = GatewayProcess::StartExpectingExit(
      Flags(), log, absl::Seconds(20), FileLimit{/*soft=*/1024, /*hard=*/1024});
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_NE(*exit_code, 0);
  const std::string text = ReadFileOrEmpty(log);
  EXPECT_THAT(text, HasSubstr("--max_connections=2048 needs 2176 file descriptors")) << text;
  EXPECT_THAT(text, HasSubstr("LimitNOFILE")) << text;
}

// Slowloris: connections that do not authenticate are closed at --unauthenticated_timeout,
// long before the 10 s request timeout or the 60 s keep-alive, whatever they do meanwhile.
TEST_F(GatewayConnectionsTest, UnauthenticatedConnectionsAreClosedAtTheirDeadline) {
  // Room for a handshake and a request on a loaded machine, still far from 10 s.
  constexpr absl::Duration kDeadline = absl::Seconds(2);
  ASSERT_NO_FATAL_FAILURE(Start(Flags({"--unauthenticated_timeout=2s"})));
  // Well under the 10 s that the old request timeout gave them, with room for a slow machine.
  constexpr absl::Duration kClosedWithin = absl::Seconds(7);
  const uint16_t port = gateway().port();

  {
    SCOPED_TRACE("TCP only, no TLS handshake");
    const absl::Time start = absl::Now();
    IdleConnections idle;
    ASSERT_TRUE(idle.Open(1, port).ok());
    EXPECT_TRUE(WaitUntil([&] { return idle.ClosedByServer() == 1; }, absl::Seconds(30)));
    EXPECT_LT(absl::Now() - start, kClosedWithin);
  }
  {
    SCOPED_TRACE("a header trickled in a byte at a time");
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    const std::string header = "GET /v1/boxes HTTP/1.1\r\nHost: gateway\r\nX-Slow: ";
    bool closed = false;
    for (int i = 0; !closed && absl::Now() - start < absl::Seconds(30); ++i) {
      closed = !(*tls)->Write(i < static_cast<int>(header.size()) ? header.substr(i, 1) : "x").ok();
      if (!closed) closed = (*tls)->ReadUntil("\n", absl::Milliseconds(200)).closed;
    }
    EXPECT_TRUE(closed);
    EXPECT_LT(absl::Now() - start, kClosedWithin);
  }
  {
    SCOPED_TRACE("a kept-alive connection after a request without a token");
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_TRUE((*tls)->Write("GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n").ok());
    TlsConnection::Received healthz = (*tls)->ReadUntil("serving", absl::Seconds(30));
    EXPECT_THAT(healthz.data, StartsWith("HTTP/1.1 200"));
    TlsConnection::Received rest = (*tls)->ReadUntilClosed(absl::Seconds(30));
    EXPECT_TRUE(rest.closed);
    EXPECT_LT(absl::Now() - start, kClosedWithin);
  }
  {
    SCOPED_TRACE("an authenticated connection keeps its keep-alive past the deadline");
    // Signed first: only the handshake and the write count against the deadline.
    const std::string request =
        absl::StrCat("GET /v1/boxes HTTP/1.1\r\nHost: gateway\r\n",
                     TestKeys::AuthHeader(TestKeys::Get().Rs256(UserClaims("alice"))), "\r\n\r\n");
    const absl::Time opened = absl::Now();
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_TRUE((*tls)->Write(request).ok());
    // docker-svc is not there: 503, but answered as alice's.
    EXPECT_THAT((*tls)->ReadUntil("}", absl::Seconds(30)).data, StartsWith("HTTP/1.1 503"));
    absl::SleepFor(opened + kDeadline + absl::Seconds(1) - absl::Now());  // past the deadline
    ASSERT_TRUE((*tls)->Write(request).ok());
    TlsConnection::Received second = (*tls)->ReadUntil("}HTTP/1.1 503", absl::Seconds(30));
    EXPECT_THAT(second.data, HasSubstr("}HTTP/1.1 503")) << second.data;
    EXPECT_FALSE(second.closed);
  }
  EXPECT_GE(Metric("berth_gateway_unauthenticated_timeouts_total"), 3);
}

// The token is checked from the header: a request without a valid one is answered 401 at once
// and its connection closed, though it announced a 1 MiB body it never sends; one with a valid
// token has its body read (with 100 Continue when it asks).
TEST_F(GatewayConnectionsTest, TheTokenIsCheckedBeforeTheBodyIsRead) {
  ASSERT_NO_FATAL_FAILURE(Start(Flags()));
  const uint16_t port = gateway().port();
  const std::string valid = TestKeys::AuthHeader(TestKeys::Get().Rs256(UserClaims("alice")));
  auto header = [](const std::string& auth, size_t length, bool expect_continue = false) {
    return absl::StrCat("POST /v1/boxes HTTP/1.1\r\nHost: gateway\r\n", auth,
                        auth.empty() ? "" : "\r\n", "Content-Type: application/json\r\n",
                        "Content-Length: ", length, "\r\n",
                        expect_continue ? "Expect: 100-continue\r\n" : "", "\r\n");
  };
  struct Refused {
    std::string what;
    std::string auth;
    bool expect_continue;
  };
  for (const Refused& refused : std::vector<Refused>{
           {"no token", "", false},
           {"a bad token", TestKeys::AuthHeader("abc.def.ghi"), false},
           {"a bad token asking for 100 Continue", TestKeys::AuthHeader("abc.def.ghi"), true}}) {
    SCOPED_TRACE(refused.what);
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_TRUE((*tls)->Write(header(refused.auth, 1 << 20, refused.expect_continue)).ok());
    // The body never comes; the answer must not wait for it.
    TlsConnection::Received answer = (*tls)->ReadUntilClosed(absl::Seconds(30));
    EXPECT_THAT(answer.data, StartsWith("HTTP/1.1 401")) << answer.data;
    EXPECT_THAT(answer.data, HasSubstr("WWW-Authenticate: Bearer"));
    EXPECT_THAT(answer.data, Not(HasSubstr("100 Continue")));
    EXPECT_TRUE(answer.closed) << "the connection stayed open after the 401";
  }
  {
    SCOPED_TRACE("a valid token asking for 100 Continue");
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    const std::string body = "{\"app\": ";  // malformed: only a read body can say so
    ASSERT_TRUE((*tls)->Write(header(valid, body.size(), /*expect_continue=*/true)).ok());
    EXPECT_THAT((*tls)->ReadUntil("\r\n\r\n", absl::Seconds(30)).data,
                StartsWith("HTTP/1.1 100 Continue"));
    ASSERT_TRUE((*tls)->Write(body).ok());
    TlsConnection::Received answer = (*tls)->ReadUntil("}", absl::Seconds(30));
    EXPECT_THAT(answer.data, HasSubstr("HTTP/1.1 400")) << answer.data;
    EXPECT_THAT(answer.data, HasSubstr("line 1")) << answer.data;
  }
  {
    SCOPED_TRACE("a valid token with a body sent at once");
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    const std::string body = R"({"app":"test-box"})";
    ASSERT_TRUE((*tls)->Write(header(valid, body.size()) + body).ok());
    // Read and sent on: docker-svc is not there.
    TlsConnection::Received answer = (*tls)->ReadUntil("}", absl::Seconds(30));
    EXPECT_THAT(answer.data, StartsWith("HTTP/1.1 503")) << answer.data;
    EXPECT_THAT(answer.data, HasSubstr("docker-svc is unavailable")) << answer.data;
  }
  {
    SCOPED_TRACE("a probe without a token may not have a body");
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_TRUE(
        (*tls)
            ->Write("GET /healthz HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1048576\r\n\r\n")
            .ok());
    TlsConnection::Received answer = (*tls)->ReadUntilClosed(absl::Seconds(30));
    EXPECT_THAT(answer.data, StartsWith("HTTP/1.1 413")) << answer.data;
    EXPECT_TRUE(answer.closed);
  }
  // curl, posting a real body with a bad token, reads the 401 rather than a reset.
  HttpCall post = Post("/v1/boxes", std::string(512 << 10, ' '), "abc.def.ghi");
  HttpResult result = Curl(gateway().base_url(), post);
  EXPECT_EQ(result.status, 401) << result.Describe();
}

// A chunked body's framing is counted by no limit of Beast's parser: a chunk-size line that
// never ends, or a trailer that never ends, was buffered at wire speed for as long as the 10 s
// body deadline let it (gigabytes). An authenticated client sends either, pushing 64 MiB: the
// gateway stops at its 32 KiB read buffer, answers 400, keeps its memory, closes the
// connection, and goes on serving. A body with a Content-Length as large as --max_body is
// still read.
TEST_F(GatewayConnectionsTest, AnEndlessChunkedFramingIsCutOffAtTheReadBuffer) {
  ASSERT_NO_FATAL_FAILURE(Start(Flags()));
  const uint16_t port = gateway().port();
  const std::string alice = TestKeys::Get().Rs256(UserClaims("alice"));
  const std::string valid = TestKeys::AuthHeader(alice);
  // Served once, so that the memory of serving is counted before the attack.
  HttpResult warm_up = GetFrom("127.0.0.2", "/healthz");
  ASSERT_EQ(warm_up.status, 200) << warm_up.Describe();
  const pid_t pid = gateway().process().pid();
  const int64_t peak_before = PeakResidentBytes(pid);
  ASSERT_GT(peak_before, 0);

  constexpr int64_t kPushed = int64_t{64} << 20;
  const std::string flood(64 << 10, 'a');  // no CR, no LF: the line never ends
  struct Attack {
    std::string what;
    std::string after_header;
  };
  for (const Attack& attack :
       std::vector<Attack>{{"a chunk-size line that never ends", "1;"},
                           {"a trailer that never ends", "0\r\nX-Trailer: "}}) {
    SCOPED_TRACE(attack.what);
    absl::StatusOr<std::unique_ptr<TlsConnection>> tls = TlsConnection::Open(port);
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_TRUE((*tls)
                    ->Write(absl::StrCat("POST /v1/boxes HTTP/1.1\r\nHost: gateway\r\n", valid,
                                         "\r\nContent-Type: application/json\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n",
                                         attack.after_header))
                    .ok());
    // Pushed until the gateway stops taking it (it closes the connection) or 64 MiB are in.
    int64_t pushed = 0;
    const absl::Time start = absl::Now();
    while (pushed < kPushed && absl::Now() - start < absl::Seconds(60) &&
           (*tls)->Write(flood).ok()) {
      pushed += static_cast<int64_t>(flood.size());
    }
    std::cerr << attack.what << ": pushed " << (pushed >> 10) << " KiB in "
              << absl::FormatDuration(absl::Now() - start) << "\n";
    TlsConnection::Received answer = (*tls)->ReadUntilClosed(absl::Seconds(30));
    EXPECT_THAT(answer.data, StartsWith("HTTP/1.1 400")) << answer.data;
    EXPECT_THAT(answer.data, HasSubstr("chunk-size line or trailer")) << answer.data;
    EXPECT_TRUE(answer.closed) << "the connection outlived the refusal";
  }
  const int64_t grown = PeakResidentBytes(pid) - peak_before;
  EXPECT_LT(grown, kPushed / 2) << "the gateway's peak memory grew by " << (grown >> 20)
                                << " MiB during the attacks";
  HttpResult healthz = GetFrom("127.0.0.2", "/healthz");
  EXPECT_EQ(healthz.status, 200) << healthz.Describe();

  // A Content-Length body of exactly --max_body (1 MiB, JSON padded with spaces) is read whole
  // and sent on (docker-svc is not there: 503); one byte more is 413.
  std::string body = R"({"app":"test-box"})";
  body.resize(1 << 20, ' ');
  HttpResult largest = Curl(gateway().base_url(), Post("/v1/boxes", body, alice));
  EXPECT_EQ(largest.status, 503) << largest.Describe();
  EXPECT_THAT(largest.body, HasSubstr("docker-svc is unavailable")) << largest.Describe();
  body.push_back(' ');
  HttpResult too_large = Curl(gateway().base_url(), Post("/v1/boxes", body, alice));
  EXPECT_EQ(too_large.status, 413) << too_large.Describe();
}

}  // namespace
}  // namespace berth::testing
