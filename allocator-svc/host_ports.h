#ifndef BERTH_ALLOCATOR_SVC_HOST_PORTS_H_
#define BERTH_ALLOCATOR_SVC_HOST_PORTS_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "berth/allocator/v1/allocator.pb.h"

namespace berth::allocator {

// Tells whether some process on the host already holds a port, so that the allocator skips it
// instead of handing it to a box whose container would then fail to publish it.
// Implementations are thread-safe.
class HostPortProbe {
 public:
  virtual ~HostPortProbe() = default;
  virtual bool InUse(v1::Protocol protocol, uint16_t port) = 0;
};

// Probes by binding the port on the dual-stack wildcard address (IPv4 only on a host without
// IPv6): a port that another socket, IPv4 or IPv6, listens on or has bound is in use; TCP
// connections in TIME_WAIT do not count. One bind per probe.
// A port whose probe socket cannot even be opened counts as in use.
std::unique_ptr<HostPortProbe> MakeBindingHostPortProbe();

// OK when this process can probe the host's ports: it can open TCP and UDP sockets of the
// probe's family. FAILED_PRECONDITION otherwise (a sandbox such as systemd's
// RestrictAddressFamilies=AF_UNIX), naming what is missing: every port would look taken.
absl::Status CheckHostPortProbe();

// Whether this process sees any network interface besides loopback. Without one it is likely
// in a private network namespace (systemd's PrivateNetwork=), where the probe sees none of the
// host's ports and every port looks free.
bool SeesHostNetwork();

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_HOST_PORTS_H_
