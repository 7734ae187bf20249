#ifndef BERTH_DOCKER_SVC_SERVICE_RUN_H_
#define BERTH_DOCKER_SVC_SERVICE_RUN_H_

#include "absl/status/status.h"
#include "docker-svc/service/config.h"

namespace berth::docker {

// Runs docker-svc: loads the app profiles (a malformed one stops the start), checks the Docker
// engine's API version, recovers the boxes that exist (README, Restart), then serves
// berth.box.v1.Boxes on config.listen until SIGTERM/SIGINT. Boxes keep running after it stops.
// Returns OK after a clean stop, or why it could not start.
absl::Status Run(const Config& config);

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_SERVICE_RUN_H_
