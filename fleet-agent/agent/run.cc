#include "fleet-agent/agent/run.h"

#include "common/daemon.h"
#include "common/grpc_channel.h"
#include "common/status_macros.h"
#include "fleet-agent/agent/agent.h"
#include "fleet-agent/schema/schema.h"
#include "spdlog/spdlog.h"

namespace berth::fleet {

// The name under which the health service reports the agent.
constexpr char kHealthName[] = "berth.fleet.Agent";

absl::Status Run(const AgentConfig& config) {
  common::PrepareDaemonProcess();
  ASSIGN_OR_RETURN(common::UnixSocketClaim claim, common::UnixSocketClaim::Claim(config.listen));
  Agent agent(config, common::NewDaemonChannel(config.boxes));
  agent.Start();
  spdlog::info("fleet-agent for host {} ({}), docker-svc at {}", config.host.id,
               config.host.address, config.boxes);

  common::ServeOptions options;
  options.name = "fleet-agent";
  options.service_names = {kHealthName};
  options.shutdown_grace = config.shutdown_grace;
  options.socket_group = config.socket_group;
  options.liveness = [&agent] { return agent.Liveness(); };
  options.abandon_work = [&agent] { agent.Stop(); };
  absl::Status served = common::ServeUntilSignalled(options, claim);
  agent.Stop();
  return served;
}

absl::Status MigrateOnly(const AgentConfig& config) {
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> db,
                   pg::Connection::Open(config.database, config.database_password,
                                        absl::Seconds(10)));
  const absl::StatusOr<int> before = SchemaVersion(*db);
  ASSIGN_OR_RETURN(int version, Migrate(*db));
  spdlog::info("the berth schema is at version {} (was {})", version, before.value_or(0));
  return absl::OkStatus();
}

}  // namespace berth::fleet
