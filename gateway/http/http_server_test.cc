// HttpServer on real sockets with real TLS: the drain at shutdown, HEAD answers, and accepting
// again after running out of file descriptors.
#include "gateway/http/http_server.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/testing/temp_dir.h"
#include "gateway/tls/certificate.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// Answers "/held" only when the test releases it; any other target at once with "hello".
class TestHandler final : public RequestHandler {
 public:
  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) override {
    if (request.target() == "/stream") {
      // The callback holds the writer, which holds the connection, which holds the callback:
      // the server must break that cycle when the stream ends.
      writer->OnClientGone([this, writer] { client_gone_ = true; });
      absl::MutexLock lock(&mu_);
      stream_ = std::move(writer);
      return;
    }
    if (request.target() == "/big") {  // more than the socket buffers hold
      HttpResponse response{http::status::ok, 11};
      response.body() = std::string(32 << 20, 'x');
      return writer->Send(std::move(response));
    }
    if (request.target() == "/held") {
      absl::MutexLock lock(&mu_);
      held_.push_back(std::move(writer));
      return;
    }
    writer->Send(Hello());
  }

  // Waits until a request is held.
  bool WaitForHeld(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_.empty(); };
    return mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
  }

  // The writer of the event stream requested, once it is.
  std::shared_ptr<ResponseWriter> TakeStream(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stream_ != nullptr; };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
    return std::move(stream_);
  }
  bool client_gone() const { return client_gone_; }

  // Answers the oldest held request.
  void AnswerHeld() {
    std::shared_ptr<ResponseWriter> writer;
    {
      absl::MutexLock lock(&mu_);
      writer = std::move(held_.front());
      held_.erase(held_.begin());
    }
    writer->Send(Hello());
  }

 private:
  static HttpResponse Hello() {
    HttpResponse response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain");
    response.body() = "hello";
    return response;
  }

  absl::Mutex mu_;
  std::vector<std::shared_ptr<ResponseWriter>> held_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<ResponseWriter> stream_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> client_gone_{false};
};

// Polls `done` for up to 10 s.
bool Eventually(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

using Response = http::response<http::string_body>;

// An HTTPS client on one connection whose every step gives up after 10 s, so that a server
// that never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(uint16_t port) : tls_(ssl::context::tls_client), stream_(io_, tls_) {
    tls_.set_verify_mode(ssl::verify_none);
    beast::get_lowest_layer(stream_).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                             error_);
    if (error_) return;
    error_ = Run([this](auto done) { stream_.async_handshake(ssl::stream_base::client, done); });
  }
  bool connected() const { return !error_; }

  // `header_value`: sent as an X-Extra header when not empty.
  void Send(http::verb method, const std::string& target, const std::string& header_value = "") {
    http::request<http::empty_body> request{method, target, 11};
    request.set(http::field::host, "localhost");
    if (!header_value.empty()) request.set("X-Extra", header_value);
    request.keep_alive(true);
    error_ = Run([&](auto done) { http::async_write(stream_, request, done); });
  }

  // The next response; a HEAD's has no body to read.
  absl::StatusOr<Response> Read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    parser.body_limit(64 << 20);
    error_ = Run([&](auto done) { http::async_read(stream_, buffer_, parser, done); });
    if (error_) return absl::UnavailableError(error_.message());
    return parser.release();
  }

  // True when the server has closed the connection (a read ends without data).
  bool ClosedByServer() {
    char byte;
    size_t n = 0;
    const beast::error_code error = Run([&](auto done) {
      stream_.async_read_some(net::buffer(&byte, 1), [&n, done](beast::error_code e, size_t got) {
        n = got;
        done(e, got);
      });
    });
    return n == 0 && error && error != net::error::timed_out;
  }

 private:
  // Runs the operation `start` begins (handing it its completion handler) for at most 10 s.
  template <typename Start>
  beast::error_code Run(Start start) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code error, auto&&...) { result = error; });
    io_.restart();
    io_.run_for(std::chrono::seconds(10));
    if (result.has_value()) return *result;
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).cancel(ignored);
    io_.restart();
    io_.run();
    return net::error::timed_out;
  }

  net::io_context io_;
  ssl::context tls_;
  ssl::stream<tcp::socket> stream_;
  beast::flat_buffer buffer_;
  beast::error_code error_;
};

