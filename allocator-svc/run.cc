#include "allocator-svc/run.h"

#include <unistd.h>

#include <cstdlib>

#include "allocator-svc/allocator_metrics.h"
#include "allocator-svc/allocator_service.h"
#include "allocator-svc/group_commit.h"
#include "allocator-svc/host_ports.h"
#include "allocator-svc/lease_store.h"
#include "common/daemon.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace berth::allocator {
namespace {

// How often expired reservations are looked for: often enough that one outlives its grace by
// a small fraction at most.
absl::Duration ReclaimPeriod(absl::Duration grace) {
  return std::clamp(grace / 10, absl::Milliseconds(100), absl::Seconds(10));
}

// How often a full state disk is tried again: space that returns is used within this.
constexpr absl::Duration kFullDiskRetryInterval = absl::Seconds(1);

}  // namespace

absl::Status Run(const Config& config) {
  common::PrepareDaemonProcess();
  common::Metrics metrics;
  AllocatorMetrics allocator_metrics(metrics.registry());
  ASSIGN_OR_RETURN(common::UnixSocketClaim claim, common::UnixSocketClaim::Claim(config.listen));
  RETURN_IF_ERROR(metrics.Serve(config.metrics_listen));
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<LeaseStore> store, LeaseStore::Open(config.db));
  ASSIGN_OR_RETURN(StoredState stored, store->Load());
  common::SystemClock clock;
  RETURN_IF_ERROR(CheckHostPortProbe());
  if (!SeesHostNetwork()) {
    spdlog::warn("allocator-svc sees no network interface but loopback: in a private network "
                 "namespace it cannot see which host ports other processes hold");
  }
  std::unique_ptr<HostPortProbe> probe = MakeBindingHostPortProbe();
  ASSIGN_OR_RETURN(std::unique_ptr<Allocator> allocator,
                   Allocator::Create(config.allocator, stored, &clock, probe.get()));
  const absl::Duration recovery = absl::Now() - start;
  allocator_metrics.Recovered(recovery);
  spdlog::info("loaded {} leases from {} in {}", allocator->lease_count(), config.db,
               absl::FormatDuration(recovery));

  // A full state disk is survived (writes refused until space returns, memory put back to the
  // durable state); any other failed write ends the process, and the service manager restarts
  // it from the durable state.
  AllocatorService* resync_target = nullptr;  // Set before any change can be submitted.
  FullDiskOptions full_disk;
  full_disk.resync = [&resync_target](const StoredState& durable) {
    return resync_target->Resync(durable);
  };
  full_disk.retry_interval = kFullDiskRetryInterval;
  GroupCommitter committer(
      store.get(), &clock,
      [](const absl::Status& status) {
        spdlog::critical("{}; exiting", status.ToString());
        spdlog::default_logger()->flush();
        _exit(EXIT_FAILURE);
      },
      std::move(full_disk),
      [&allocator_metrics](size_t changes, absl::Duration took) {
        allocator_metrics.Committed(changes, took);
      });
  AllocatorService service(std::move(allocator), &committer, &allocator_metrics);
  resync_target = &service;
  const common::Metrics::ScrapeHook holdings =
      metrics.OnScrape([&service] { service.UpdateHoldings(); });
  service.StartReclaimer(ReclaimPeriod(config.allocator.reserve_grace));

  common::ServeOptions options;
  options.name = "allocator-svc";
  options.services = {&service};
  options.service_names = {v1::Allocator::service_full_name()};
  options.shutdown_grace = config.shutdown_grace;
  options.socket_group = config.socket_group;
  options.liveness = [&committer] { return committer.Check(); };
  absl::Status served = common::ServeUntilSignalled(options, claim);
  committer.Stop();
  return served;
}

}  // namespace berth::allocator
