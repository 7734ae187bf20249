#include "gateway/http/http_server.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// Chunks of an event stream waiting for a slow client before it is cut off.
constexpr size_t kMaxPendingChunks = 4096;

std::chrono::nanoseconds ToChrono(absl::Duration duration) {
  return absl::ToChronoNanoseconds(duration);
}

// An answer the server gives by itself (the request never reached the handler), in the same
// {"code":..,"message":..} shape as every other error; `grpc_code` as grpc-gateway would map.
HttpResponse ServerError(http::status status, int grpc_code, const std::string& message) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.keep_alive(false);
  response.body() = absl::StrCat("{\"code\":", grpc_code, ",\"message\":\"", message, "\"}");
  response.prepare_payload();
  return response;
}

class Session;

}  // namespace

// What the listener and every connection share with the server.
struct HttpServer::State {
  // Requests read whose answer is not yet written.
  std::atomic<int> unanswered{0};
  // Set by StopAccepting(): answers close their connection, idle connections are closed.
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> open;  // guarded by mu

  void Opened(const std::shared_ptr<Session>& session) {
    std::lock_guard<std::mutex> lock(mu);
    open.emplace(session.get(), session);
  }
  void Closed(Session* session) {
    std::lock_guard<std::mutex> lock(mu);
    open.erase(session);
  }
  int open_count() {
    std::lock_guard<std::mutex> lock(mu);
    return static_cast<int>(open.size());
  }
  std::vector<std::shared_ptr<Session>> OpenSessions() {
    std::vector<std::shared_ptr<Session>> sessions;
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [raw, weak] : open) {
      if (std::shared_ptr<Session> session = weak.lock()) sessions.push_back(std::move(session));
    }
    return sessions;
  }
};

namespace {

using State = HttpServer::State;

// The writer handed to the handler: every call hops onto the session's strand.
class SessionWriter final : public ResponseWriter {
 public:
  explicit SessionWriter(std::shared_ptr<Session> session) : session_(std::move(session)) {}
  void Send(HttpResponse response) override;
  void StartStream(HttpResponse head) override;
  void Chunk(std::string data) override;
  void End() override;
  void OnClientGone(std::function<void()> on_close) override;

 private:
  std::shared_ptr<Session> session_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ssl::context& tls, RequestHandler* handler,
          const HttpServerOptions& options, std::shared_ptr<State> state)
      : stream_(std::move(socket), tls),
        handler_(handler),
        options_(options),
        state_(std::move(state)) {}
  ~Session() {
    Answered();
    state_->Closed(this);
  }

