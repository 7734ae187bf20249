#include "bench/fake_dockerd/engine_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/fake_dockerd/engine_wire.h"
#include "spdlog/spdlog.h"

namespace berth::fake_dockerd {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

// The largest request body taken (a create's is a few KiB).
constexpr uint64_t kMaxBodyBytes = 8 << 20;
// An event stream whose reader is this far behind is cut off.
constexpr size_t kMaxStreamBacklogBytes = 16 << 20;
// After a failed accept (out of descriptors, say), the next one waits this long.
constexpr std::chrono::milliseconds kAcceptRetry{100};

// Whether a server answers on `path` (a connect succeeds).
bool SomeoneListens(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool answered = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return answered;
}

template <typename Body>
void SetEngineHeaders(http::response<Body>& response) {
  response.set(http::field::server, "Docker/20.10.24 (linux)");
  response.set("Api-Version", kApiVersion);
  response.set("Docker-Experimental", "false");
  response.set("Ostype", "linux");
}

class Connection;

}  // namespace

// What the acceptor and every connection share.
struct EngineServer::State {
  State(net::io_context& io_context, FakeEngine* fake_engine)
      : io(io_context), engine(fake_engine), acceptor(io_context), retry(io_context) {}

  net::io_context& io;
  FakeEngine* const engine;
  Local::acceptor acceptor;
  net::steady_timer retry;
  bool stopped = false;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> open;
};

namespace {

using State = EngineServer::State;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Local::socket socket, std::shared_ptr<State> state)
      : socket_(std::move(socket)), state_(std::move(state)), timer_(state_->io) {}

  void Start() {
    state_->open.emplace(this, weak_from_this());
    ReadHeader();
  }

  // Ends the connection: its stream's subscription, a pending start's answer, the socket.
  // Never from inside an EventSink (the engine is iterating over its subscribers then).
  void Close() {
    if (closed_) return;
    closed_ = true;
    if (subscription_ != 0) state_->engine->Unsubscribe(subscription_);
    subscription_ = 0;
    timer_.cancel();
    beast::error_code ignored;
    socket_.shutdown(Local::socket::shutdown_both, ignored);
    socket_.close(ignored);
    state_->open.erase(this);
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(kMaxBodyBytes);
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t) { self->OnHeader(error); });
  }

  void OnHeader(beast::error_code error) {
    if (closed_) return;
    if (error) return OnReadError(error);
    const auto& header = parser_->get();
    if (beast::iequals(header[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto go_on = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      net::async_write(socket_, net::buffer(*go_on),
                       [self = shared_from_this(), go_on](beast::error_code e, size_t) {
                         if (e) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code error, size_t) { self->OnRequest(error); });
  }

  void OnReadError(beast::error_code error) {
    if (error == http::error::body_limit) {
      return Answer(ApiResponse{413, "application/json", ErrorJson("request body too large")},
                    /*keep_alive=*/false);
    }
    if (error != http::error::end_of_stream && error != http::error::partial_message &&
        error != net::error::eof && error != net::error::connection_reset &&
        error != net::error::operation_aborted) {
      spdlog::debug("connection: {}", error.message());
      if (error.category() == http::make_error_code(http::error::bad_target).category()) {
        return Answer(ApiResponse{400, "application/json", ErrorJson("malformed HTTP request")},
                      /*keep_alive=*/false);
      }
    }
    Close();
  }

  void OnRequest(beast::error_code error) {
    if (closed_) return;
    if (error) return OnReadError(error);
    http::request<http::string_body> request = parser_->release();
    parser_.reset();
    version_ = request.version();
    head_ = request.method() == http::verb::head;
    const bool keep_alive = request.keep_alive();
    ApiRequest api{std::string(request.method_string()), std::string(request.target()),
                   std::move(request.body())};
    ApiOutcome outcome = state_->engine->Handle(api);
    if (auto* response = std::get_if<ApiResponse>(&outcome)) {
      spdlog::debug("{} {} -> {}", api.method, api.target, response->status);
      return Answer(std::move(*response), keep_alive);
    }
    if (auto* deferred = std::get_if<DeferredResponse>(&outcome)) {
      timer_.expires_after(absl::ToChronoNanoseconds(deferred->delay));
      timer_.async_wait([self = shared_from_this(), then = std::move(deferred->then), keep_alive,
                         api](beast::error_code timer_error) {
        if (timer_error || self->closed_) return;
        ApiResponse response = then();
        spdlog::debug("{} {} -> {} (delayed)", api.method, api.target, response.status);
        self->Answer(std::move(response), keep_alive);
      });
      return;
    }
    spdlog::debug("{} {} -> stream", api.method, api.target);
    StartStream(std::get<EventStreamRequest>(outcome));
  }

  void Answer(ApiResponse answer, bool keep_alive) {
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(answer.status), version_);
    SetEngineHeaders(*response);
    if (!answer.content_type.empty()) {
      response->set(http::field::content_type, answer.content_type);
    }
    response->keep_alive(keep_alive && !state_->stopped);
    if (!head_) response->body() = std::move(answer.body);
    // 204 and 304 have no body and, as Docker sends them, no Content-Length either.
    if (answer.status != 204 && answer.status != 304) response->prepare_payload();
    http::async_write(socket_, *response,
                      [self = shared_from_this(), response](beast::error_code error, size_t) {
                        if (error || !response->keep_alive()) return self->Close();
                        self->ReadHeader();
                      });
  }

  void StartStream(const EventStreamRequest& request) {
    http::response<http::empty_body> head(http::status::ok, version_);
    SetEngineHeaders(head);
    head.set(http::field::content_type, "application/json");
    head.chunked(true);
    std::ostringstream text;
    text << head.base();
    Send(text.str());
    subscription_ =
        state_->engine->Subscribe(request, [weak = weak_from_this()](const std::string& line) {
          std::shared_ptr<Connection> self = weak.lock();
          return self != nullptr && self->SendChunk(line);
        });
    if (subscription_ == 0) return Later([](Connection& self) { self.Close(); });
    WatchForHangUp();
  }

  // Queues one chunk of the stream; false once the stream is over (or too far behind).
  bool SendChunk(const std::string& line) {
    if (closed_) return false;
    if (backlog_ + line.size() > kMaxStreamBacklogBytes) {
      spdlog::warn("an event stream's reader is {} bytes behind; closing it", backlog_);
      Later([](Connection& self) { self.Close(); });
      return false;
    }
    Send(absl::StrFormat("%x\r\n%s\r\n", line.size(), line));
    return true;
  }

  void Send(std::string bytes) {
    backlog_ += bytes.size();
    outbox_.push_back(std::move(bytes));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (closed_ || outbox_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    net::async_write(socket_, net::buffer(outbox_.front()),
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       if (self->closed_) return;
                       if (error) return self->Close();
                       self->backlog_ -= self->outbox_.front().size();
                       self->outbox_.pop_front();
                       self->WriteNext();
                     });
  }

  // A stream's client sends nothing more; a read ends when it hangs up.
  void WatchForHangUp() {
    socket_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              if (self->closed_) return;
                              if (error) return self->Close();
                              self->WatchForHangUp();
                            });
  }

  template <typename Function>
  void Later(Function function) {
    net::post(state_->io, [self = shared_from_this(), function] { function(*self); });
  }

  Local::socket socket_;
  std::shared_ptr<State> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  unsigned version_ = 11;
  bool head_ = false;
  bool closed_ = false;
  net::steady_timer timer_;
  // The event stream.
  uint64_t subscription_ = 0;
  std::deque<std::string> outbox_;
  size_t backlog_ = 0;
  bool writing_ = false;
  char discard_[512];
};

