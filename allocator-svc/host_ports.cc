#include "allocator-svc/host_ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace berth::allocator {
namespace {

// True when binding `port` on the wildcard address of `family` fails with EADDRINUSE.
// An IPv6 wildcard socket with IPV6_V6ONLY off conflicts with every holder of the port, IPv4
// or IPv6, so one probe covers both families.
bool BindFails(int family, bool set_dual_stack, int type, uint16_t port) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  const int zero = 0;
  // TCP: a connection lingering in TIME_WAIT does not hold the port for a new listener.
  // UDP has no such state, and a UDP socket with SO_REUSEADDR would share the port.
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int result;
  if (family == AF_INET6) {
    if (set_dual_stack) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(port);
    result = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(port);
    result = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  const bool in_use = result != 0 && errno == EADDRINUSE;
  close(fd);
  return in_use;
}

bool HostHasIpv6() {
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// IPv6 sockets are dual-stack by default unless the host says otherwise
// (net.ipv6.bindv6only); when they are, the probe saves a setsockopt per port.
bool Ipv6SocketsAreIpv6OnlyByDefault() {
  std::ifstream setting("/proc/sys/net/ipv6/bindv6only");
  int value = 1;
  return !(setting >> value) || value != 0;
}

class BindingHostPortProbe final : public HostPortProbe {
 public:
  bool InUse(v1::Protocol protocol, uint16_t port) override {
    return BindFails(family_, set_dual_stack_, protocol == v1::PROTOCOL_UDP ? SOCK_DGRAM : SOCK_STREAM,
                     port);
  }

 private:
  const int family_ = HostHasIpv6() ? AF_INET6 : AF_INET;
  const bool set_dual_stack_ = family_ == AF_INET6 && Ipv6SocketsAreIpv6OnlyByDefault();
};

}  // namespace

std::unique_ptr<HostPortProbe> MakeBindingHostPortProbe() {
  return std::make_unique<BindingHostPortProbe>();
}

}  // namespace berth::allocator
