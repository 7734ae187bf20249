#include "allocator-svc/host_ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace berth::allocator {
namespace {

// True when binding `port` on the wildcard address of `family` fails with EADDRINUSE.
bool BindFails(int family, int type, uint16_t port) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;  // Family unsupported here: nobody can hold the port through it.
  int one = 1;
  // TCP: a connection lingering in TIME_WAIT does not hold the port for a new listener.
  // UDP has no such state, and a UDP socket with SO_REUSEADDR would share the port.
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int result;
  if (family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
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
  bool in_use = result != 0 && errno == EADDRINUSE;
  close(fd);
  return in_use;
}

class BindingHostPortProbe final : public HostPortProbe {
 public:
  bool InUse(v1::Protocol protocol, uint16_t port) override {
    int type = protocol == v1::PROTOCOL_UDP ? SOCK_DGRAM : SOCK_STREAM;
    return BindFails(AF_INET, type, port) || BindFails(AF_INET6, type, port);
  }
};

}  // namespace

std::unique_ptr<HostPortProbe> MakeBindingHostPortProbe() {
  return std::make_unique<BindingHostPortProbe>();
}

}  // namespace berth::allocator
