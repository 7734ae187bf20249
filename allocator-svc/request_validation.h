#ifndef BERTH_ALLOCATOR_SVC_REQUEST_VALIDATION_H_
#define BERTH_ALLOCATOR_SVC_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "berth/allocator/v1/allocator.pb.h"
#include "common/value_parsing.h"

namespace berth::allocator {

// The most ports one lease may hold, so that no single request can drain a pool.
inline constexpr int kMaxPortsPerLease = 64;

// Checks a Reserve request on its own: box id, 1-kMaxPortsPerLease ports each with a known
// protocol, container port 1-65535, a fixed host port (when given) inside `port_range`, no
// container port/protocol twice, no fixed host port/protocol twice. Reserved ports are the
// allocator's business. INVALID_ARGUMENT names the offending field.
absl::Status ValidateReserveRequest(const v1::ReserveRequest& request,
                                    const common::IntRange& port_range);

// Checks a Bind request: box id, and a container id of 1-128 characters of [A-Za-z0-9].
absl::Status ValidateBindRequest(const v1::BindRequest& request);

// Checks a Reconcile request: every live box has a valid box id, no box id appears twice, and
// every port has a known protocol and ports in 1-65535.
absl::Status ValidateReconcileRequest(const v1::ReconcileRequest& request);

// "tcp" or "udp".
const char* ProtocolName(v1::Protocol protocol);

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_REQUEST_VALIDATION_H_
