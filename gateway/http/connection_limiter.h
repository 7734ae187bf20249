#ifndef BERTH_GATEWAY_HTTP_CONNECTION_LIMITER_H_
#define BERTH_GATEWAY_HTTP_CONNECTION_LIMITER_H_

#include <memory>
#include <string>

#include <boost/asio/ip/address.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace berth::gateway {

// Told what the HTTP server does with connections, for metrics. Called from the server's
// threads; must not block.
class ConnectionObserver {
 public:
  enum class Refusal {
    kMaxConnections,           // the server holds its cap of connections
    kMaxConnectionsPerClient,  // the client's address holds its cap
  };
  virtual ~ConnectionObserver() = default;
  virtual void ConnectionOpened() = 0;
  virtual void ConnectionClosed() = 0;
  virtual void ConnectionRefused(Refusal why) = 0;
  // A connection was closed for not authenticating a request in time.
  virtual void UnauthenticatedConnectionTimedOut() = 0;
  // A connection's TLS handshake failed: the client does not speak TLS, refused the
  // certificate or what the server offers, hung up or timed out during it. (The server's own
  // closing of a connection at shutdown is not told.)
  virtual void TlsHandshakeFailed() = 0;
};

// The key under which a client's connections are counted: its IPv4 address (also when mapped
// into IPv6), or the /64 prefix of an IPv6 address, since one subscriber usually holds a whole
// /64 and would otherwise have 2^64 addresses' worth of caps.
std::string ClientKey(const boost::asio::ip::address& address);

// Counts the server's open connections, in all and per client key, against two caps, and tells
// the observer of every connection opened, closed or refused. Thread-safe.
class ConnectionLimiter : public std::enable_shared_from_this<ConnectionLimiter> {
 public:
  // Holds one admitted connection's place until destroyed (or Release()d). Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept = default;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { Release(); }
    void Release();

   private:
    friend class ConnectionLimiter;
    Slot(std::shared_ptr<ConnectionLimiter> limiter, std::string client)
        : limiter_(std::move(limiter)), client_(std::move(client)) {}
    std::shared_ptr<ConnectionLimiter> limiter_;  // null: holds nothing
    std::string client_;
  };

  // `max_total`, `max_per_client`: 0 means no cap. `observer` may be null; else it must outlive
  // every slot.
  ConnectionLimiter(int max_total, int max_per_client, ConnectionObserver* observer)
      : max_total_(max_total), max_per_client_(max_per_client), observer_(observer) {}

  // Admits a connection from `client` into `slot`, or returns false (and tells the observer
  // which cap refused it) when the server or that client already holds its cap.
  bool Admit(const boost::asio::ip::address& client, Slot* slot);

  int open() const;

 private:
  void Release(const std::string& client);

  const int max_total_;
  const int max_per_client_;
  ConnectionObserver* const observer_;
  mutable absl::Mutex mu_;
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int> per_client_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_HTTP_CONNECTION_LIMITER_H_
