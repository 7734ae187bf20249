#ifndef BERTH_COMMON_GRPC_STATUS_H_
#define BERTH_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace berth::common {

// The one place where absl::Status and grpc::Status meet. Both follow google.rpc.Code, so the
// codes map one to one and the message is kept.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Every answer of a Berth daemon carries this trailing metadata, whose value is the daemon's
// name: a client tells by it the service's own errors (meant for callers) from those its gRPC
// library made up (a missing socket, a dropped connection, its own deadline).
inline constexpr char kAnsweredByMetadata[] = "berth-answered-by";

}  // namespace berth::common

#endif  // BERTH_COMMON_GRPC_STATUS_H_
