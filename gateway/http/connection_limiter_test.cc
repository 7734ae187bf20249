#include "gateway/http/connection_limiter.h"

#include <memory>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

using boost::asio::ip::make_address;

TEST(ClientKeyTest, Ipv4IsItsAddressAlsoWhenMapped) {
  EXPECT_EQ(ClientKey(make_address("192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(ClientKey(make_address("::ffff:192.0.2.7")), "192.0.2.7");
}

// One subscriber usually holds a whole /64: its addresses share one key.
TEST(ClientKeyTest, Ipv6IsItsSlash64) {
  EXPECT_EQ(ClientKey(make_address("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey(make_address("2001:db8:1:2:ffff:1:2:3")), "2001:db8:1:2::/64");
  EXPECT_NE(ClientKey(make_address("2001:db8:1:3::1")), "2001:db8:1:2::/64");
}

TEST(ConnectionLimiterTest, CapsPerClientAndInAllAndGivesPlacesBack) {
  auto limiter = std::make_shared<ConnectionLimiter>(/*max_total=*/3, /*max_per_client=*/2,
                                                     /*observer=*/nullptr);
  std::vector<ConnectionLimiter::Slot> slots(5);
  EXPECT_TRUE(limiter->Admit(make_address("10.0.0.1"), &slots[0]));
  EXPECT_TRUE(limiter->Admit(make_address("10.0.0.1"), &slots[1]));
  EXPECT_FALSE(limiter->Admit(make_address("10.0.0.1"), &slots[2]));  // per client
  EXPECT_TRUE(limiter->Admit(make_address("10.0.0.2"), &slots[2]));
  EXPECT_FALSE(limiter->Admit(make_address("10.0.0.3"), &slots[3]));  // in all
  EXPECT_EQ(limiter->open(), 3);
  slots[0].Release();
  slots[0].Release();  // once only
  EXPECT_EQ(limiter->open(), 2);
  EXPECT_TRUE(limiter->Admit(make_address("10.0.0.1"), &slots[3]));
  slots.clear();  // destroyed slots give their places back
  EXPECT_EQ(limiter->open(), 0);
}

}  // namespace
}  // namespace berth::gateway
