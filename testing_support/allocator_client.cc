#include "testing_support/allocator_client.h"

#include <chrono>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "allocator-svc/host_ports.h"
#include "common/grpc_status.h"
#include "testing_support/grpc_call.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::allocator::v1;

}  // namespace

AllocatorClient::AllocatorClient(const std::string& address, absl::Duration timeout)
    : timeout_(timeout) {
  stub_ = v1::Allocator::NewStub(NewTestChannel(address));
}

absl::StatusOr<v1::ReserveResponse> AllocatorClient::Reserve(const v1::ReserveRequest& request) {
  return CallWithDeadline(&v1::Allocator::Stub::Reserve, stub_.get(), request, timeout_);
}

absl::StatusOr<v1::BindResponse> AllocatorClient::Bind(const std::string& box_id,
                                                       const std::string& container_id) {
  v1::BindRequest request;
  request.set_box_id(box_id);
  request.set_container_id(container_id);
  return CallWithDeadline(&v1::Allocator::Stub::Bind, stub_.get(), request, timeout_);
}

absl::StatusOr<v1::ReleaseResponse> AllocatorClient::Release(const std::string& box_id) {
  v1::ReleaseRequest request;
  request.set_box_id(box_id);
  return CallWithDeadline(&v1::Allocator::Stub::Release, stub_.get(), request, timeout_);
}

absl::StatusOr<v1::Lease> AllocatorClient::Get(const std::string& box_id) {
  v1::GetRequest request;
  request.set_box_id(box_id);
  absl::StatusOr<v1::GetResponse> response =
      CallWithDeadline(&v1::Allocator::Stub::Get, stub_.get(), request, timeout_);
  if (!response.ok()) return response.status();
  return response->lease();
}

absl::StatusOr<v1::ListResponse> AllocatorClient::List(v1::LeaseState state) {
  v1::ListRequest request;
  request.set_state(state);
  return CallWithDeadline(&v1::Allocator::Stub::List, stub_.get(), request, timeout_);
}

absl::StatusOr<v1::CapacityResponse> AllocatorClient::Capacity() {
  return CallWithDeadline(&v1::Allocator::Stub::Capacity, stub_.get(), v1::CapacityRequest(), timeout_);
}

absl::StatusOr<v1::ReconcileResponse> AllocatorClient::Reconcile(
    const v1::ReconcileRequest& request) {
  return CallWithDeadline(&v1::Allocator::Stub::Reconcile, stub_.get(), request, timeout_);
}

std::string UnixAddress(const std::string& path) { return absl::StrCat("unix:", path); }

absl::StatusOr<std::unique_ptr<DaemonProcess>> StartAllocator(const AllocatorFlags& flags) {
  DaemonProcess::Options options;
  options.binary = DaemonBinary("allocator-svc");
  options.args = {absl::StrCat("--listen=", UnixAddress(flags.socket)),
                  absl::StrCat("--db=", flags.db)};
  options.args.insert(options.args.end(), flags.extra.begin(), flags.extra.end());
  options.env = flags.env;
  options.log_path = flags.log_path;
  return DaemonProcess::Start(options);
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> StartServingAllocator(const AllocatorFlags& flags,
                                                                     absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = StartAllocator(flags);
  if (!daemon.ok()) return daemon.status();
  absl::Status serving = (*daemon)->WaitServing(UnixAddress(flags.socket), timeout);
  if (!serving.ok()) {
    std::string log = flags.log_path.empty() ? "" : ReadFileOrEmpty(flags.log_path);
    return absl::Status(serving.code(), absl::StrCat(serving.message(), "; log:\n", log));
  }
  return daemon;
}

AllocatorFlags AllocatorFlagsIn(const TempDir& dir, const std::string& name,
                                std::vector<std::string> extra) {
  AllocatorFlags flags;
  flags.socket = dir.File(absl::StrCat(name, ".sock"));
  flags.db = dir.File(absl::StrCat(name, ".db"));
  flags.log_path = dir.File(absl::StrCat(name, ".log"));
  flags.extra = std::move(extra);
  return flags;
}

v1::PortRequest Port(uint32_t container_port, v1::Protocol protocol, uint32_t host_port) {
  v1::PortRequest port;
  port.set_container_port(container_port);
  port.set_protocol(protocol);
  port.set_host_port(host_port);
  return port;
}

v1::ReserveRequest ReserveRequest(const std::string& box_id, std::vector<v1::PortRequest> ports,
                                  bool tty, bool gpu) {
  v1::ReserveRequest request;
  request.set_box_id(box_id);
  for (v1::PortRequest& port : ports) *request.add_ports() = std::move(port);
  request.set_tty(tty);
  request.set_gpu(gpu);
  return request;
}

bool HostPortIsFree(v1::Protocol protocol, uint16_t port) {
  static const std::unique_ptr<allocator::HostPortProbe> probe =
      allocator::MakeBindingHostPortProbe();
  return !probe->InUse(protocol, port);
}

std::optional<uint16_t> FindFreePortRange(int count, uint16_t from, uint16_t to) {
  for (int begin = from; begin + count <= to; ++begin) {
    bool free = true;
    for (int port = begin; free && port < begin + count; ++port) {
      free = HostPortIsFree(v1::PROTOCOL_TCP, static_cast<uint16_t>(port)) &&
             HostPortIsFree(v1::PROTOCOL_UDP, static_cast<uint16_t>(port));
      if (!free) begin = port;  // The next candidate starts after the busy port.
    }
    if (free) return static_cast<uint16_t>(begin);
  }
  return std::nullopt;
}

}  // namespace berth::testing
