#include "allocator-svc/host_ports.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace berth::allocator {
namespace {

// A socket bound to an ephemeral port on `address` (listening for TCP); closed on destruction.
class HeldPort {
 public:
  HeldPort(int type, in_addr_t address) {
    fd_ = socket(AF_INET, type, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(address);
    socklen_t length = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), length) == 0 &&
        (type != SOCK_STREAM || listen(fd_, 1) == 0) &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~HeldPort() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

TEST(BindingHostPortProbeTest, SeesAListeningTcpSocketOnAnyAddress) {
  std::unique_ptr<HostPortProbe> probe = MakeBindingHostPortProbe();
  for (in_addr_t address : {INADDR_ANY, INADDR_LOOPBACK}) {
    HeldPort held(SOCK_STREAM, address);
    ASSERT_NE(held.port(), 0);
    EXPECT_TRUE(probe->InUse(v1::PROTOCOL_TCP, held.port())) << held.port();
  }
}

TEST(BindingHostPortProbeTest, SeesABoundUdpSocketAndKeepsProtocolsApart) {
  std::unique_ptr<HostPortProbe> probe = MakeBindingHostPortProbe();
  HeldPort held(SOCK_DGRAM, INADDR_ANY);
  ASSERT_NE(held.port(), 0);
  EXPECT_TRUE(probe->InUse(v1::PROTOCOL_UDP, held.port()));
  EXPECT_FALSE(probe->InUse(v1::PROTOCOL_TCP, held.port()));
}

// An IPv6-only holder (as nginx's default "listen [::]:80 ipv6only=on") is seen as well.
TEST(BindingHostPortProbeTest, SeesIpv6OnlyHolders) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0) << "this test needs IPv6 on the host";
  const int one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  socklen_t length = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), length), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  EXPECT_TRUE(MakeBindingHostPortProbe()->InUse(v1::PROTOCOL_TCP, ntohs(addr.sin6_port)));
  close(fd);
}

// Leaves this process no file descriptor to open (no socket can be made).
void UseNoMoreFiles() {
  const rlimit none = {0, 0};
  setrlimit(RLIMIT_NOFILE, &none);
}

// Without a socket to probe with, a port counts as taken.
TEST(BindingHostPortProbeTest, APortThatCannotBeProbedCountsAsTaken) {
  std::unique_ptr<HostPortProbe> probe = MakeBindingHostPortProbe();
  EXPECT_EXIT(
      {
        UseNoMoreFiles();
        std::_Exit(probe->InUse(v1::PROTOCOL_TCP, 40000) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

bool CheckFailsNamingHostPorts() {
  const absl::Status checked = CheckHostPortProbe();
  return checked.code() == absl::StatusCode::kFailedPrecondition &&
         checked.message().find("host ports") != absl::string_view::npos;
}

TEST(CheckHostPortProbeTest, PassesOnlyWhereSocketsCanBeOpened) {
  EXPECT_TRUE(CheckHostPortProbe().ok());
  EXPECT_EXIT(
      {
        UseNoMoreFiles();
        std::_Exit(CheckFailsNamingHostPorts() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// In a network namespace of its own (as under systemd's PrivateNetwork=) only loopback is seen.
TEST(SeesHostNetworkTest, IsFalseInAPrivateNetworkNamespace) {
  EXPECT_EXIT(
      {
        if (unshare(CLONE_NEWNET) != 0) std::_Exit(2);  // needs root, as the suite runs
        std::_Exit(SeesHostNetwork() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(BindingHostPortProbeTest, AFreedPortIsFree) {
  std::unique_ptr<HostPortProbe> probe = MakeBindingHostPortProbe();
  uint16_t port = 0;
  {
    HeldPort held(SOCK_STREAM, INADDR_ANY);
    port = held.port();
    ASSERT_NE(port, 0);
  }
  EXPECT_FALSE(probe->InUse(v1::PROTOCOL_TCP, port));
}

}  // namespace
}  // namespace berth::allocator
