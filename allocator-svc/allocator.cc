#include "allocator-svc/allocator.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "allocator-svc/request_validation.h"
#include "common/box_id.h"
#include "common/invariant.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace berth::allocator {
namespace {

using ::berth::common::FromTimestamp;

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* timestamp) {
  const int64_t micros = absl::ToUnixMicros(time);
  timestamp->set_seconds(micros / 1'000'000);
  timestamp->set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
}

PoolId PortPoolId(v1::Protocol protocol) {
  return protocol == v1::PROTOCOL_UDP ? PoolId::kUdpPorts : PoolId::kTcpPorts;
}

std::string Describe(PoolId pool, int32_t value) {
  switch (pool) {
    case PoolId::kTty:
      return absl::StrCat("tty ", value);
    case PoolId::kTcpPorts:
      return absl::StrCat("tcp host port ", value);
    case PoolId::kUdpPorts:
      return absl::StrCat("udp host port ", value);
  }
  return "";
}

// What a lease holds, in a form that compares equal regardless of port order.
std::string ResourceSummary(int32_t tty, int32_t gpu_index,
                            const google::protobuf::RepeatedPtrField<v1::PortBinding>& ports) {
  std::set<std::tuple<std::string, uint32_t, uint32_t>> sorted;
  for (const v1::PortBinding& port : ports) {
    sorted.emplace(ProtocolName(port.protocol()), port.container_port(), port.host_port());
  }
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("tty ", tty));
  parts.push_back(absl::StrCat("gpu ", gpu_index));
  for (const auto& [protocol, container_port, host_port] : sorted) {
    parts.push_back(absl::StrCat(container_port, "/", protocol, "->", host_port));
  }
  return absl::StrJoin(parts, ", ");
}

// An undo log of values taken from pools, so a failed acquisition leaves the pools exactly as
// they were (free order included).
class TakeLog {
 public:
  void Taken(ValuePool* pool, int32_t value, uint64_t release_seq) {
    values_.push_back({pool, value, release_seq});
  }
  void TakenGpu(GpuSlots* gpus, int32_t index) { gpus_.emplace_back(gpus, index); }
  void TakenUnpooled(std::set<std::pair<PoolId, int32_t>>* held, PoolId pool, int32_t value) {
    unpooled_.push_back({held, {pool, value}});
  }
  void Undo() {
    for (const Entry& entry : values_) entry.pool->Put(entry.value, entry.release_seq);
    for (auto& [gpus, index] : gpus_) gpus->Put(index);
    for (auto& [held, key] : unpooled_) held->erase(key);
    values_.clear();
    gpus_.clear();
    unpooled_.clear();
  }

 private:
  struct Entry {
    ValuePool* pool;
    int32_t value;
    uint64_t release_seq;
  };
  std::vector<Entry> values_;
  std::vector<std::pair<GpuSlots*, int32_t>> gpus_;
  std::vector<std::pair<std::set<std::pair<PoolId, int32_t>>*, std::pair<PoolId, int32_t>>>
      unpooled_;
};

