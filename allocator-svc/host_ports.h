#ifndef BERTH_ALLOCATOR_SVC_HOST_PORTS_H_
#define BERTH_ALLOCATOR_SVC_HOST_PORTS_H_

#include <cstdint>
#include <memory>

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
std::unique_ptr<HostPortProbe> MakeBindingHostPortProbe();

}  // namespace berth::allocator

#endif  // BERTH_ALLOCATOR_SVC_HOST_PORTS_H_
