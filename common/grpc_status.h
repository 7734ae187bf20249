#ifndef BERTH_COMMON_GRPC_STATUS_H_
#define BERTH_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace berth::common {

// The one place where absl::Status and grpc::Status meet. Both follow google.rpc.Code, so the
// codes map one to one and the message is kept.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace berth::common

#endif  // BERTH_COMMON_GRPC_STATUS_H_
