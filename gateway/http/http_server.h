#ifndef BERTH_GATEWAY_HTTP_HTTP_SERVER_H_
#define BERTH_GATEWAY_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/http/connection_limiter.h"

namespace berth::gateway {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpRequestHeader = boost::beast::http::request_header<>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// How one request is answered: either Send() once, or StartStream(), any number of Chunk()
// and End(). Every method may be called from any thread; the connection does the I/O on its
// own strand. After the client is gone the calls do nothing.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void Send(HttpResponse response) = 0;
  // A chunked response: `head`'s status and headers, its body ignored.
  virtual void StartStream(HttpResponse head) = 0;
  virtual void Chunk(std::string data) = 0;
  virtual void End() = 0;
  // Runs `on_close` (once, on the connection's strand) if the client goes away before End(),
  // or is cut off for not reading its stream (HttpServerOptions::stream_write_timeout).
  virtual void OnClientGone(std::function<void()> on_close) = 0;
};

// What a handler decides from a request's header alone, before any byte of its body is read.
struct HeaderVerdict {
  // Set: the request is answered with this at once; its body is never read and the connection
  // closes after the answer.
  std::optional<HttpResponse> refusal;
  // The header carries credentials the handler accepts. A connection lives under
  // HttpServerOptions::unauthenticated_timeout until one of its requests is authenticated; a
  // request that is not may carry no body (413).
  bool authenticated = false;
};

// Answers requests. Neither method may block: Handle() hands slow work elsewhere and answers
// later through the writer.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Called once a request's header has arrived, before its body is read. The default refuses
  // nothing and authenticates every request (a handler with no credentials to check).
  virtual HeaderVerdict CheckHeader(const HttpRequestHeader& header);
  // Called once the whole request has arrived, unless CheckHeader refused it.
  virtual void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) = 0;
};

struct HttpServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 4678;  // 0: any free port (see HttpServer::port())
  int threads = 2;
  // Larger bodies are answered 413, larger header blocks 431, both without reading further;
  // a chunked body's data counts as a body. A connection's read buffer holds at most
  // max_header_bytes plus 16 KiB: a chunk-size line or trailer that does not fit is 400.
  uint64_t max_body_bytes = 1 << 20;
  uint32_t max_header_bytes = 16 << 10;
  // A new connection's handshake and first request header, and any request's body once its
  // header is in, must arrive within this, else the connection is closed; a kept-alive
  // connection may wait idle_timeout for its next request's header.
  absl::Duration request_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(60);
  // Each write of an event stream (its header, a chunk, its end) must be done within this,
  // else the connection is closed and the handler told (ResponseWriter::OnClientGone): a
  // client that stops reading cannot hold its connection. Once the handler has called End(),
  // whatever is still queued must be written within stream_end_grace (or sooner by the
  // former), else the connection is closed.
  absl::Duration stream_write_timeout = absl::Seconds(30);
  absl::Duration stream_end_grace = absl::Seconds(5);
  // A connection must complete its TLS handshake and the header of a request the handler
  // authenticates (RequestHandler::CheckHeader) within this of being accepted, else it is
  // closed, whatever it is doing then, unless it is being answered. Until then this deadline
  // replaces request_timeout and idle_timeout; requests the handler lets through
  // unauthenticated are answered meanwhile, but buy no time. Infinite: no such deadline.
  absl::Duration unauthenticated_timeout = absl::InfiniteDuration();
  // Connections held at most, in all and per client (ClientKey: an IPv4 address, an IPv6 /64);
  // a connection over either cap is closed as soon as it is accepted, before any TLS. 0: no cap.
  int max_connections = 0;
  int max_connections_per_client = 0;
  // Told of connections opened, closed, refused and timed out; may be null. Must outlive the
  // server's connections.
  ConnectionObserver* observer = nullptr;
};

// An asynchronous HTTPS/1.1 server (Boost.Beast over Asio): TLS always, keep-alive, one
// request at a time per connection, no thread per request. Each request's header is read and
// checked (RequestHandler::CheckHeader) before its body; a request answered without its body
// being read (a refusal, 413, 431, 400) closes its connection after a short wait that
// lets the client read the answer rather than lose it to a reset. Thread-safe.
class HttpServer {
 public:
  // Binds, listens and starts serving on `options.threads` threads. `tls` and `handler` must
  // outlive the server. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           boost::asio::ssl::context* tls,
                                                           RequestHandler* handler);
  // Stop().
  ~HttpServer();

  uint16_t port() const { return port_; }
  // Starts the drain: no new connections, connections waiting for a request are closed, and
  // every answer from now on closes its connection. Requests already received are answered and
  // event streams go on until their handler ends them.
  void StopAccepting();
  // Requests read whose answer is not yet written (event streams count only until they start).
  int unanswered_requests() const;
  // Connections not yet closed.
  int open_connections() const;
  // Stops accepting, closes every connection and joins the threads. Idempotent.
  void Stop();

  struct State;  // shared with the connections (http_server.cc)

 private:
  explicit HttpServer(std::shared_ptr<ConnectionLimiter> limiter);

  boost::asio::io_context io_;
  // Keeps the threads running while no I/O is pending: a connection waiting for its handler's
  // answer has none, and once the acceptor is closed nothing else would be.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::shared_ptr<void> listener_;
  std::function<void()> stop_accepting_;
  std::shared_ptr<State> state_;
  bool stopped_ = false;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_HTTP_HTTP_SERVER_H_
