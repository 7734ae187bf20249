#include "gateway/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
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
// How long a connection whose request was refused unread may go on sending before it is closed.
constexpr std::chrono::seconds kLingerAfterRefusal{2};
// The buffer that what such a connection still sends is read into and dropped.
constexpr size_t kDiscardBytes = 16 << 10;
// A connection's read buffer holds at most a header (HttpServerOptions::max_header_bytes) and
// this much more: what a read brings beyond the part being parsed. A body's bytes are moved
// into the request as they are parsed and are not held there.
constexpr size_t kReadBufferSlack = 16 << 10;

using Clock = std::chrono::steady_clock;

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

// Whether `error` says the bytes received are not HTTP (as opposed to a hang-up).
bool IsMalformedHttp(const beast::error_code& error) {
  return error.category() == http::make_error_code(http::error::bad_target).category() &&
         error != http::error::end_of_stream && error != http::error::partial_message;
}

class Session;

}  // namespace

HeaderVerdict RequestHandler::CheckHeader(const HttpRequestHeader&) {
  HeaderVerdict verdict;
  verdict.authenticated = true;
  return verdict;
}

// What the listener and every connection share with the server.
struct HttpServer::State {
  explicit State(std::shared_ptr<ConnectionLimiter> connection_limiter)
      : limiter(std::move(connection_limiter)) {}
  // Admits connections against the caps.
  const std::shared_ptr<ConnectionLimiter> limiter;
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

// `timeout` from now; time_point::max() for an infinite one (or one too long to count).
Clock::time_point DeadlineAfter(absl::Duration timeout) {
  const Clock::time_point now = Clock::now();
  if (timeout == absl::InfiniteDuration() || ToChrono(timeout) >= Clock::time_point::max() - now) {
    return Clock::time_point::max();
  }
  return now + std::chrono::duration_cast<Clock::duration>(ToChrono(timeout));
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `slot` is the connection's place among the server's caps, held until it closes.
  Session(tcp::socket&& socket, ConnectionLimiter::Slot slot, ssl::context& tls,
          RequestHandler* handler, const HttpServerOptions& options, std::shared_ptr<State> state)
      : slot_(std::move(slot)),
        stream_(std::move(socket), tls),
        handler_(handler),
        options_(options),
        state_(std::move(state)),
        unauthenticated_until_(DeadlineAfter(options.unauthenticated_timeout)),
        buffer_(options.max_header_bytes + kReadBufferSlack),
        stream_timer_(stream_.get_executor()) {}
  ~Session() {
    Answered();
    state_->Closed(this);
  }

  void Run() {
    state_->Opened(shared_from_this());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_->draining) return self->Close();
      self->ExpireReadAfter(self->options_.request_timeout);
      self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code error) {
        if (error) return self->OnHandshakeFailed(error);
        self->DoRead();
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
    // No read or write timeout of the stream's own: it lasts as long as its handler wants, and
    // stream_timer_ bounds each of its writes.
    beast::get_lowest_layer(stream_).expires_never();
    writing_ = true;
    ArmStreamWriteDeadline();
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
    if (closed_ || !streaming_ || end_queued_) return;
    if (pending_.size() >= kMaxPendingChunks) {
      // A client that does not read its stream is cut off (and its RPC cancelled) rather than
      // buffered without end; it can watch again.
      return ClientGone();
    }
    if (!data.has_value()) {
      // The handler is done: what is still queued gets stream_end_grace to be written, so
      // that a client that stopped reading cannot keep the connection.
      end_queued_ = true;
      end_deadline_ = DeadlineAfter(options_.stream_end_grace);
      if (writing_) ArmStreamWriteDeadline();  // the write in progress too
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
                        if (!error && self->request_unread_) return self->LingerThenClose();
                        if (error || !message->keep_alive() || self->state_->draining) {
                          return self->Close();
                        }
                        self->DoRead();
                      });
  }

  // Arms the read timer: for the unauthenticated deadline while the connection has one (it has
  // authenticated no request yet), else for `allowed` from now.
  void ExpireReadAfter(absl::Duration allowed) {
    timer_is_unauthenticated_deadline_ =
        !authenticated_ && unauthenticated_until_ != Clock::time_point::max();
    if (timer_is_unauthenticated_deadline_) {
      beast::get_lowest_layer(stream_).expires_at(unauthenticated_until_);
    } else {
      beast::get_lowest_layer(stream_).expires_after(ToChrono(allowed));
    }
  }

  // Reads the next request's header; its body is read only once CheckHeader let it through.
  void DoRead() {
    if (state_->draining) return Close();  // the drain began while the last answer was written
    if (!authenticated_ && Clock::now() >= unauthenticated_until_) {
      if (options_.observer != nullptr) options_.observer->UnauthenticatedConnectionTimedOut();
      return Close();
    }
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(options_.max_header_bytes);
    // No limit while the header is read, so that what CheckHeader says of the caller comes
    // before anything about the body; OnHeader sets the real limit.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    // A new connection's first request must come within the request timeout (or its
    // unauthenticated deadline); a kept-alive one may idle longer between requests.
    ExpireReadAfter(requests_ == 0 ? options_.request_timeout : options_.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              if (error) return self->OnReadFailed(error);
                              self->OnHeader();
                            });
  }

  void OnHeader() {
    const HttpRequestHeader& header = parser_->get().base();
    version_ = header.version();
    head_request_ = header.method() == http::verb::head;
    HeaderVerdict verdict = handler_->CheckHeader(header);
    if (verdict.refusal.has_value()) return Refuse(*std::move(verdict.refusal));
    if (verdict.authenticated) authenticated_ = true;
    const uint64_t length = parser_->content_length().value_or(0);
    if (!verdict.authenticated && (length > 0 || parser_->chunked())) {
      return Refuse(ServerError(http::status::payload_too_large, 3,
                                "a request without credentials may not have a body"));
    }
    if (length > options_.max_body_bytes) return Refuse(BodyTooLarge());
    // Counts a chunked body's data too. Its framing (chunk-size lines, their extensions, the
    // trailer) is counted by no limit of Beast's parser (Boost 1.74): the read buffer's cap
    // bounds it (OnReadFailed, buffer_overflow).
    parser_->body_limit(options_.max_body_bytes);
    if (parser_->is_done()) return OnRequest();
    // The body must follow its header within the request timeout.
    ExpireReadAfter(options_.request_timeout);
    if (version_ == 11 && beast::iequals(header[http::field::expect], "100-continue")) {
      // The client waits for this before it sends the body.
      auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *go_on,
                        [self = shared_from_this(), go_on](beast::error_code error, size_t) {
                          if (error) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       if (error) return self->OnReadFailed(error);
                       self->OnRequest();
                     });
  }

  // The request arrived whole: hands it to the handler.
  void OnRequest() {
    ++requests_;
    awaiting_answer_ = true;
    state_->unanswered.fetch_add(1);
    HttpRequest request = parser_->release();
    keep_alive_ = request.keep_alive();
    beast::get_lowest_layer(stream_).expires_never();
    handler_->Handle(std::move(request),
                     std::make_shared<SessionWriter>(shared_from_this()));
  }

  void OnHandshakeFailed(const beast::error_code& error) {
    if (error != net::error::operation_aborted && options_.observer != nullptr) {
      options_.observer->TlsHandshakeFailed();
    }
    OnReadFailed(error);
  }

  // A handshake or a read failed: the request is answered when it is at fault, else the
  // connection is closed (hung up, timed out, TLS failure).
  void OnReadFailed(const beast::error_code& error) {
    if (error == http::error::body_limit) return Refuse(BodyTooLarge());
    if (error == http::error::buffer_overflow) {
      // A part of the request no limit of the parser counts (a chunk-size line, a trailer)
      // fills the read buffer.
      return Refuse(ServerError(
          http::status::bad_request, 3,
          absl::StrCat("a chunk-size line or trailer of the request exceeds ",
                       buffer_.max_size(), " bytes")));
    }
    if (error == http::error::header_limit) {
      return Refuse(ServerError(http::status::request_header_fields_too_large, 3,
                                absl::StrCat("the header exceeds ", options_.max_header_bytes,
                                             " bytes")));
    }
    if (IsMalformedHttp(error)) {
      return Refuse(ServerError(http::status::bad_request, 3, "malformed HTTP request"));
    }
    if (error == beast::error::timeout && timer_is_unauthenticated_deadline_ &&
        options_.observer != nullptr) {
      options_.observer->UnauthenticatedConnectionTimedOut();
    }
    Close();
  }

  HttpResponse BodyTooLarge() const {
    return ServerError(http::status::payload_too_large, 3,
                       absl::StrCat("the body exceeds ", options_.max_body_bytes, " bytes"));
  }

  // Answers the request being read with `response`, leaving the rest of it unread, and then
  // closes the connection.
  void Refuse(HttpResponse response) {
    request_unread_ = true;
    response.keep_alive(false);
    WriteResponse(std::move(response));
  }

  // Closing a socket that has unread data resets the connection, and the reset can destroy an
  // answer the client has not read yet. So once a refusal is written, the sending side is shut
  // (the client sees the answer end) and whatever the client still sends is read and dropped
  // until it hangs up, for at most kLingerAfterRefusal; then the connection is closed.
  void LingerThenClose() {
    beast::error_code ignored;
    auto& tcp_stream = beast::get_lowest_layer(stream_);
    tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp_stream.expires_after(kLingerAfterRefusal);
    DiscardUntilHangUp();
  }

  void DiscardUntilHangUp() {
    buffer_.clear();
    beast::get_lowest_layer(stream_).async_read_some(
        buffer_.prepare(std::min(kDiscardBytes, buffer_.max_size())),
        [self = shared_from_this()](beast::error_code error, size_t) {
          if (error) return self->Close();
          self->DiscardUntilHangUp();
        });
  }

  void WriteNextChunk() {
    if (pending_.empty() || closed_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    ArmStreamWriteDeadline();
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

  // The stream's write about to start (or in progress) must be done within
  // stream_write_timeout, and by end_deadline_ once the handler ended the stream, else the
  // connection is closed (OnStreamWriteDeadline).
  void ArmStreamWriteDeadline() {
    // Setting the expiry cancels the wait armed before.
    stream_timer_.expires_at(std::min(DeadlineAfter(options_.stream_write_timeout), end_deadline_));
    stream_timer_.async_wait([self = shared_from_this()](beast::error_code error) {
      if (!error) self->OnStreamWriteDeadline();
    });
  }

  void OnStreamWriteDeadline() {
    // Nothing is being written, or the timer was armed again after this wait ended.
    if (closed_ || !writing_ || stream_timer_.expiry() > Clock::now()) return;
    spdlog::debug("an event stream's client reads too slowly or not at all; closing it");
    ClientGone();
  }

  // The client hung up, failed a write or reads too slowly: the handler hears of it (unless it
  // ended the stream already) and the connection is closed.
  void ClientGone() {
    if (!end_queued_ && on_client_gone_) {
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
    stream_timer_.cancel();  // its wait holds this session
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
    slot_.Release();  // its descriptor is free again
  }

  // Declared first so that it is let go last, once the socket is closed.
  ConnectionLimiter::Slot slot_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  RequestHandler* const handler_;
  const HttpServerOptions& options_;
  const std::shared_ptr<State> state_;
  // Until a request is authenticated, the connection is closed at this time.
  const Clock::time_point unauthenticated_until_;
  bool authenticated_ = false;
  // The read timer is set to unauthenticated_until_ (so its expiry is that deadline's).
  bool timer_is_unauthenticated_deadline_ = false;
  // The request being answered was refused before it was read to its end.
  bool request_unread_ = false;
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
  // End() was queued, by when all must be written (time_point::max() before).
  bool end_queued_ = false;
  Clock::time_point end_deadline_ = Clock::time_point::max();
  bool ended_ = false;  // the last chunk's write has begun
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::deque<std::optional<std::string>> pending_;
  std::function<void()> on_client_gone_;
  char probe_[64];
  // Bounds each write of the stream (ArmStreamWriteDeadline).
  net::steady_timer stream_timer_;
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
      // Over a cap, the connection is closed at once: no TLS, nothing read, no descriptor kept.
      ConnectionLimiter::Slot slot;
      const tcp::endpoint peer = socket.remote_endpoint(error);
      if (error || !self->state_->limiter->Admit(peer.address(), &slot)) {
        socket.close(error);
        return self->Accept();
      }
      socket.set_option(tcp::no_delay(true), error);
      std::make_shared<Session>(std::move(socket), std::move(slot), self->tls_, self->handler_,
                                self->options_, self->state_)
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
  std::unique_ptr<HttpServer> server(new HttpServer(std::make_shared<ConnectionLimiter>(
      options.max_connections, options.max_connections_per_client, options.observer)));
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

HttpServer::HttpServer(std::shared_ptr<ConnectionLimiter> limiter)
    : state_(std::make_shared<State>(std::move(limiter))) {}

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
