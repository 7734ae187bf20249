#ifndef BERTH_GATEWAY_BACKEND_BACKEND_H_
#define BERTH_GATEWAY_BACKEND_BACKEND_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

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

// One backend daemon reached over gRPC, called generically: requests and responses are
// serialized messages and methods are named by their full path ("/berth.box.v1.Boxes/Get"), so
// that the gateway needs no code per RPC. Calls never wait for a backend that is down (no
// wait_for_ready): they fail with UNAVAILABLE at once, or DEADLINE_EXCEEDED. Callbacks run on
// gRPC's threads and must not block. Every call in flight is known, so that a shutdown can end
// them and wait for their callbacks before what those use is destroyed. Thread-safe.
class Backend {
 public:
  using UnaryDone = std::function<void(const grpc::Status&, std::string response)>;
  using StreamMessage = std::function<void(std::string message)>;
  using StreamDone = std::function<void(const grpc::Status&)>;

  // `name` is used in logs and metrics ("docker-svc").
  Backend(std::string name, const std::string& address);

  const std::string& name() const { return name_; }

  void Unary(const std::string& method, std::string request, absl::Duration timeout,
             const CallMetadata& metadata, UnaryDone done);

  // Sends `request` and calls on_message for each response until the stream ends, then
  // on_done. It runs until the server ends it, Cancel(), or `deadline` (then on_done gets
  // DEADLINE_EXCEEDED); absl::InfiniteFuture() for none.
  std::shared_ptr<StreamHandle> ServerStream(const std::string& method, std::string request,
                                             const CallMetadata& metadata, absl::Time deadline,
                                             StreamMessage on_message, StreamDone on_done);

  // grpc.health.v1.Health/Check of the whole server, bounded by `timeout`; done(true) when
  // it answers SERVING.
  void CheckHealth(absl::Duration timeout, std::function<void(bool serving)> done);

  // Cancels the calls in flight (only the streams with `streams_only`); their callbacks still
  // run, once each, with CANCELLED.
  void CancelCalls(bool streams_only);
  // Waits until every call's last callback has returned, or until `deadline`. True when none
  // is left. A call started meanwhile is waited for too.
  bool WaitIdle(absl::Time deadline);

  // The calls in flight (internal; public so that the calls can name it).
  class CallSet;

 private:
  const std::string name_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  // Shared with the calls, which outlive the Backend when a shutdown gives up waiting on them.
  std::shared_ptr<CallSet> calls_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_BACKEND_BACKEND_H_
