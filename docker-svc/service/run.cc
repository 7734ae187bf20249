#include "docker-svc/service/run.h"

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "docker-svc/boxes/app_profiles.h"
#include "docker-svc/boxes/box_manager.h"
#include "docker-svc/boxes/box_metrics.h"
#include "docker-svc/boxes/warm_pool.h"
#include "docker-svc/engine/curl_docker_client.h"
#include "docker-svc/engine/observed_docker_client.h"
#include "docker-svc/service/boxes_service.h"
#include "docker-svc/service/grpc_lease_client.h"
#include "spdlog/spdlog.h"

namespace berth::docker {

namespace {

// A client of the engine at config.docker_socket. FAILED_PRECONDITION when the engine speaks
// too old an API (no retry helps); an engine that cannot tell its version yet is only logged.
absl::StatusOr<std::unique_ptr<DockerClient>> ConnectDocker(const Config& config) {
  CurlDockerClientConfig docker_config;
  docker_config.socket_path = config.docker_socket;
  docker_config.request_timeout = config.docker_timeout;
  ASSIGN_OR_RETURN(std::unique_ptr<DockerClient> docker, MakeCurlDockerClient(docker_config));
  absl::StatusOr<std::string> version = docker->Version();
  if (version.ok()) {
    spdlog::info("docker engine at {} speaks API {}", config.docker_socket, *version);
  } else if (version.status().code() == absl::StatusCode::kFailedPrecondition) {
    return version.status();  // too old an engine: no retry helps
  } else {
    spdlog::warn("docker engine: {}; waiting for it", version.status().ToString());
  }
  return docker;
}

BoxManagerOptions ManagerOptions(const Config& config) {
  BoxManagerOptions options;
  options.boxes_dir = config.boxes_dir;
  options.resync_interval = config.resync_interval;
  options.disk_check_interval = config.disk_check_interval;
  options.user_limits.max_boxes_per_user = config.max_boxes_per_user;
  options.user_limits.default_ttl = config.user_box_ttl;
  options.user_limits.max_ttl = config.user_box_max_ttl;
  return options;
}

// Each app's warm pool size: its profile's, unless config.warm_pool overrides it.
// INVALID_ARGUMENT when config.warm_pool names an app without a profile.
absl::StatusOr<std::map<std::string, int>> WarmPoolSizes(const AppCatalog& catalog,
                                                         const Config& config) {
  std::map<std::string, int> pools;
  for (const std::string& app : catalog.names()) {
    pools[app] = static_cast<int>(catalog.Find(app)->warm_pool_size());
  }
  for (const auto& [app, size] : config.warm_pool) {
    if (catalog.Find(app) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--warm_pool: no app profile ", app));
    }
    pools[app] = size;
  }
  return pools;
}

}  // namespace

absl::Status Run(const Config& config) {
  common::PrepareDaemonProcess();
  common::Metrics metrics;
  BoxMetrics box_metrics(metrics.registry());
  ASSIGN_OR_RETURN(common::UnixSocketClaim claim, common::UnixSocketClaim::Claim(config.listen));
  RETURN_IF_ERROR(metrics.Serve(config.metrics_listen));
  ASSIGN_OR_RETURN(AppCatalog catalog, LoadAppProfiles(config.apps_dir));
  spdlog::info("serving {} apps from {}: {}", catalog.size(), config.apps_dir,
               absl::StrJoin(catalog.names(), ", "));
  ASSIGN_OR_RETURN(std::unique_ptr<DockerClient> engine, ConnectDocker(config));
  ObservedDockerClient docker(engine.get(), [&box_metrics](const char* operation) {
    box_metrics.DockerApiFailed(operation);
  });

  std::unique_ptr<LeaseClient> leases =
      MakeGrpcLeaseClient(config.allocator, config.allocator_timeout);
  common::SystemClock clock;
  BoxManagerOptions options = ManagerOptions(config);
  options.metrics = &box_metrics;
  ASSIGN_OR_RETURN(std::unique_ptr<BoxManager> manager,
                   BoxManager::Create(options, &catalog, &docker, leases.get(), &clock));
  const common::Metrics::ScrapeHook census =
      metrics.OnScrape([&box_metrics, &manager] { box_metrics.SetCensus(manager->Census()); });
  RETURN_IF_ERROR(manager->Recover());
  manager->Start();
  absl::StatusOr<std::map<std::string, int>> pools = WarmPoolSizes(catalog, config);
  if (!pools.ok()) return pools.status();
  for (const auto& [app, size] : *pools) box_metrics.SetWarmPoolTarget(app, size);
  WarmPool warm_pool(manager.get(), *std::move(pools));
  warm_pool.Start();

  BoxesService service(manager.get(), leases.get(), config.assignment_wait, config.max_watches);
  common::ServeOptions serve;
  serve.name = "docker-svc";
  serve.services = {&service};
  serve.service_names = {box::v1::Boxes::service_full_name()};
  serve.shutdown_grace = config.shutdown_grace;
  serve.socket_group = config.socket_group;
  serve.liveness = [&manager] { return manager->Liveness(); };
  serve.abandon_work = [&warm_pool, &manager] {
    warm_pool.Stop();
    manager->Shutdown();  // teardowns still retrying give up; the restart finishes them
  };
  absl::Status served = common::ServeUntilSignalled(serve, claim);
  warm_pool.Stop();
  manager->Shutdown();
  return served;
}

}  // namespace berth::docker
