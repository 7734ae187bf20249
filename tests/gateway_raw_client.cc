#include "tests/gateway_raw_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace berth::testing {
namespace {

sockaddr_in LoopbackAddress(const std::string& ip, uint16_t port, bool* ok) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  *ok = inet_pton(AF_INET, ip.c_str(), &address.sin_addr) == 1;
  return address;
}

// Milliseconds left until `deadline` for poll(), at least 0.
int MillisecondsUntil(absl::Time deadline) {
  const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
  return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, 1 << 30)));
}

// Keeps SIGPIPE from this thread while it lives: a write to a connection the server reset
// raises it, and its default action would kill the test binary without a word. The signal is
// blocked, and one raised meanwhile is taken off the thread before the mask is restored, so
// that the write just fails (EPIPE). Touches no other thread, nor the children the tests
// start (which would inherit an ignored SIGPIPE).
class SigpipeSuppressed {
 public:
  SigpipeSuppressed() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
    pending_before_ = SigpipePending();
  }
  ~SigpipeSuppressed() {
    const int saved_errno = errno;
    if (!pending_before_ && SigpipePending()) {
      const timespec no_wait{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &no_wait) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    errno = saved_errno;
  }
  SigpipeSuppressed(const SigpipeSuppressed&) = delete;
  SigpipeSuppressed& operator=(const SigpipeSuppressed&) = delete;

 private:
  static bool SigpipePending() {
    sigset_t pending;
    sigemptyset(&pending);
    return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  }
  sigset_t pipe_;
  sigset_t previous_;
  bool pending_before_ = false;
};

}  // namespace

absl::Status EnsureFileLimit(uint64_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::InternalError("getrlimit");
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= needed) return absl::OkStatus();
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this test holds ", needed, " sockets but the hard RLIMIT_NOFILE is ", limit.rlim_max));
  }
  limit.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(absl::StrCat("setrlimit: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ConnectTcp(uint16_t port, const std::string& source_ip,
                               const SocketOptions& options) {
  bool ok_source = false;
  bool ok_target = false;
  const sockaddr_in source = LoopbackAddress(source_ip, 0, &ok_source);
  const sockaddr_in target = LoopbackAddress("127.0.0.1", port, &ok_target);
  if (!ok_source || !ok_target) return absl::InvalidArgumentError("bad address " + source_ip);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  // A connect the server's backlog does not take in time fails instead of hanging the test.
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if ((options.receive_buffer > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer,
                                                sizeof(options.receive_buffer)) != 0) ||
      (options.max_segment > 0 && setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &options.max_segment,
                                             sizeof(options.max_segment)) != 0)) {
    const int error = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("setsockopt: ", std::strerror(error)));
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0 ||
      connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect from ", source_ip, " to port ", port, ": ", std::strerror(error)));
  }
  return fd;
}

// ---- IdleConnections ------------------------------------------------------------------------

IdleConnections::~IdleConnections() {
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

absl::Status IdleConnections::Open(int count, uint16_t port, const std::string& source_ip) {
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<int> fd = ConnectTcp(port, source_ip);
    if (!fd.ok()) {
      return absl::Status(fd.status().code(), absl::StrCat("idle connection ", fds_.size() + 1,
                                                           ": ", fd.status().message()));
    }
    fds_.push_back(*fd);
  }
  return absl::OkStatus();
}

int IdleConnections::ClosedByServer() const {
  int closed = 0;
  for (int fd : fds_) {
    if (fd < 0) continue;
    char byte;
    const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) ++closed;
  }
  return closed;
}

void IdleConnections::CloseSome(int count) {
  for (int& fd : fds_) {
    if (count == 0) return;
    if (fd < 0) continue;
    close(fd);
    fd = -1;
    --count;
  }
}

// ---- TlsConnection --------------------------------------------------------------------------

struct TlsConnection::Impl {
  ~Impl() {
    if (ssl != nullptr) SSL_free(ssl);
    if (context != nullptr) SSL_CTX_free(context);
    if (fd >= 0) close(fd);
  }

  // Runs `step` (an SSL_* call) until it succeeds, fails, or `deadline` passes, waiting for the
  // socket as OpenSSL asks. Its result (> 0 on success), or -1 when the deadline passed.
  template <typename Step>
  int Drive(Step step, absl::Time deadline, bool* peer_ended) {
    SigpipeSuppressed no_sigpipe;
    while (true) {
      ERR_clear_error();
      const int result = step();
      if (result > 0) return result;
      const int error = SSL_get_error(ssl, result);
      short events = 0;
      if (error == SSL_ERROR_WANT_READ) {
        events = POLLIN;
      } else if (error == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else {
        *peer_ended = true;  // the peer closed or reset the connection, or TLS failed
        return 0;
      }
      pollfd waiting{fd, events, 0};
      if (poll(&waiting, 1, MillisecondsUntil(deadline)) <= 0) return -1;
    }
  }

  int fd = -1;
  SSL_CTX* context = nullptr;
  SSL* ssl = nullptr;
  std::string received;
  bool ended = false;
};

TlsConnection::TlsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsConnection::~TlsConnection() = default;

absl::StatusOr<std::unique_ptr<TlsConnection>> TlsConnection::Open(
    uint16_t port, const std::string& source_ip, absl::Duration timeout,
    const SocketOptions& socket_options) {
  const absl::Time deadline = absl::Now() + timeout;
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<int> fd = ConnectTcp(port, source_ip, socket_options);
  if (!fd.ok()) return fd.status();
  impl->fd = *fd;
  fcntl(impl->fd, F_SETFL, fcntl(impl->fd, F_GETFL) | O_NONBLOCK);
  impl->context = SSL_CTX_new(TLS_client_method());
  if (impl->context == nullptr) return absl::InternalError("SSL_CTX_new");
  SSL_CTX_set_verify(impl->context, SSL_VERIFY_NONE, nullptr);
  impl->ssl = SSL_new(impl->context);
  if (impl->ssl == nullptr || SSL_set_fd(impl->ssl, impl->fd) != 1) {
    return absl::InternalError("SSL_new");
  }
  bool ended = false;
  const int handshake = impl->Drive([&] { return SSL_connect(impl->ssl); }, deadline, &ended);
  if (handshake <= 0) {
    return absl::UnavailableError(ended ? "the server ended the TLS handshake"
                                        : "no TLS handshake in time");
  }
  return std::unique_ptr<TlsConnection>(new TlsConnection(std::move(impl)));
}

absl::Status TlsConnection::Write(absl::string_view bytes, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!bytes.empty()) {
    bool ended = false;
    const int written = impl_->Drive(
        [&] { return SSL_write(impl_->ssl, bytes.data(), static_cast<int>(bytes.size())); },
        deadline, &ended);
    if (written <= 0) {
      return absl::UnavailableError(ended ? "the server ended the connection"
                                          : "could not write in time");
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

TlsConnection::Received TlsConnection::ReadUntil(absl::string_view needle, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  auto done = [&] {
    return impl_->ended || (!needle.empty() && absl::StrContains(impl_->received, needle));
  };
  while (!done()) {
    char buffer[16384];
    const int n = impl_->Drive([&] { return SSL_read(impl_->ssl, buffer, sizeof(buffer)); },
                               deadline, &impl_->ended);
    if (n < 0) break;  // the deadline passed
    if (n > 0) impl_->received.append(buffer, static_cast<size_t>(n));
  }
  return Received{impl_->received, impl_->ended};
}

}  // namespace berth::testing
