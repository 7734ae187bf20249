#include "allocator-svc/host_ports.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace berth::allocator {
namespace {

// True when binding `port` on the wildcard address of `family` fails with EADDRINUSE, or when
// no socket can be opened to find out (fail closed: a port handed out twice is worse than one
// left unused). An IPv6 wildcard socket with IPV6_V6ONLY off conflicts with every holder of
// the port, IPv4 or IPv6, so one probe covers both families.
bool BindFails(int family, bool set_dual_stack, int type, uint16_t port) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
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

absl::Status CheckHostPortProbe() {
  const int family = HostHasIpv6() ? AF_INET6 : AF_INET;
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot open ", family == AF_INET6 ? "an AF_INET6" : "an AF_INET",
          type == SOCK_STREAM ? " TCP" : " UDP", " socket (", strerror(errno),
          ") to check which host ports are taken; allocator-svc needs AF_INET and AF_INET6 "
          "sockets in the host's network namespace"));
    }
    close(fd);
  }
  return absl::OkStatus();
}

bool SeesHostNetwork() {
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) return true;  // cannot tell: no warning
  bool other_than_loopback = false;
  for (ifaddrs* it = interfaces; it != nullptr; it = it->ifa_next) {
    if ((it->ifa_flags & IFF_LOOPBACK) == 0) other_than_loopback = true;
  }
  freeifaddrs(interfaces);
  return other_than_loopback;
}

}  // namespace berth::allocator
