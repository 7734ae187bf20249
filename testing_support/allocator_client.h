#ifndef BERTH_TESTING_SUPPORT_ALLOCATOR_CLIENT_H_
#define BERTH_TESTING_SUPPORT_ALLOCATOR_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/allocator/v1/allocator.grpc.pb.h"
#include "common/testing/read_file.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {

// A blocking client of a real allocator-svc: every call has a deadline (and no
// wait_for_ready, so a daemon that is down fails the call at once) and answers an absl status,
// so that tests can use IsOk/StatusIs.
class AllocatorClient {
 public:
  explicit AllocatorClient(const std::string& address,
                           absl::Duration timeout = absl::Seconds(10));

  absl::StatusOr<allocator::v1::ReserveResponse> Reserve(
      const allocator::v1::ReserveRequest& request);
  absl::StatusOr<allocator::v1::BindResponse> Bind(const std::string& box_id,
                                                   const std::string& container_id);
  absl::StatusOr<allocator::v1::ReleaseResponse> Release(const std::string& box_id);
  absl::StatusOr<allocator::v1::Lease> Get(const std::string& box_id);
  absl::StatusOr<allocator::v1::ListResponse> List(
      allocator::v1::LeaseState state = allocator::v1::LEASE_STATE_UNSPECIFIED);
  absl::StatusOr<allocator::v1::CapacityResponse> Capacity();
  absl::StatusOr<allocator::v1::ReconcileResponse> Reconcile(
      const allocator::v1::ReconcileRequest& request);

  allocator::v1::Allocator::Stub& stub() { return *stub_; }

 private:
  const absl::Duration timeout_;
  std::unique_ptr<allocator::v1::Allocator::Stub> stub_;
};

// How to run one allocator-svc.
struct AllocatorFlags {
  std::string socket;  // File system path of the unix socket.
  std::string db;
  // Further flags, "--name=value".
  std::vector<std::string> extra;
  // Extra environment entries of the child.
  std::vector<std::string> env;
  // Where the daemon's stderr goes (appended); empty: inherited.
  std::string log_path;
};

// Flags for an allocator-svc whose socket, state file and log are <name>.sock, <name>.db and
// <name>.log in `dir`, with further flags `extra`.
AllocatorFlags AllocatorFlagsIn(const TempDir& dir, const std::string& name,
                                std::vector<std::string> extra = {});

// "unix:" + path.
std::string UnixAddress(const std::string& path);

// Starts allocator-svc with `flags` and does not wait for it.
absl::StatusOr<std::unique_ptr<DaemonProcess>> StartAllocator(const AllocatorFlags& flags);

// Starts allocator-svc and waits (at most `timeout`) until it serves.
absl::StatusOr<std::unique_ptr<DaemonProcess>> StartServingAllocator(
    const AllocatorFlags& flags, absl::Duration timeout = absl::Seconds(20));

// Request builders.
allocator::v1::PortRequest Port(uint32_t container_port, allocator::v1::Protocol protocol,
                                uint32_t host_port = 0);
allocator::v1::ReserveRequest ReserveRequest(const std::string& box_id,
                                             std::vector<allocator::v1::PortRequest> ports,
                                             bool tty = false, bool gpu = false);

// True when nobody on the host holds `port` of `protocol`, as allocator-svc's probe sees it.
bool HostPortIsFree(allocator::v1::Protocol protocol, uint16_t port);

// The first port `begin` in [from, to) such that [begin, begin + count) is free for both TCP
// and UDP on this host; nullopt when there is none.
std::optional<uint16_t> FindFreePortRange(int count, uint16_t from, uint16_t to);


}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_ALLOCATOR_CLIENT_H_
