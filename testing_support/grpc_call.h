#ifndef BERTH_TESTING_SUPPORT_GRPC_CALL_H_
#define BERTH_TESTING_SUPPORT_GRPC_CALL_H_

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace berth::testing {

// A channel of its own (its own connection, as a separate client process would have) that
// reconnects within 200 ms after a daemon restart instead of gRPC's default seconds. (Not
// GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the connect timeout, and a loaded
// server does not finish a handshake in 50 ms.)
inline std::shared_ptr<grpc::Channel> NewTestChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// One blocking unary call with a deadline and without wait_for_ready (a daemon that is down
// fails the call at once), answering an absl status so that tests can use IsOk/StatusIs.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> CallWithDeadline(
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*), Stub* stub,
    const Request& request, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  Response response;
  grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return common::FromGrpcStatus(status);
  return response;
}

}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_GRPC_CALL_H_
