#ifndef BERTH_GATEWAY_BACKEND_BACKEND_H_
#define BERTH_GATEWAY_BACKEND_BACKEND_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace berth::gateway {

// Metadata sent with a call, e.g. {"berth-user", "u1"}.
using CallMetadata = std::map<std::string, std::string>;

// A running server-streaming call. Cancel() ends it from any thread (the client hung up);
// on_done still runs, once.
class StreamHandle {
 public:
  virtual ~StreamHandle() = default;
  virtual void Cancel() = 0;
};

// One backend daemon, called generically: requests and responses are serialized messages and
// methods are named by their full path ("/berth.box.v1.Boxes/Get"), so that the gateway needs
// no code per RPC. What the gateway's request handling needs of a backend, whatever carries
// the calls (GrpcBackend in production).
//
// Contract of every implementation:
// - Calls never wait for a backend that is down: they fail with UNAVAILABLE at once, or
//   DEADLINE_EXCEEDED.
// - Each call's final callback (UnaryDone, StreamDone, CheckHealth's `done`) runs exactly once,
//   on any thread, possibly before the call returns. Callbacks must not block.
// - A failed call's status is one its callers may see: the backend's own error as the backend
//   said it, or one that says what the failure means to a caller (never transport detail).
// - Thread-safe.
class Backend {
 public:
  using UnaryDone = std::function<void(const absl::Status&, std::string response)>;
  using StreamMessage = std::function<void(std::string message)>;
  using StreamDone = std::function<void(const absl::Status&)>;

  virtual ~Backend() = default;

  // Used in logs and metrics ("docker-svc").
  virtual const std::string& name() const = 0;

  // Calls `method` with `request`, bounded by `timeout`; done(OK, response bytes) or
  // done(error, "").
  virtual void Unary(const std::string& method, std::string request, absl::Duration timeout,
                     const CallMetadata& metadata, UnaryDone done) = 0;

  // Sends `request` and calls on_message for each response until the stream ends, then
  // on_done. It runs until the server ends it, Cancel() (on_done gets CANCELLED), or `deadline`
  // (on_done gets DEADLINE_EXCEEDED); absl::InfiniteFuture() for none. on_message never runs
  // after on_done.
  virtual std::shared_ptr<StreamHandle> ServerStream(const std::string& method, std::string request,
                                                     const CallMetadata& metadata,
                                                     absl::Time deadline, StreamMessage on_message,
                                                     StreamDone on_done) = 0;

  // grpc.health.v1.Health/Check of the whole server, bounded by `timeout`; done(true) when
  // it answers SERVING.
  virtual void CheckHealth(absl::Duration timeout, std::function<void(bool serving)> done) = 0;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_BACKEND_BACKEND_H_
