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

namespace {

// A schema this agent cannot run against stops the start; a database that cannot be reached
// does not (the agent keeps trying, the host serves on its own meanwhile).
absl::Status CheckSchemaAtStart(const AgentConfig& config) {
  absl::StatusOr<std::unique_ptr<pg::Connection>> db =
      pg::Connection::Open(config.database, config.database_password, absl::Seconds(5));
  if (!db.ok()) {
    spdlog::warn("PostgreSQL not reachable at start ({}); the agent keeps trying",
                 db.status().ToString());
    return absl::OkStatus();
  }
  absl::StatusOr<int> version =
      config.migrate_at_start ? Migrate(**db) : SchemaVersion(**db);
  if (version.ok() || version.status().code() != absl::StatusCode::kFailedPrecondition) {
    return absl::OkStatus();
  }
  return version.status();
}

}  // namespace

absl::Status Run(const AgentConfig& config) {
  common::PrepareDaemonProcess();
  ASSIGN_OR_RETURN(common::UnixSocketClaim claim, common::UnixSocketClaim::Claim(config.listen));
  RETURN_IF_ERROR(CheckSchemaAtStart(config));
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
