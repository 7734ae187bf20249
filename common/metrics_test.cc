#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"

namespace berth::common {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// A socket listening on a port of 127.0.0.1 the kernel picks; -1 when none could be made.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  ~Listener() {
    if (fd >= 0) close(fd);
  }
};
void Listen(Listener* listener) {
  listener->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(listener->fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener->fd, 1), 0);
  ASSERT_EQ(getsockname(listener->fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  listener->port = ntohs(address.sin_port);
}

// A free port of 127.0.0.1 (bound by nobody once this returns).
uint16_t FreePort() {
  Listener listener;
  Listen(&listener);
  return listener.port;
}

// The whole answer (status line, headers, body) of an HTTP/1.0 GET of `path` on
// 127.0.0.1:`port`; "" when it cannot connect.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: x\r\n\r\n");
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t got;
      while ((got = read(fd, buffer, sizeof(buffer))) > 0) answer.append(buffer, got);
    }
  }
  close(fd);
  return answer;
}

TEST(MetricsTest, SerializesEveryFamilyWithHelpAndType) {
  Metrics metrics;
  prometheus::BuildCounter()
      .Name("berth_test_things_total")
      .Help("Things done.")
      .Register(metrics.registry())
      .Add({{"kind", "a"}})
      .Increment(3);
  prometheus::BuildGauge()
      .Name("berth_test_level")
      .Help("A level.")
      .Register(metrics.registry())
      .Add({})
      .Set(2.5);
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP berth_test_things_total Things done.\n"
                              "# TYPE berth_test_things_total counter\n"
                              "berth_test_things_total{kind=\"a\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# HELP berth_test_level A level.\n"
                              "# TYPE berth_test_level gauge\n"
                              "berth_test_level 2.5\n"));
}

TEST(MetricsTest, ScrapeHooksSetValuesBeforeEachCollectionWhileTheyLive) {
  Metrics metrics;
  prometheus::Gauge& gauge = prometheus::BuildGauge()
                                 .Name("berth_test_counted")
                                 .Help("Counted when asked.")
                                 .Register(metrics.registry())
                                 .Add({});
  int runs = 0;
  {
    Metrics::ScrapeHook hook = metrics.OnScrape([&] { gauge.Set(++runs); });
    EXPECT_THAT(metrics.Serialize(), HasSubstr("berth_test_counted 1\n"));
    Metrics::ScrapeHook moved = std::move(hook);
    EXPECT_THAT(metrics.Serialize(), HasSubstr("berth_test_counted 2\n"));
  }
  EXPECT_THAT(metrics.Serialize(), HasSubstr("berth_test_counted 2\n"));
  EXPECT_EQ(runs, 2);
}

TEST(MetricsTest, ValidatesTheListenAddress) {
  EXPECT_THAT(ValidateMetricsListen(""), IsOk());
  EXPECT_THAT(ValidateMetricsListen("127.0.0.1:9741"), IsOk());
  EXPECT_THAT(ValidateMetricsListen("0.0.0.0:1"), IsOk());
  EXPECT_THAT(ValidateMetricsListen("127.0.0.1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--metrics_listen")));
  EXPECT_THAT(ValidateMetricsListen("localhost:9741"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IPv4 address")));
  EXPECT_THAT(ValidateMetricsListen("[::1]:9741"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IPv4 address")));
  EXPECT_THAT(ValidateMetricsListen(":9741"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IPv4 address")));
  for (const char* bad_port : {"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "127.0.0.1:"}) {
    EXPECT_THAT(ValidateMetricsListen(bad_port),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1-65535")))
        << bad_port;
  }
}

TEST(MetricsTest, ServesTheTextOverHttp) {
  Metrics metrics;
  prometheus::BuildCounter()
      .Name("berth_test_served_total")
      .Help("Served.")
      .Register(metrics.registry())
      .Add({})
      .Increment();
  const uint16_t port = FreePort();
  ASSERT_NE(port, 0);
  ASSERT_THAT(metrics.Serve(absl::StrCat("127.0.0.1:", port)), IsOk());
  EXPECT_EQ(metrics.port(), port);
  const std::string answer = HttpGet(port, "/metrics");
  EXPECT_THAT(answer, HasSubstr("200 OK"));
  EXPECT_THAT(answer, HasSubstr("Content-Type: text/plain"));
  EXPECT_THAT(answer, HasSubstr("# TYPE berth_test_served_total counter\n"
                                "berth_test_served_total 1\n"));
  EXPECT_THAT(HttpGet(port, "/other"), Not(HasSubstr("berth_test_served_total")));
  EXPECT_THAT(metrics.Serve(absl::StrCat("127.0.0.1:", FreePort())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already")));
}

TEST(MetricsTest, StopsServingPromptlyWhenDestroyed) {
  auto metrics = std::make_unique<Metrics>();
  const uint16_t port = FreePort();
  ASSERT_THAT(metrics->Serve(absl::StrCat("0.0.0.0:", port)), IsOk());
  ASSERT_THAT(HttpGet(port, "/metrics"), HasSubstr("200 OK"));
  const absl::Time start = absl::Now();
  metrics.reset();
  // The HTTP server alone would take up to 2 s (it looks for a stop every 2 s).
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(HttpGet(port, "/metrics"), "");
}

TEST(MetricsTest, AnEmptyAddressServesNothing) {
  Metrics metrics;
  EXPECT_THAT(metrics.Serve(""), IsOk());
  EXPECT_EQ(metrics.port(), 0);
}

TEST(MetricsTest, ABadOrTakenAddressIsRefusedSayingWhy) {
  Metrics metrics;
  EXPECT_THAT(metrics.Serve("127.0.0.1:99999"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--metrics_listen")));
  Listener taken;
  ASSERT_NO_FATAL_FAILURE(Listen(&taken));
  EXPECT_THAT(metrics.Serve(absl::StrCat("127.0.0.1:", taken.port)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Address already in use")));
  EXPECT_EQ(metrics.port(), 0);
}

}  // namespace
}  // namespace berth::common