  void Run() {
    state_->Opened(shared_from_this());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_->draining) return self->Close();
      beast::get_lowest_layer(self->stream_).expires_after(ToChrono(self->options_.request_timeout));
      self->stream_.async_handshake(ssl::stream_base::server,
                                    [self](beast::error_code error) {
                                      if (!error) self->DoRead();
                                    });
    });
  }

  template <typename Function>
  void OnStrand(Function function) {
    net::post(stream_.get_executor(), std::move(function));
  }

  // ---- Called on the strand by SessionWriter --------------------------------------------
  void WriteResponse(HttpResponse response) {
    if (closed_ || streaming_) return;
    response.version(version_);
    response.keep_alive(keep_alive_ && response.keep_alive() && !state_->draining);
    response.prepare_payload();
    if (!head_request_) return WriteMessage(std::make_shared<HttpResponse>(std::move(response)));
    // HEAD: the same status and headers (Content-Length included), no body.
    auto head = std::make_shared<http::response<http::empty_body>>(response.result(), version_);
    for (const auto& field : response) head->insert(field.name_string(), field.value());
    WriteMessage(std::move(head));
  }

  // Closes the connection if it is parked between requests with nothing of the next one
  // received (the server is shutting down). A handshake, a request arriving or being answered,
  // and a stream are left to finish; each closes the connection when it is done.
  void CloseIfIdle() {
    const bool parked = parser_.has_value() && !parser_->got_some() && buffer_.size() == 0;
    if (parked && !awaiting_answer_ && !streaming_) Close();
  }

  void StartStream(HttpResponse head) {
    if (closed_ || streaming_) return;
    streaming_ = true;
    Answered();  // a stream is not waited for at shutdown
    stream_head_.emplace(head.result(), version_);
    for (const auto& field : head) stream_head_->set(field.name_string(), field.value());
    stream_head_->keep_alive(false);  // the stream ends the connection
    stream_head_->chunked(true);
    serializer_.emplace(*stream_head_);
    beast::get_lowest_layer(stream_).expires_never();
    writing_ = true;
    http::async_write_header(stream_, *serializer_,
                             [self = shared_from_this()](beast::error_code error, size_t) {
                               self->OnStreamWritten(error);
                             });
    // Whatever the client sends now (or its hanging up) ends the stream.
    stream_.async_read_some(net::buffer(probe_), [self = shared_from_this()](
                                                     beast::error_code, size_t) {
      self->ClientGone();
    });
  }

  void QueueChunk(std::optional<std::string> data) {  // nullopt: the last chunk
    if (closed_ || !streaming_) return;
    if (pending_.size() >= kMaxPendingChunks) {
      // A client that does not read its stream is cut off (and its RPC cancelled) rather than
      // buffered without end; it can watch again.
      return ClientGone();
    }
    pending_.push_back(std::move(data));
    if (!writing_) WriteNextChunk();
  }

  void SetOnClientGone(std::function<void()> on_close) {
    if (closed_) {
      on_close();
      return;
    }
    on_client_gone_ = std::move(on_close);
  }

 private:
  template <typename Message>
  void WriteMessage(std::shared_ptr<Message> message) {
    beast::get_lowest_layer(stream_).expires_after(ToChrono(options_.request_timeout));
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code error, size_t) {
                        self->Answered();
                        if (error || !message->keep_alive() || self->state_->draining) {
                          return self->Close();
                        }
                        self->DoRead();
                      });
  }

  void DoRead() {
    if (state_->draining) return Close();  // the drain began while the last answer was written
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(options_.max_header_bytes);
    parser_->body_limit(options_.max_body_bytes);
    // A new connection's first request must come within the request timeout; a kept-alive
    // one may idle longer between requests.
    beast::get_lowest_layer(stream_).expires_after(
        ToChrono(requests_ == 0 ? options_.request_timeout : options_.idle_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       self->OnRead(error);
                     });
  }

  void OnRead(beast::error_code error) {
    if (error == http::error::body_limit) {
      return WriteResponse(ServerError(http::status::payload_too_large, 3,
                                       absl::StrCat("the body exceeds ",
                                                    options_.max_body_bytes, " bytes")));
    }
    if (error == http::error::header_limit) {
      return WriteResponse(ServerError(http::status::request_header_fields_too_large, 3,
                                       absl::StrCat("the header exceeds ",
                                                    options_.max_header_bytes, " bytes")));
    }
    if (error && error.category() == http::make_error_code(http::error::bad_target).category() &&
        error != http::error::end_of_stream && error != http::error::partial_message) {
      return WriteResponse(ServerError(http::status::bad_request, 3, "malformed HTTP request"));
    }
    if (error) return Close();  // hung up, timed out, TLS failure
    ++requests_;
    awaiting_answer_ = true;
    state_->unanswered.fetch_add(1);
    HttpRequest request = parser_->release();
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    head_request_ = request.method() == http::verb::head;
    beast::get_lowest_layer(stream_).expires_never();
    handler_->Handle(std::move(request),
                     std::make_shared<SessionWriter>(shared_from_this()));
  }

  void WriteNextChunk() {
    if (pending_.empty() || closed_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    std::optional<std::string> next = std::move(pending_.front());
    pending_.pop_front();
    auto done = [self = shared_from_this()](beast::error_code error, size_t) {
      self->OnStreamWritten(error);
    };
    if (!next.has_value()) {
      ended_ = true;
      net::async_write(stream_, http::make_chunk_last(), std::move(done));
      return;
    }
    auto data = std::make_shared<std::string>(std::move(*next));
    net::async_write(stream_, http::make_chunk(net::buffer(*data)),
                     [data, done = std::move(done)](beast::error_code error, size_t n) {
                       done(error, n);
                     });
  }

  void OnStreamWritten(beast::error_code error) {
    if (error) return ClientGone();
    if (ended_) return Close();
    WriteNextChunk();
  }

  void ClientGone() {
    if (!ended_ && on_client_gone_) {
      auto on_close = std::move(on_client_gone_);
      on_client_gone_ = nullptr;
      on_close();
    }
    Close();
  }

  // The request read last has its answer written (or never will); counted once.
  void Answered() {
    if (!awaiting_answer_) return;
    awaiting_answer_ = false;
    state_->unanswered.fetch_sub(1);
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    Answered();
    state_->Closed(this);
    // Drops what refers back to this session (the stream's cancel callback holds its RPC, whose
    // callbacks hold the writer), so that nothing keeps the session alive after its close.
    on_client_gone_ = nullptr;
    pending_.clear();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  RequestHandler* const handler_;
  const HttpServerOptions& options_;
  const std::shared_ptr<State> state_;
  bool awaiting_answer_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_request_ = false;
  int requests_ = 0;
  bool closed_ = false;
  // Streaming state.
  bool streaming_ = false;
  bool writing_ = false;
  bool ended_ = false;
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::deque<std::optional<std::string>> pending_;
  std::function<void()> on_client_gone_;
  char probe_[64];
};

void SessionWriter::Send(HttpResponse response) {
  session_->OnStrand([session = session_, response = std::move(response)]() mutable {
    session->WriteResponse(std::move(response));
  });
}
void SessionWriter::StartStream(HttpResponse head) {
  session_->OnStrand([session = session_, head = std::move(head)]() mutable {
    session->StartStream(std::move(head));
  });
}
void SessionWriter::Chunk(std::string data) {
  session_->OnStrand([session = session_, data = std::move(data)]() mutable {
    session->QueueChunk(std::move(data));
  });
}
void SessionWriter::End() {
  session_->OnStrand([session = session_] { session->QueueChunk(std::nullopt); });
}
void SessionWriter::OnClientGone(std::function<void()> on_close) {
  session_->OnStrand([session = session_, on_close = std::move(on_close)]() mutable {
    session->SetOnClientGone(std::move(on_close));
  });
}

// Accepts connections. The acceptor and its retry timer live on one strand.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& io, ssl::context& tls, RequestHandler* handler,
           HttpServerOptions options, std::shared_ptr<State> state)
      : io_(io),
        tls_(tls),
        handler_(handler),
        options_(std::move(options)),
        state_(std::move(state)),
        acceptor_(net::make_strand(io)),
        retry_timer_(acceptor_.get_executor()) {}

  absl::Status Listen(const tcp::endpoint& endpoint) {
    beast::error_code error;
    acceptor_.open(endpoint.protocol(), error);
    if (!error) acceptor_.set_option(net::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(net::socket_base::max_listen_connections, error);
    if (error) {
      return absl::UnavailableError(absl::StrCat("listen on ", endpoint.address().to_string(),
                                                 ":", endpoint.port(), ": ", error.message()));
    }
    return absl::OkStatus();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void Close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

  void Accept() {
    acceptor_.async_accept(net::make_strand(io_), [self = shared_from_this()](
                                                      beast::error_code error, tcp::socket socket) {
      if (!self->acceptor_.is_open()) return;
      if (error) return self->RetryAfterError(error);
      if (self->accept_failing_) {
        spdlog::info("accepting connections again");
        self->accept_failing_ = false;
      }
      socket.set_option(tcp::no_delay(true), error);
      std::make_shared<Session>(std::move(socket), self->tls_, self->handler_, self->options_,
                                self->state_)
          ->Run();
      self->Accept();
    });
  }

 private:
  // An accept failed, e.g. out of file descriptors (EMFILE): the pending connection stays
  // queued, so accepting again at once would spin. Waits a little first; logs once per streak.
  void RetryAfterError(const beast::error_code& error) {
    if (!accept_failing_) {
      spdlog::warn("accept: {}; retrying every 100 ms", error.message());
      accept_failing_ = true;
    }
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code) {
      if (self->acceptor_.is_open()) self->Accept();
    });
  }

  net::io_context& io_;
  ssl::context& tls_;
  RequestHandler* const handler_;
  const HttpServerOptions options_;
  const std::shared_ptr<State> state_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  bool accept_failing_ = false;  // on the acceptor's strand
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                             ssl::context* tls,
                                                             RequestHandler* handler) {
  beast::error_code error;
  const net::ip::address address = net::ip::make_address(options.address, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IP address: \"", options.address, "\""));
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  auto listener =
      std::make_shared<Listener>(server->io_, *tls, handler, options, server->state_);
  if (absl::Status listening = listener->Listen(tcp::endpoint(address, options.port));
      !listening.ok()) {
    return listening;
  }
  server->port_ = listener->port();
  listener->Accept();
  server->listener_ = listener;
  server->stop_accepting_ = [listener] { listener->Close(); };
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    server->threads_.emplace_back([io = &server->io_] { io->run(); });
  }
  return server;
}

HttpServer::~HttpServer() { Stop(); }

HttpServer::HttpServer() : state_(std::make_shared<State>()) {}

void HttpServer::StopAccepting() {
  state_->draining = true;
  if (stop_accepting_) stop_accepting_();
  for (const std::shared_ptr<Session>& session : state_->OpenSessions()) {
    session->OnStrand([session] { session->CloseIfIdle(); });
  }
}

int HttpServer::unanswered_requests() const { return state_->unanswered.load(); }

int HttpServer::open_connections() const { return state_->open_count(); }

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  work_.reset();
  io_.stop();
  for (std::thread& thread : threads_) thread.join();
  listener_.reset();
}

}  // namespace berth::gateway
