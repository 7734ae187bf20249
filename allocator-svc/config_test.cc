#include "allocator-svc/config.h"

#include <fstream>

#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::allocator {
namespace {

using ::berth::testing::StatusIs;
using ::berth::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ConfigTest, DefaultsMatchTheDesign) {
  TempDir dev;  // No /dev/nvidia* in it.
  FlagValues flags;
  flags.dev_dir = dev.path();
  ASSERT_OK_AND_ASSIGN(Config config, BuildConfig(flags));
  EXPECT_EQ(config.listen, "unix:/run/berth/allocator.sock");
  EXPECT_EQ(config.db, "/var/lib/berth/allocator.db");
  EXPECT_EQ(config.allocator.ttys, (common::IntRange{10, 64}));
  EXPECT_EQ(config.allocator.ports, (common::IntRange{20000, 32768}));
  EXPECT_EQ(config.allocator.max_boxes, 54u);  // One per TTY.
  EXPECT_EQ(config.allocator.boxes_per_gpu, 3);
  EXPECT_TRUE(config.allocator.gpus.empty());
  EXPECT_EQ(config.allocator.reserve_grace, absl::Seconds(120));
  EXPECT_EQ(config.metrics_listen, "");  // Metrics are not served.
}

TEST(ConfigTest, MetricsListenIsAnIpv4AddressAndPort) {
  TempDir dev;
  FlagValues flags;
  flags.dev_dir = dev.path();
  flags.metrics_listen = "127.0.0.1:9741";
  ASSERT_OK_AND_ASSIGN(Config config, BuildConfig(flags));
  EXPECT_EQ(config.metrics_listen, "127.0.0.1:9741");
  flags.metrics_listen = "localhost";
  EXPECT_THAT(BuildConfig(flags),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--metrics_listen")));
}

TEST(ConfigTest, GpusAreDetectedFromDeviceNodes) {
  TempDir dev;
  for (const char* name : {"nvidia0", "nvidia2", "nvidiactl", "nvidia-uvm", "nvidia10"}) {
    std::ofstream(dev.File(name)) << "";
  }
  EXPECT_THAT(DetectGpus(dev.path()), ElementsAre(0, 2, 10));
  FlagValues flags;
  flags.dev_dir = dev.path();
  ASSERT_OK_AND_ASSIGN(Config detected, BuildConfig(flags));
  EXPECT_THAT(detected.allocator.gpus, ElementsAre(0, 2, 10));
  flags.gpus = "1";
  ASSERT_OK_AND_ASSIGN(Config given, BuildConfig(flags));
  EXPECT_THAT(given.allocator.gpus, ElementsAre(1));
}

TEST(ConfigTest, FlagsAreParsed) {
  FlagValues flags;
  flags.tty_range = "10-20";
  flags.port_range = "30000-30100";
  flags.reserved_ports = "30001,30010-30012";
  flags.gpus = "0,1";
  flags.max_boxes = 7;
  ASSERT_OK_AND_ASSIGN(Config config, BuildConfig(flags));
  EXPECT_EQ(config.allocator.ttys, (common::IntRange{10, 20}));
  EXPECT_THAT(config.allocator.reserved_ports, ElementsAre(30001, 30010, 30011, 30012));
  EXPECT_THAT(config.allocator.gpus, ElementsAre(0, 1));
  EXPECT_EQ(config.allocator.max_boxes, 7u);
}

TEST(ConfigTest, BadFlagsAreNamed) {
  auto with = [](auto change) {
    FlagValues flags;
    flags.gpus = "0";
    change(flags);
    return BuildConfig(flags).status();
  };
  EXPECT_THAT(with([](FlagValues& f) { f.listen = "tcp:1.2.3.4:5"; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unix:")));
  EXPECT_THAT(with([](FlagValues& f) { f.tty_range = "64-10"; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tty_range")));
  EXPECT_THAT(with([](FlagValues& f) { f.port_range = "0-100"; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--port_range")));
  EXPECT_THAT(with([](FlagValues& f) { f.reserved_ports = "80,x"; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port list")));
  EXPECT_THAT(with([](FlagValues& f) { f.gpus = "0,0"; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--gpus")));
  EXPECT_THAT(with([](FlagValues& f) { f.boxes_per_gpu = 0; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--boxes_per_gpu")));
  EXPECT_THAT(with([](FlagValues& f) { f.max_boxes = -1; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--max_boxes")));
  EXPECT_THAT(with([](FlagValues& f) { f.reserve_grace = absl::ZeroDuration(); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--reserve_grace")));
  EXPECT_THAT(with([](FlagValues& f) { f.db = ""; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--db")));
}

}  // namespace
}  // namespace berth::allocator
