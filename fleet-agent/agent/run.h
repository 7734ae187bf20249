#ifndef BERTH_FLEET_AGENT_AGENT_RUN_H_
#define BERTH_FLEET_AGENT_AGENT_RUN_H_

#include "absl/status/status.h"
#include "fleet-agent/agent/config.h"

namespace berth::fleet {

// The daemon: claims `config.listen` (health and reflection, READY=1 and the watchdog like the
// other daemons), runs the Agent until SIGTERM. Returns why it could not start, or OK.
absl::Status Run(const AgentConfig& config);

// `--migrate`: brings the database's schema to this build's newest version and returns.
absl::Status MigrateOnly(const AgentConfig& config);

}  // namespace berth::fleet

#endif  // BERTH_FLEET_AGENT_AGENT_RUN_H_
