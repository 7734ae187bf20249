// HttpServer on real sockets with real TLS: the drain at shutdown, HEAD answers, accepting
// again after running out of file descriptors, the connection caps, the deadline of
// unauthenticated connections, refusals from the header alone, and the write deadlines of
// event streams whose client stops reading.
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
#include "absl/strings/str_cat.h"
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

// Answers "/held" only when the test releases it, "/echo" with the request's body; any other
// target at once with "hello".
// Refuses "/refused" from its header (401); a request with an X-Anonymous header is not
// authenticated, every other one is.
class TestHandler final : public RequestHandler {
 public:
  HeaderVerdict CheckHeader(const HttpRequestHeader& header) override {
    HeaderVerdict verdict;
    if (header.target() == "/refused") {
      HttpResponse refusal{http::status::unauthorized, 11};
      refusal.body() = "no";
      verdict.refusal = std::move(refusal);
      return verdict;
    }
    verdict.authenticated = header.find("X-Anonymous") == header.end();
    return verdict;
  }

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
    if (request.target() == "/echo") {
      HttpResponse response{http::status::ok, 11};
      response.body() = request.body();
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
  // Connects from `source` (any 127.x.y.z) and completes the TLS handshake. `receive_buffer`:
  // the socket's SO_RCVBUF when not 0 (a client that will stop reading holds little).
  explicit Client(uint16_t port, const std::string& source = "127.0.0.1", int receive_buffer = 0)
      : tls_(ssl::context::tls_client), stream_(io_, tls_) {
    tls_.set_verify_mode(ssl::verify_none);
    tcp::socket& socket = beast::get_lowest_layer(stream_);
    socket.open(tcp::v4(), error_);
    if (!error_ && receive_buffer > 0) {
      socket.set_option(net::socket_base::receive_buffer_size(receive_buffer), error_);
    }
    if (!error_) socket.bind(tcp::endpoint(net::ip::make_address(source), 0), error_);
    if (!error_) socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), error_);
    if (error_) return;
    error_ = Run([this](auto done) { stream_.async_handshake(ssl::stream_base::client, done); });
  }
  bool connected() const { return !error_; }

  // `header_value`: sent as an X-Extra header when not empty. `anonymous`: with X-Anonymous.
  // `content_length`: announced, though no body is sent.
  void Send(http::verb method, const std::string& target, const std::string& header_value = "",
            bool anonymous = false, size_t content_length = 0) {
    http::request<http::empty_body> request{method, target, 11};
    request.set(http::field::host, "localhost");
    if (!header_value.empty()) request.set("X-Extra", header_value);
    if (anonymous) request.set("X-Anonymous", "1");
    if (content_length > 0) {
      request.set(http::field::content_length, std::to_string(content_length));
    }
    request.keep_alive(true);
    error_ = Run([&](auto done) { http::async_write(stream_, request, done); });
  }

  // Sends `bytes` as they are.
  void SendRaw(const std::string& bytes) {
    error_ = Run([&](auto done) { net::async_write(stream_, net::buffer(bytes), done); });
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
    ASSERT_NO_FATAL_FAILURE(StartServer({}));
  }

  // (Re)starts the server with `options` on a free loopback port.
  void StartServer(HttpServerOptions options) {
    server_.reset();
    options.address = "127.0.0.1";
    options.port = 0;
    options.observer = &observer_;
    options_ = options;  // the server keeps a reference
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(options_, &tls_, &handler_);
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

  // Counts what the server reports.
  struct CountingObserver final : ConnectionObserver {
    void ConnectionOpened() override { ++opened; }
    void ConnectionClosed() override { ++closed; }
    void ConnectionRefused(Refusal why) override {
      ++(why == Refusal::kMaxConnections ? refused_total : refused_per_client);
    }
    void UnauthenticatedConnectionTimedOut() override { ++timed_out; }
    void TlsHandshakeFailed() override { ++tls_failed; }
    std::atomic<int> opened{0}, closed{0}, refused_total{0}, refused_per_client{0}, timed_out{0},
        tls_failed{0};
  };

  testing::TempDir state_;
  ssl::context tls_{ssl::context::tls_server};
  TestHandler handler_;
  CountingObserver observer_;
  HttpServerOptions options_;
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

// A client that stops reading its event stream (with a receive buffer of a few KiB) blocks the
// stream's write; before the 4,096-chunk queue fills, the write times out and the connection is
// closed, the handler told.
TEST_F(HttpServerTest, AStreamWhoseClientStopsReadingIsClosedAtTheWriteTimeout) {
  HttpServerOptions options;
  options.stream_write_timeout = absl::Milliseconds(500);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  Client client(server_->port(), "127.0.0.1", /*receive_buffer=*/1);
  std::shared_ptr<ResponseWriter> writer = OpenStream(client);
  ASSERT_NE(writer, nullptr);
  // 16 MiB in 2,048 chunks: more than the socket buffers hold, less than the queue's cap.
  const std::string chunk(8 << 10, 'x');
  for (int i = 0; i < 2048; ++i) writer->Chunk(chunk);
  EXPECT_TRUE(Eventually([&] { return handler_.client_gone(); }))
      << "a blocked write was never given up";
  EXPECT_TRUE(WaitForOpenConnections(0));
}

// The same client, with a stream its handler has ended: what is still queued (and the end)
// gets stream_end_grace to be written, however long the write timeout, then the connection is
// closed. The handler, done already, hears nothing.
TEST_F(HttpServerTest, AnEndedStreamWhoseClientStopsReadingIsClosedAfterTheGrace) {
  HttpServerOptions options;
  options.stream_write_timeout = absl::Hours(1);
  options.stream_end_grace = absl::Milliseconds(500);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  Client client(server_->port(), "127.0.0.1", /*receive_buffer=*/1);
  std::shared_ptr<ResponseWriter> writer = OpenStream(client);
  ASSERT_NE(writer, nullptr);
  const std::string chunk(8 << 10, 'x');
  for (int i = 0; i < 2048; ++i) writer->Chunk(chunk);
  writer->End();
  EXPECT_TRUE(WaitForOpenConnections(0)) << "the ended stream's connection stayed open";
  EXPECT_FALSE(handler_.client_gone());
}

// A chunked request body is read whole; one whose chunk-size line never ends fills the read
// buffer (max_header_bytes + 16 KiB), not memory: 400, and the connection is closed.
TEST_F(HttpServerTest, AChunkedBodyIsReadAndItsFramingBounded) {
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.SendRaw(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n");
  absl::StatusOr<Response> echoed = client.Read();
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->result_int(), 200);
  EXPECT_EQ(echoed->body(), "hello, world");
  EXPECT_TRUE(echoed->keep_alive());

  // 40 KiB of one chunk-size line: more than the buffer's 32 KiB, less than socket buffers.
  client.SendRaw(absl::StrCat(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1;",
      std::string(40 << 10, 'a')));
  absl::StatusOr<Response> refused = client.Read();
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->result_int(), 400);
  EXPECT_NE(refused->body().find("chunk-size line or trailer"), std::string::npos)
      << refused->body();
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_TRUE(client.ClosedByServer());
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

// Over a cap, a connection is closed as soon as it is accepted, before any TLS: per client
// address, and in all.
TEST_F(HttpServerTest, ConnectionsOverTheCapsAreClosedAtOnce) {
  HttpServerOptions options;
  options.max_connections = 3;
  options.max_connections_per_client = 2;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  Client first(server_->port(), "127.0.0.1");
  Client second(server_->port(), "127.0.0.1");
  ASSERT_TRUE(first.connected() && second.connected());
  Client third_of_one(server_->port(), "127.0.0.1");
  EXPECT_FALSE(third_of_one.connected()) << "a third connection of 127.0.0.1 got TLS";
  EXPECT_EQ(observer_.refused_per_client, 1);
  Client other(server_->port(), "127.0.0.2");
  ASSERT_TRUE(other.connected());
  Client over_total(server_->port(), "127.0.0.3");
  EXPECT_FALSE(over_total.connected()) << "a fourth connection got TLS";
  EXPECT_EQ(observer_.refused_total, 1);
  EXPECT_EQ(observer_.opened, 3);
  // The admitted ones are served, and a place freed is taken again.
  other.Send(http::verb::get, "/x");
  ASSERT_TRUE(other.Read().ok());
  first.Send(http::verb::get, "/refused");  // closes its connection
  ASSERT_TRUE(first.Read().ok());
  EXPECT_TRUE(Eventually([&] { return observer_.closed == 1; }));
  Client again(server_->port(), "127.0.0.3");
  EXPECT_TRUE(again.connected());
}

// A refusal from the header is written at once, though the request announced a body it never
// sends, and closes the connection; the body is never waited for.
TEST_F(HttpServerTest, AHeaderRefusalDoesNotWaitForTheBody) {
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  client.Send(http::verb::post, "/refused", "", /*anonymous=*/false,
              /*content_length=*/1 << 20);
  absl::StatusOr<Response> refused = client.Read();
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->result_int(), 401);
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_TRUE(client.ClosedByServer());
  // An unauthenticated request may not have a body at all.
  Client anonymous(server_->port());
  anonymous.Send(http::verb::post, "/x", "", /*anonymous=*/true, /*content_length=*/10);
  absl::StatusOr<Response> no_body = anonymous.Read();
  ASSERT_TRUE(no_body.ok()) << no_body.status();
  EXPECT_EQ(no_body->result_int(), 413);
  EXPECT_TRUE(anonymous.ClosedByServer());
}

