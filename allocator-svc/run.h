#ifndef BERTH_ALLOCATOR_SVC_RUN_H_
#define BERTH_ALLOCATOR_SVC_RUN_H_

#include "absl/status/status.h"
#include "allocator-svc/config.h"

namespace berth::allocator {

// Runs allocator-svc: opens and loads the state file, serves berth.allocator.v1.Allocator on
// config.listen until SIGTERM/SIGINT, then commits what is queued. Returns OK after a clean
// stop, or why it could not start.
absl::Status Run(const Config& config);

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_RUN_H_
