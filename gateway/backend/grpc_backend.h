#ifndef BERTH_GATEWAY_BACKEND_GRPC_BACKEND_H_
#define BERTH_GATEWAY_BACKEND_GRPC_BACKEND_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gateway/backend/backend.h"

namespace berth::gateway {

// A Backend reached over gRPC through the generic stub. Calls never wait for a backend that
// is down (no wait_for_ready). Callbacks run on gRPC's threads. A failed call keeps the
// backend's own status when its answer carries common::kAnsweredByMetadata; one gRPC made up on
// this side (a missing socket, a dropped connection, its own deadline) is replaced by what it
// means to a caller ("docker-svc is unavailable; try again"). Every call in flight is known, so
// that a shutdown can end them and wait for their callbacks before what those use is
// destroyed. Thread-safe.
class GrpcBackend final : public Backend {
 public:
  // `name` is used in logs and metrics ("docker-svc"); `address` as common::NewDaemonChannel
  // takes it ("unix:/run/berth/boxes.sock").
  GrpcBackend(std::string name, const std::string& address);

  const std::string& name() const override { return name_; }

  void Unary(const std::string& method, std::string request, absl::Duration timeout,
             const CallMetadata& metadata, UnaryDone done) override;
  std::shared_ptr<StreamHandle> ServerStream(const std::string& method, std::string request,
                                             const CallMetadata& metadata, absl::Time deadline,
                                             StreamMessage on_message, StreamDone on_done) override;
  void CheckHealth(absl::Duration timeout, std::function<void(bool serving)> done) override;

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
  // Shared with the calls, which outlive the GrpcBackend when a shutdown gives up waiting on
  // them.
  std::shared_ptr<CallSet> calls_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_BACKEND_GRPC_BACKEND_H_