// A connection that authenticates no request is closed at the deadline, though it is answered
// meanwhile; one that has authenticated is not.
TEST_F(HttpServerTest, UnauthenticatedConnectionsAreClosedAtTheirDeadline) {
  HttpServerOptions options;
  // Each connection's handshake and first round trip must fit in it, on a loaded machine too.
  options.unauthenticated_timeout = absl::Seconds(2);
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  Client authenticated(server_->port());
  ASSERT_TRUE(authenticated.connected());
  authenticated.Send(http::verb::get, "/x");
  ASSERT_TRUE(authenticated.Read().ok());
  // Opened later, so that its deadline passes after the other's.
  Client anonymous(server_->port());
  ASSERT_TRUE(anonymous.connected());
  anonymous.Send(http::verb::get, "/x", "", /*anonymous=*/true);
  ASSERT_TRUE(anonymous.Read().ok());
  EXPECT_TRUE(anonymous.ClosedByServer()) << "kept alive past the deadline";
  EXPECT_TRUE(Eventually([&] { return observer_.timed_out == 1; }));
  // The deadline has passed for both.
  authenticated.Send(http::verb::get, "/x");
  absl::StatusOr<Response> again = authenticated.Read();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->body(), "hello");
  // A connection that never says anything is closed at the deadline too.
  Client silent(server_->port());
  EXPECT_TRUE(silent.ClosedByServer());
  EXPECT_TRUE(Eventually([&] { return observer_.timed_out == 2; }));
}

// A client that does not speak TLS fails its handshake, which is told; a good one is not.
TEST_F(HttpServerTest, AFailedTlsHandshakeIsTold) {
  Client good(server_->port());
  ASSERT_TRUE(good.connected());
  net::io_context io;
  tcp::socket plain(io);
  plain.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  net::write(plain, net::buffer(std::string("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_TRUE(Eventually([&] { return observer_.tls_failed == 1; }));
  EXPECT_TRUE(Eventually([&] { return observer_.closed == 1; }));
  EXPECT_EQ(observer_.tls_failed, 1);
}

}  // namespace
}  // namespace berth::gateway
