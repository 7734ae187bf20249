#include "allocator-svc/allocator_service.h"

#include <utility>

#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "spdlog/spdlog.h"

namespace berth::allocator {
namespace {

// Stores a StatusOr's value into the call's response.
template <typename T>
absl::Status Fill(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return result.status();
  *response = std::move(*result);
  return absl::OkStatus();
}

// How long a read waits for memory to be put back to the durable state after a change failed
// on a full disk (see Run()); after that it is refused.
constexpr absl::Duration kResyncWait = absl::Seconds(5);

}  // namespace

AllocatorService::AllocatorService(std::unique_ptr<Allocator> allocator, GroupCommitter* committer,
                                   AllocatorMetrics* metrics)
    : allocator_(std::move(allocator)), committer_(committer), metrics_(metrics) {}

AllocatorService::~AllocatorService() {
  {
    absl::MutexLock lock(&reclaimer_mu_);
    stopping_ = true;
  }
  if (reclaimer_.joinable()) reclaimer_.join();
}

void AllocatorService::StartReclaimer(absl::Duration period) {
  reclaimer_ = std::thread([this, period] { ReclaimLoop(period); });
}

void AllocatorService::ReclaimLoop(absl::Duration period) {
  absl::MutexLock lock(&reclaimer_mu_);
  while (!reclaimer_mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) {
    absl::MutexLock allocator_lock(&mu_);
    if (!committer_->AcceptsWrites()) continue;  // The disk is full: reclaim once it is not.
    std::vector<Mutation> changes;
    std::vector<std::string> reclaimed = allocator_->ReclaimExpired(&changes);
    if (reclaimed.empty()) continue;
    std::string boxes = absl::StrJoin(reclaimed, ", ");
    committer_->Submit(std::move(changes), [boxes](absl::Status status) {
      if (status.ok()) {
        spdlog::warn("reclaimed reservations whose container never appeared: {}", boxes);
      }
    });
  }
}

absl::Status AllocatorService::Resync(const StoredState& durable) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::unique_ptr<Allocator>> restored = allocator_->Recreate(durable);
  if (!restored.ok()) return restored.status();
  allocator_ = *std::move(restored);
  committer_->Resynced();
  return absl::OkStatus();
}

void AllocatorService::UpdateHoldings() {
  if (metrics_ == nullptr) return;
  v1::CapacityResponse capacity;
  LeaseCounts leases;
  {
    absl::MutexLock lock(&mu_);
    capacity = allocator_->Capacity();
    leases = allocator_->CountLeases();
  }
  metrics_->SetHoldings(capacity, leases);
}

void AllocatorService::Finish(grpc::ServerUnaryReactor* reactor, Method method,
                              const absl::Status& status) {
  if (metrics_ != nullptr) metrics_->Answered(method, status.code());
  reactor->Finish(common::ToGrpcStatus(status));
}

grpc::ServerUnaryReactor* AllocatorService::Run(
    grpc::CallbackServerContext* context, Method method, Access access,
    const std::function<absl::Status(Allocator&, std::vector<Mutation>*)>& operation) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (access == Access::kRead) {
      // Just after a change failed on a full disk, memory may hold what is not durable until
      // the committer has put it back (milliseconds): a read waits for that rather than fail.
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](GroupCommitter* committer) { return !committer->AwaitingResync(); }, committer_),
          kResyncWait);
    } else {
      status = committer_->WritesRefused();
    }
    std::vector<Mutation> changes;
    if (status.ok()) status = operation(*allocator_, &changes);
    if (status.ok()) {
      committer_->Submit(std::move(changes), [this, reactor, method](absl::Status durable) {
        Finish(reactor, method, durable);
      });
      return reactor;
    }
  }
  Finish(reactor, method, status);
  return reactor;
}

grpc::ServerUnaryReactor* AllocatorService::Reserve(grpc::CallbackServerContext* context,
                                                    const v1::ReserveRequest* request,
                                                    v1::ReserveResponse* response) {
  return Run(context, Method::kReserve, Access::kWrite,
             [&](Allocator& allocator, std::vector<Mutation>* changes) {
               return Fill(allocator.Reserve(*request, changes), response);
             });
}

grpc::ServerUnaryReactor* AllocatorService::Bind(grpc::CallbackServerContext* context,
                                                 const v1::BindRequest* request,
                                                 v1::BindResponse* response) {
  return Run(context, Method::kBind, Access::kWrite,
             [&](Allocator& allocator, std::vector<Mutation>* changes) {
               return Fill(allocator.Bind(*request, changes), response);
             });
}

grpc::ServerUnaryReactor* AllocatorService::Release(grpc::CallbackServerContext* context,
                                                    const v1::ReleaseRequest* request,
                                                    v1::ReleaseResponse* response) {
  return Run(context, Method::kRelease, Access::kWrite,
             [&](Allocator& allocator, std::vector<Mutation>* changes) {
               return Fill(allocator.Release(*request, changes), response);
             });
}

grpc::ServerUnaryReactor* AllocatorService::Get(grpc::CallbackServerContext* context,
                                                const v1::GetRequest* request,
                                                v1::GetResponse* response) {
  return Run(context, Method::kGet, Access::kRead,
             [&](Allocator& allocator, std::vector<Mutation>*) {
               return Fill(allocator.Get(*request), response);
             });
}

grpc::ServerUnaryReactor* AllocatorService::List(grpc::CallbackServerContext* context,
                                                 const v1::ListRequest* request,
                                                 v1::ListResponse* response) {
  return Run(context, Method::kList, Access::kRead,
             [&](Allocator& allocator, std::vector<Mutation>*) {
               return Fill(allocator.List(*request), response);
             });
}

grpc::ServerUnaryReactor* AllocatorService::Capacity(grpc::CallbackServerContext* context,
                                                     const v1::CapacityRequest* request,
                                                     v1::CapacityResponse* response) {
  return Run(context, Method::kCapacity, Access::kRead,
             [&](Allocator& allocator, std::vector<Mutation>*) {
               *response = allocator.Capacity();
               return absl::OkStatus();
             });
}

grpc::ServerUnaryReactor* AllocatorService::Reconcile(grpc::CallbackServerContext* context,
                                                      const v1::ReconcileRequest* request,
                                                      v1::ReconcileResponse* response) {
  return Run(
      context, Method::kReconcile, Access::kWrite,
      [&](Allocator& allocator, std::vector<Mutation>* changes) {
        absl::Status status = Fill(allocator.Reconcile(*request, changes), response);
        if (status.ok()) {
          // docker-svc reconciles every resync: only one that changed something is news.
          const bool changed = !changes->empty() || response->conflicts_size() > 0;
          spdlog::log(
              changed ? spdlog::level::info : spdlog::level::debug,
              "reconcile of {} live boxes: released [{}], leased [{}], bound [{}], {} conflicts",
              request->live_boxes_size(), absl::StrJoin(response->released(), ", "),
              absl::StrJoin(response->leased(), ", "), absl::StrJoin(response->bound(), ", "),
              response->conflicts_size());
          for (const v1::ReconcileConflict& conflict : response->conflicts()) {
            spdlog::warn("reconcile conflict for box {}: {}", conflict.box_id(), conflict.reason());
          }
        }
        return status;
      });
}

}  // namespace berth::allocator