// Whether a plain TCP connect to `port` on loopback is refused (no listener).
bool ConnectionRefused(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool refused = connect(fd, reinterpret_cast<const sockaddr*>(&address),
                               sizeof(address)) != 0 && errno == ECONNREFUSED;
  close(fd);
  return refused;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Certificate> certificate = LoadOrCreateSelfSigned(state_.path(), "localhost");
    ASSERT_TRUE(certificate.ok()) << certificate.status();
    tls_.use_certificate_chain(
        net::buffer(certificate->chain_pem.data(), certificate->chain_pem.size()));
    tls_.use_private_key(net::buffer(certificate->key_pem.data(), certificate->key_pem.size()),
                         ssl::context::pem);
    HttpServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options, &tls_, &handler_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Requests an event stream on `client` and starts it; its writer, or null.
  std::shared_ptr<ResponseWriter> OpenStream(Client& client) {
    if (!client.connected()) return nullptr;
    client.Send(http::verb::get, "/stream");
    std::shared_ptr<ResponseWriter> writer = handler_.TakeStream(absl::Seconds(5));
    if (writer == nullptr) return nullptr;
    HttpResponse head{http::status::ok, 11};
    head.set(http::field::content_type, "application/x-ndjson");
    writer->StartStream(std::move(head));
    return writer;
  }

  bool WaitForOpenConnections(int count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (server_->open_connections() != count) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  testing::TempDir state_;
  ssl::context tls_{ssl::context::tls_server};
  TestHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, HeadHasTheHeadersOfGetAndNoBody) {
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(http::verb::head, "/x");
  absl::StatusOr<Response> head = client.Read(/*head=*/true);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->result_int(), 200);
  EXPECT_EQ((*head)[http::field::content_length], "5");
  EXPECT_EQ((*head)[http::field::content_type], "text/plain");
  // A body sent after the HEAD answer would be read as the next answer's start.
  client.Send(http::verb::get, "/x");
  absl::StatusOr<Response> get = client.Read();
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->result_int(), 200);
  EXPECT_EQ(get->body(), "hello");
}

// The server's own error answers after a HEAD on the same connection keep their body.
TEST_F(HttpServerTest, AnErrorAnswerAfterAHeadHasItsBody) {
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(http::verb::head, "/x");
  ASSERT_TRUE(client.Read(/*head=*/true).ok());
  client.Send(http::verb::get, "/x", std::string(20 << 10, 'h'));  // over the 16 KiB limit
  absl::StatusOr<Response> too_large = client.Read();
  ASSERT_TRUE(too_large.ok()) << too_large.status();
  EXPECT_EQ(too_large->result_int(), 431);
  EXPECT_NE(too_large->body().find("header"), std::string::npos) << too_large->body();
}

// An answer still being written when the drain begins (it said keep-alive) closes its
// connection once written, rather than reading another request.
TEST_F(HttpServerTest, AnAnswerBeingWrittenWhenTheDrainBeginsClosesItsConnection) {
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(http::verb::get, "/big");
  ASSERT_TRUE(Eventually([&] { return server_->unanswered_requests() == 1; }));
  absl::SleepFor(absl::Milliseconds(200));  // the write has begun and waits for the client
  server_->StopAccepting();
  absl::StatusOr<Response> big = client.Read();
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->body().size(), size_t{32} << 20);
  EXPECT_TRUE(client.ClosedByServer()) << "the connection outlived the drain";
  EXPECT_TRUE(WaitForOpenConnections(0));
}

TEST_F(HttpServerTest, DrainClosesIdleConnectionsAndAnswersThoseInFlight) {
  Client idle(server_->port());
  Client busy(server_->port());
  ASSERT_TRUE(idle.connected() && busy.connected());
  // Both have had an answer on a kept-alive connection; `busy` then waits for another.
  for (Client* client : {&idle, &busy}) {
    client->Send(http::verb::get, "/x");
    ASSERT_TRUE(client->Read().ok());
  }
  busy.Send(http::verb::get, "/held");
  ASSERT_TRUE(handler_.WaitForHeld(absl::Seconds(5)));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server_->unanswered_requests() != 1 && absl::Now() < deadline) {  // /x's writes end
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(server_->unanswered_requests(), 1);
  ASSERT_EQ(server_->open_connections(), 2);

  server_->StopAccepting();
  EXPECT_TRUE(idle.ClosedByServer()) << "an idle kept-alive connection stayed open";
  EXPECT_TRUE(WaitForOpenConnections(1));
  EXPECT_TRUE(Eventually([&] { return ConnectionRefused(server_->port()); }))
      << "the server still listens after StopAccepting";

  handler_.AnswerHeld();
  absl::StatusOr<Response> answer = busy.Read();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->body(), "hello");
  EXPECT_FALSE(answer->keep_alive()) << "an answer during the drain kept its connection";
  EXPECT_TRUE(busy.ClosedByServer());
  EXPECT_TRUE(WaitForOpenConnections(0));
  EXPECT_EQ(server_->unanswered_requests(), 0);
}

