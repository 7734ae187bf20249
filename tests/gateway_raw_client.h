#ifndef BERTH_TESTS_GATEWAY_RAW_CLIENT_H_
#define BERTH_TESTS_GATEWAY_RAW_CLIENT_H_

// What curl cannot do to the gateway, for the tests of its defences: many connections that
// idle without a byte, and TLS connections that send a request piecemeal, stop half-way or
// linger. Real sockets, real TLS (OpenSSL, certificates not verified).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace berth::testing {

// Raises this process's soft RLIMIT_NOFILE to at least `needed` (up to its hard limit), for
// tests that hold many sockets; FAILED_PRECONDITION when the hard limit is lower.
absl::Status EnsureFileLimit(uint64_t needed);

// Options of a client socket, set before it connects.
struct SocketOptions {
  // SO_RCVBUF in bytes; 0: the kernel's default (the kernel's minimum is some 2 KiB).
  int receive_buffer = 0;
  // TCP_MAXSEG: the segment size the server is asked to send; 0: the default. Linux sizes a
  // connection's send buffer by it, so with a small one and a small receive buffer a client
  // that stops reading blocks the server's writes after some 25 KiB (instead of megabytes).
  int max_segment = 0;
};

// A TCP connection to 127.0.0.1:`port` from `source_ip` (any 127.x.y.z); its descriptor.
absl::StatusOr<int> ConnectTcp(uint16_t port, const std::string& source_ip = "127.0.0.1",
                               const SocketOptions& options = {});

// Plain TCP connections that send nothing, the way an attacker holds a server's descriptors.
class IdleConnections {
 public:
  IdleConnections() = default;
  ~IdleConnections();  // closes what is still open
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  // Opens `count` more to 127.0.0.1:`port` from `source_ip`; fails on the first that fails.
  absl::Status Open(int count, uint16_t port, const std::string& source_ip = "127.0.0.1");
  // How many the server has closed (a read would see the end, or a reset).
  int ClosedByServer() const;
  // Closes `count` of those still open on this side (the server's first).
  void CloseSome(int count);
  int size() const { return static_cast<int>(fds_.size()); }

 private:
  std::vector<int> fds_;  // -1: closed here
};

// One TLS connection to 127.0.0.1:`port`, whose every step gives up at a deadline instead of
// hanging the test. A server that resets the connection fails the step (SIGPIPE is kept from
// this thread while it writes), rather than killing the test.
class TlsConnection {
 public:
  // Connects from `source_ip` and completes the TLS handshake within `timeout`.
  static absl::StatusOr<std::unique_ptr<TlsConnection>> Open(
      uint16_t port, const std::string& source_ip = "127.0.0.1",
      absl::Duration timeout = absl::Seconds(30), const SocketOptions& socket_options = {});
  ~TlsConnection();

  // Sends `bytes` within `timeout`.
  absl::Status Write(absl::string_view bytes, absl::Duration timeout = absl::Seconds(30));

  struct Received {
    std::string data;
    bool closed = false;  // the server ended (or reset) the connection
  };
  // Reads until what arrived on the connection holds `needle` (empty: until the connection
  // ends) or `timeout` passes; everything that arrived so far.
  Received ReadUntil(absl::string_view needle, absl::Duration timeout);
  // Reads until the server ends the connection or `timeout` passes.
  Received ReadUntilClosed(absl::Duration timeout) { return ReadUntil("", timeout); }

 private:
  struct Impl;
  explicit TlsConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_GATEWAY_RAW_CLIENT_H_