void Accept(const std::shared_ptr<State>& state) {
  state->acceptor.async_accept([state](beast::error_code error, Local::socket socket) {
    if (state->stopped) return;
    if (error) {
      spdlog::warn("accept: {}", error.message());
      state->retry.expires_after(kAcceptRetry);
      state->retry.async_wait([state](beast::error_code) {
        if (!state->stopped) Accept(state);
      });
      return;
    }
    std::make_shared<Connection>(std::move(socket), state)->Start();
    Accept(state);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<EngineServer>> EngineServer::Start(net::io_context& io,
                                                                  const std::string& socket_path,
                                                                  FakeEngine* engine) {
  if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path must be 1 to 107 bytes: '", socket_path, "'"));
  }
  struct stat existing {};
  if (lstat(socket_path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(socket_path, " exists and is not a socket"));
    }
    if (SomeoneListens(socket_path)) {
      return absl::FailedPreconditionError(
          absl::StrCat("a server already answers on ", socket_path));
    }
    unlink(socket_path.c_str());
  }
  auto state = std::make_shared<State>(io, engine);
  beast::error_code error;
  state->acceptor.open(Local(), error);
  if (!error) state->acceptor.bind(Local::endpoint(socket_path), error);
  if (!error) state->acceptor.listen(net::socket_base::max_listen_connections, error);
  if (error) {
    return absl::InternalError(absl::StrCat("listen on ", socket_path, ": ", error.message()));
  }
  Accept(state);
  return std::unique_ptr<EngineServer>(new EngineServer(socket_path, std::move(state)));
}

EngineServer::EngineServer(std::string socket_path, std::shared_ptr<State> state)
    : socket_path_(std::move(socket_path)), state_(std::move(state)) {}

EngineServer::~EngineServer() {
  Stop();
  unlink(socket_path_.c_str());
}

void EngineServer::Stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  state_->retry.cancel();
  std::vector<std::shared_ptr<Connection>> open;
  for (const auto& [raw, weak] : state_->open) {
    if (std::shared_ptr<Connection> connection = weak.lock()) open.push_back(connection);
  }
  for (const std::shared_ptr<Connection>& connection : open) connection->Close();
  state_->open.clear();
}

}  // namespace berth::fake_dockerd