// A client that stops reading its event stream is cut off once 4,096 chunks wait for it, rather
// than buffered without end; its handler hears of it, and the connection is freed even though
// the handler's callback held the writer.
TEST_F(HttpServerTest, AStreamWhoseClientStopsReadingIsCutOff) {
  Client client(server_->port());
  std::shared_ptr<ResponseWriter> writer = OpenStream(client);
  ASSERT_NE(writer, nullptr);
  // 40 MiB, far more than the socket buffers and the 4,096-chunk queue (16 MiB) hold.
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 10000 && !handler_.client_gone(); ++i) writer->Chunk(chunk);
  EXPECT_TRUE(Eventually([&] { return handler_.client_gone(); }))
      << "the stream was never cut off";
  EXPECT_TRUE(WaitForOpenConnections(0));
  std::weak_ptr<ResponseWriter> weak = writer;
  writer.reset();
  EXPECT_TRUE(Eventually([&] { return weak.expired(); }))
      << "the connection leaked through its OnClientGone callback";
}

// A stream its handler ends: the client gets every chunk and the end, the handler hears of no
// hang-up, and the connection is freed although the handler's callback held the writer.
TEST_F(HttpServerTest, AStreamEndedByItsHandlerFreesItsConnection) {
  Client client(server_->port());
  std::shared_ptr<ResponseWriter> writer = OpenStream(client);
  ASSERT_NE(writer, nullptr);
  writer->Chunk("{\"n\":1}\n");
  writer->Chunk("{\"n\":2}\n");
  writer->End();
  absl::StatusOr<Response> answer = client.Read();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->body(), "{\"n\":1}\n{\"n\":2}\n");
  EXPECT_TRUE(client.ClosedByServer());
  EXPECT_TRUE(WaitForOpenConnections(0));
  EXPECT_FALSE(handler_.client_gone());
  std::weak_ptr<ResponseWriter> weak = writer;
  writer.reset();
  EXPECT_TRUE(Eventually([&] { return weak.expired(); }))
      << "the connection leaked through its OnClientGone callback";
}

// Out of file descriptors, accept() fails while the connection stays queued: the server must
// neither spin on it nor stop accepting once descriptors are free again.
TEST_F(HttpServerTest, AcceptWaitsOutRunningOutOfDescriptors) {
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  rlimit lowered = original;
  lowered.rlim_cur = std::min<rlim_t>(original.rlim_cur, 256);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  std::vector<int> filler;
  auto give_back = absl::MakeCleanup([&] {
    for (int fd : filler) close(fd);
    setrlimit(RLIMIT_NOFILE, &original);
  });
  for (int fd = dup(client); fd >= 0; fd = dup(client)) filler.push_back(fd);
  ASSERT_EQ(errno, EMFILE);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server_->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected =
      connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  absl::SleepFor(absl::Seconds(1));
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  const int open_while_out = server_->open_connections();

  std::move(give_back).Invoke();
  ASSERT_TRUE(connected) << "the kernel did not queue the connection";
  const absl::Duration cpu = absl::DurationFromTimeval(after.ru_utime) -
                             absl::DurationFromTimeval(before.ru_utime) +
                             absl::DurationFromTimeval(after.ru_stime) -
                             absl::DurationFromTimeval(before.ru_stime);
  EXPECT_LT(cpu, absl::Milliseconds(300)) << "the server spun on accept for the whole second";
  EXPECT_EQ(open_while_out, 0);
  EXPECT_TRUE(WaitForOpenConnections(1)) << "the queued connection was never accepted";
  close(client);
}

}  // namespace
}  // namespace berth::gateway