absl::Status ValidateConfig(const AllocatorConfig& config) {
  if (config.ttys.begin < 0 || config.ttys.end > 65536 || config.ttys.size() <= 0) {
    return absl::InvalidArgumentError("tty range must be a non-empty part of 0-65536");
  }
  if (config.ports.begin < 1 || config.ports.end > 65536 || config.ports.size() <= 0) {
    return absl::InvalidArgumentError("port range must be a non-empty part of 1-65536");
  }
  if (config.boxes_per_gpu < 1) {
    return absl::InvalidArgumentError("boxes_per_gpu must be at least 1");
  }
  if (config.max_boxes < 1) return absl::InvalidArgumentError("max_boxes must be at least 1");
  if (config.reserve_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("reserve_grace must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

Allocator::Allocator(const AllocatorConfig& config, const common::Clock* clock,
                     HostPortProbe* probe)
    : config_(config),
      clock_(clock),
      probe_(probe),
      ttys_(config.ttys, {}),
      tcp_ports_(config.ports, config.reserved_ports),
      udp_ports_(config.ports, config.reserved_ports),
      gpus_(config.gpus, config.boxes_per_gpu) {}

absl::StatusOr<std::unique_ptr<Allocator>> Allocator::Create(const AllocatorConfig& config,
                                                             const StoredState& stored,
                                                             const common::Clock* clock,
                                                             HostPortProbe* probe) {
  RETURN_IF_ERROR(ValidateConfig(config));
  std::unique_ptr<Allocator> allocator(new Allocator(config, clock, probe));
  // Free order first, while every value is still free; then the leases.
  for (const FreedValue& freed : stored.release_order) {
    ValuePool& pool = freed.pool == PoolId::kTty       ? allocator->ttys_
                      : freed.pool == PoolId::kUdpPorts ? allocator->udp_ports_
                                                        : allocator->tcp_ports_;
    if (pool.Take(freed.value) == TakeResult::kTaken) pool.Put(freed.value, freed.release_seq);
    allocator->release_seq_ = std::max(allocator->release_seq_, freed.release_seq);
  }
  for (const LeaseRecord& record : stored.leases) {
    absl::Status taken = allocator->TakeExisting(record.lease);
    if (!taken.ok()) {
      return absl::DataLossError(absl::StrCat("stored lease of box ", record.lease.box_id(),
                                              " contradicts another: ", taken.message()));
    }
    allocator->leases_.emplace(record.lease.box_id(), record);
  }
  return allocator;
}

std::string Allocator::Holder(PoolId pool, int32_t value) const {
  for (const auto& [box_id, record] : leases_) {
    const v1::Lease& lease = record.lease;
    if (pool == PoolId::kTty && lease.tty() == value) return box_id;
    for (const v1::PortBinding& port : lease.ports()) {
      if (PortPoolId(port.protocol()) == pool && static_cast<int32_t>(port.host_port()) == value) {
        return box_id;
      }
    }
  }
  return "";
}

absl::Status Allocator::TakeExisting(const v1::Lease& lease) {
  TakeLog log;
  auto take = [&](ValuePool& pool, PoolId id, int32_t value) -> absl::Status {
    uint64_t release_seq = pool.ReleaseSeq(value);
    switch (pool.Take(value)) {
      case TakeResult::kTaken:
        log.Taken(&pool, value, release_seq);
        return absl::OkStatus();
      case TakeResult::kNotPooled:
        // Recorded in the lease; the pool never hands it out, and no other lease may hold it.
        if (!unpooled_held_.insert({id, value}).second) break;
        log.TakenUnpooled(&unpooled_held_, id, value);
        return absl::OkStatus();
      case TakeResult::kInUse:
        break;
    }
    log.Undo();
    return absl::AlreadyExistsError(
        absl::StrCat(Describe(id, value), " is leased to box ", Holder(id, value)));
  };
  if (lease.tty() >= 0) RETURN_IF_ERROR(take(ttys_, PoolId::kTty, lease.tty()));
  for (const v1::PortBinding& port : lease.ports()) {
    RETURN_IF_ERROR(take(PortPool(port.protocol()), PortPoolId(port.protocol()),
                         static_cast<int32_t>(port.host_port())));
  }
  if (lease.gpu_index() >= 0) gpus_.TakeForced(lease.gpu_index());
  return absl::OkStatus();
}

void Allocator::PutBack(const v1::Lease& lease, std::vector<FreedValue>* freed) {
  auto put = [&](ValuePool& pool, PoolId id, int32_t value) {
    if (!pool.Pooled(value)) {
      const size_t erased = unpooled_held_.erase({id, value});
      BERTH_INVARIANT(erased == 1, "a value a lease holds outside the pools is in unpooled_held_");
      return;
    }
    // Put() ignores a value that is free; a lease's value never is.
    BERTH_INVARIANT(!pool.IsFree(value), "a value a lease holds is in use in its pool");
    pool.Put(value, ++release_seq_);
    freed->push_back({id, value, release_seq_});
  };
  if (lease.tty() >= 0) put(ttys_, PoolId::kTty, lease.tty());
  for (const v1::PortBinding& port : lease.ports()) {
    put(PortPool(port.protocol()), PortPoolId(port.protocol()),
        static_cast<int32_t>(port.host_port()));
  }
  if (lease.gpu_index() >= 0) gpus_.Put(lease.gpu_index());
}

absl::Status Allocator::Acquire(const v1::ReserveRequest& request, v1::Lease* lease) {
  TakeLog log;
  auto fail = [&log](absl::Status status) {
    log.Undo();
    return status;
  };
  lease->set_tty(-1);
  lease->set_gpu_index(-1);
  if (request.tty()) {
    std::optional<ValuePool::Taken> tty = ttys_.TakeOldest([](int32_t) { return true; });
    if (!tty) {
      return fail(absl::ResourceExhaustedError(
          absl::StrCat("no free tty: all ", ttys_.total(), " of ", config_.ttys.begin, "-",
                       config_.ttys.end, " are leased")));
    }
    log.Taken(&ttys_, tty->value, tty->release_seq);
    lease->set_tty(tty->value);
  }
  if (request.gpu()) {
    std::optional<int32_t> gpu = gpus_.TakeLeastLoaded();
    if (!gpu) {
      return fail(absl::ResourceExhaustedError(
          config_.gpus.empty() ? std::string("no gpu: this host has none")
                               : absl::StrCat("no free gpu slot: all ", config_.gpus.size(),
                                              " gpus hold ", config_.boxes_per_gpu, " boxes")));
    }
    log.TakenGpu(&gpus_, *gpu);
    lease->set_gpu_index(*gpu);
  }
  // Fixed ports first, so that an "any" port cannot take one a later entry names.
  lease->mutable_ports()->Reserve(request.ports_size());
  for (const v1::PortRequest& wanted : request.ports()) {
    v1::PortBinding* binding = lease->add_ports();
    binding->set_container_port(wanted.container_port());
    binding->set_protocol(wanted.protocol());
    binding->set_host_port(wanted.host_port());
  }
  for (v1::PortBinding& binding : *lease->mutable_ports()) {
    if (binding.host_port() == 0) continue;
    ValuePool& pool = PortPool(binding.protocol());
    const PoolId id = PortPoolId(binding.protocol());
    const auto port = static_cast<int32_t>(binding.host_port());
    const uint64_t release_seq = pool.ReleaseSeq(port);
    switch (pool.Take(port)) {
      case TakeResult::kNotPooled:
        return fail(absl::InvalidArgumentError(
            absl::StrCat(Describe(id, port), " is reserved on this host")));
      case TakeResult::kInUse:
        return fail(absl::ResourceExhaustedError(
            absl::StrCat(Describe(id, port), " is leased to box ", Holder(id, port))));
      case TakeResult::kTaken:
        log.Taken(&pool, port, release_seq);
        break;
    }
    if (probe_->InUse(binding.protocol(), static_cast<uint16_t>(port))) {
      return fail(absl::ResourceExhaustedError(
          absl::StrCat(Describe(id, port), " is held by another process on the host")));
    }
  }
  for (v1::PortBinding& binding : *lease->mutable_ports()) {
    if (binding.host_port() != 0) continue;
    ValuePool& pool = PortPool(binding.protocol());
    const v1::Protocol protocol = binding.protocol();
    std::optional<ValuePool::Taken> port = pool.TakeOldest(
        [&](int32_t value) { return !probe_->InUse(protocol, static_cast<uint16_t>(value)); });
    if (!port) {
      return fail(absl::ResourceExhaustedError(
          absl::StrCat("no free ", ProtocolName(protocol), " host port in ", config_.ports.begin,
                       "-", config_.ports.end, ": ", pool.used(), " of ", pool.total(),
                       " leased, the rest held by other processes")));
    }
    log.Taken(&pool, port->value, port->release_seq);
    binding.set_host_port(static_cast<uint32_t>(port->value));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ReserveResponse> Allocator::Reserve(const v1::ReserveRequest& request,
                                                       std::vector<Mutation>* changes) {
  RETURN_IF_ERROR(ValidateReserveRequest(request, config_.ports));
  v1::ReserveResponse response;
  if (auto it = leases_.find(request.box_id()); it != leases_.end()) {
    if (it->second.request.SerializeAsString() != request.SerializeAsString()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "box ", request.box_id(), " already holds a lease made by a different request; ",
          "release it first"));
    }
    *response.mutable_lease() = it->second.lease;
    response.set_created(false);
    return response;
  }
  if (leases_.size() >= config_.max_boxes) {
    return absl::ResourceExhaustedError(absl::StrCat("no box capacity: the host holds ",
                                                     leases_.size(), " of ", config_.max_boxes,
                                                     " boxes"));
  }
  LeaseRecord record;
  record.request = request;
  record.lease.set_box_id(request.box_id());
  record.lease.set_state(v1::LEASE_STATE_RESERVED);
  RETURN_IF_ERROR(Acquire(request, &record.lease));
  SetTimestamp(clock_->Now(), record.lease.mutable_reserved_at());
  *response.mutable_lease() = record.lease;
  response.set_created(true);
  changes->push_back({Mutation::Kind::kInsert, record, {}});
  leases_.emplace(request.box_id(), std::move(record));
  return response;
}

absl::StatusOr<v1::BindResponse> Allocator::Bind(const v1::BindRequest& request,
                                                 std::vector<Mutation>* changes) {
  RETURN_IF_ERROR(ValidateBindRequest(request));
  auto it = leases_.find(request.box_id());
  if (it == leases_.end()) {
    return absl::NotFoundError(absl::StrCat("box ", request.box_id(), " holds no lease"));
  }
  v1::Lease& lease = it->second.lease;
  if (lease.state() == v1::LEASE_STATE_BOUND && lease.container_id() != request.container_id()) {
    return absl::FailedPreconditionError(absl::StrCat("box ", request.box_id(),
                                                      " is bound to container ",
                                                      lease.container_id()));
  }
  if (lease.state() != v1::LEASE_STATE_BOUND) {
    lease.set_state(v1::LEASE_STATE_BOUND);
    lease.set_container_id(request.container_id());
    SetTimestamp(clock_->Now(), lease.mutable_bound_at());
    changes->push_back({Mutation::Kind::kUpdate, it->second, {}});
  }
  v1::BindResponse response;
  *response.mutable_lease() = lease;
  return response;
}

void Allocator::ReleaseLease(std::map<std::string, LeaseRecord>::iterator it,
                             std::vector<Mutation>* changes) {
  Mutation mutation{Mutation::Kind::kDelete, std::move(it->second), {}};
  PutBack(mutation.record.lease, &mutation.freed);
  leases_.erase(it);
  changes->push_back(std::move(mutation));
}

absl::StatusOr<v1::ReleaseResponse> Allocator::Release(const v1::ReleaseRequest& request,
                                                       std::vector<Mutation>* changes) {
  RETURN_IF_ERROR(common::ValidateBoxId(request.box_id()));
  v1::ReleaseResponse response;
  auto it = leases_.find(request.box_id());
  if (it == leases_.end()) return response;
  response.set_released(true);
  *response.mutable_lease() = it->second.lease;
  ReleaseLease(it, changes);
  return response;
}

absl::StatusOr<v1::GetResponse> Allocator::Get(const v1::GetRequest& request) const {
  RETURN_IF_ERROR(common::ValidateBoxId(request.box_id()));
  auto it = leases_.find(request.box_id());
  if (it == leases_.end()) {
    return absl::NotFoundError(absl::StrCat("box ", request.box_id(), " holds no lease"));
  }
  v1::GetResponse response;
  *response.mutable_lease() = it->second.lease;
  return response;
}

absl::StatusOr<v1::ListResponse> Allocator::List(const v1::ListRequest& request) const {
  if (!v1::LeaseState_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state ", static_cast<int>(request.state()), " is not a LeaseState"));
  }
  v1::ListResponse response;
  for (const auto& [box_id, record] : leases_) {
    if (request.state() == v1::LEASE_STATE_UNSPECIFIED ||
        record.lease.state() == request.state()) {
      *response.add_leases() = record.lease;
    }
  }
  return response;
}

LeaseCounts Allocator::CountLeases() const {
  LeaseCounts counts;
  for (const auto& [box_id, record] : leases_) {
    ++(record.lease.state() == v1::LEASE_STATE_BOUND ? counts.bound : counts.reserved);
  }
  return counts;
}

v1::CapacityResponse Allocator::Capacity() const {
  auto fill = [](uint32_t total, uint32_t used, v1::ResourceUsage* usage) {
    usage->set_total(total);
    usage->set_used(used);
    usage->set_free(total > used ? total - used : 0);
  };
  v1::CapacityResponse response;
  fill(config_.max_boxes, static_cast<uint32_t>(leases_.size()), response.mutable_boxes());
  fill(ttys_.total(), ttys_.used(), response.mutable_ttys());
  fill(tcp_ports_.total(), tcp_ports_.used(), response.mutable_tcp_ports());
  fill(udp_ports_.total(), udp_ports_.used(), response.mutable_udp_ports());
  fill(gpus_.total(), gpus_.used(), response.mutable_gpu_slots());
  for (const GpuSlots::Usage& gpu : gpus_.PerGpu()) {
    v1::GpuUsage* usage = response.add_gpus();
    usage->set_gpu_index(gpu.gpu_index);
    fill(static_cast<uint32_t>(gpus_.boxes_per_gpu()), gpu.used, usage->mutable_slots());
  }
  return response;
}

absl::StatusOr<v1::ReconcileResponse> Allocator::Reconcile(const v1::ReconcileRequest& request,
                                                           std::vector<Mutation>* changes) {
  RETURN_IF_ERROR(ValidateReconcileRequest(request));
  std::set<std::string> live;
  for (const v1::LiveBox& box : request.live_boxes()) live.insert(box.box_id());

  v1::ReconcileResponse response;
  const absl::Time now = clock_->Now();
  // Gone boxes first, so that what they free is there for live boxes that lack a lease.
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto next = std::next(it);
    const v1::Lease& lease = it->second.lease;
    const bool young_reservation = lease.state() == v1::LEASE_STATE_RESERVED &&
                                   now - FromTimestamp(lease.reserved_at()) < config_.reserve_grace;
    const bool newer_than_list =
        request.has_listed_at() &&
        (FromTimestamp(lease.reserved_at()) >= FromTimestamp(request.listed_at()) ||
         (lease.has_bound_at() &&
          FromTimestamp(lease.bound_at()) >= FromTimestamp(request.listed_at())));
    if (live.count(it->first) == 0 && !young_reservation && !newer_than_list) {
      response.add_released(it->first);
      ReleaseLease(it, changes);
    }
    it = next;
  }
  for (const v1::LiveBox& box : request.live_boxes()) {
    ReconcileLiveBox(box, &response, changes);
  }
  return response;
}

void Allocator::ReconcileLiveBox(const v1::LiveBox& box, v1::ReconcileResponse* response,
                                         std::vector<Mutation>* changes) {
  auto add_conflict = [&](absl::string_view reason) {
    v1::ReconcileConflict* conflict = response->add_conflicts();
    conflict->set_box_id(box.box_id());
    conflict->set_reason(std::string(reason));
  };
  const int32_t tty = box.tty() >= 0 ? box.tty() : -1;
  const int32_t gpu = box.gpu_index() >= 0 ? box.gpu_index() : -1;

  if (auto it = leases_.find(box.box_id()); it != leases_.end()) {
    v1::Lease& lease = it->second.lease;
    const bool rebind = lease.state() != v1::LEASE_STATE_BOUND ||
                        (!box.container_id().empty() && lease.container_id() != box.container_id());
    if (rebind) {
      lease.set_state(v1::LEASE_STATE_BOUND);
      lease.set_container_id(box.container_id());
      SetTimestamp(clock_->Now(), lease.mutable_bound_at());
      changes->push_back({Mutation::Kind::kUpdate, it->second, {}});
      response->add_bound(box.box_id());
    }
    std::string held = ResourceSummary(tty, gpu, box.ports());
    std::string leased = ResourceSummary(lease.tty(), lease.gpu_index(), lease.ports());
    if (held != leased) {
      add_conflict(absl::StrCat("the lease holds [", leased, "] but the box holds [", held, "]"));
    }
    return;
  }

  LeaseRecord record;
  v1::Lease& lease = record.lease;
  lease.set_box_id(box.box_id());
  lease.set_state(v1::LEASE_STATE_BOUND);
  lease.set_tty(tty);
  lease.set_gpu_index(gpu);
  lease.set_container_id(box.container_id());
  *lease.mutable_ports() = box.ports();
  absl::Status taken = TakeExisting(lease);
  if (!taken.ok()) {
    add_conflict(absl::StrCat("cannot lease what the box holds: ", taken.message()));
    return;
  }
  SetTimestamp(clock_->Now(), lease.mutable_reserved_at());
  *lease.mutable_bound_at() = lease.reserved_at();
  record.request.set_box_id(box.box_id());
  record.request.set_tty(tty >= 0);
  record.request.set_gpu(gpu >= 0);
  for (const v1::PortBinding& port : box.ports()) {
    v1::PortRequest* wanted = record.request.add_ports();
    wanted->set_container_port(port.container_port());
    wanted->set_protocol(port.protocol());
    wanted->set_host_port(port.host_port());
  }
  response->add_leased(box.box_id());
  changes->push_back({Mutation::Kind::kInsert, record, {}});
  leases_.emplace(box.box_id(), std::move(record));
}

std::vector<std::string> Allocator::ReclaimExpired(std::vector<Mutation>* changes) {
  std::vector<std::string> reclaimed;
  const absl::Time now = clock_->Now();
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto next = std::next(it);
    const v1::Lease& lease = it->second.lease;
    if (lease.state() == v1::LEASE_STATE_RESERVED &&
        now - FromTimestamp(lease.reserved_at()) >= config_.reserve_grace) {
      reclaimed.push_back(it->first);
      ReleaseLease(it, changes);
    }
    it = next;
  }
  return reclaimed;
}

}  // namespace berth::allocator
