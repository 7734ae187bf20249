#include "fleet-agent/agent/config.h"

#include <fstream>

#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::fleet {
namespace {

using ::testing::HasSubstr;

FlagValues Valid() {
  FlagValues flags;
  flags.listen = "unix:/run/berth/fleet.sock";
  flags.boxes = "unix:/run/berth/boxes.sock";
  flags.database = "host=/run/pg dbname=berth user=berth";
  flags.host_id = "host-1";
  flags.address = "203.0.113.7:4678";
  return flags;
}

std::string ErrorOf(const FlagValues& flags) {
  absl::StatusOr<AgentConfig> config = BuildConfig(flags);
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(FleetConfigTest, DefaultsAndDerivedValues) {
  absl::StatusOr<AgentConfig> config = BuildConfig(Valid());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->host.id, "host-1");
  EXPECT_EQ(config->heartbeat_interval, absl::Seconds(5));
  EXPECT_EQ(config->host.host_timeout, absl::Seconds(15));  // 3 heartbeats
  EXPECT_FALSE(config->database_password.has_value());
  FlagValues unnamed = Valid();
  unnamed.host_id = "";
  absl::StatusOr<AgentConfig> hostname = BuildConfig(unnamed);
  ASSERT_TRUE(hostname.ok()) << hostname.status();
  EXPECT_FALSE(hostname->host.id.empty());
  FlagValues v6 = Valid();
  v6.address = "[2001:db8::7]:4678";
  EXPECT_EQ(ErrorOf(v6), "");
}

TEST(FleetConfigTest, APasswordOnTheCommandLineIsRefused) {
  for (const std::string database :
       {"host=db password=secret dbname=berth", "password = secret",
        "postgresql://berth:secret@db.example/berth", "postgres://u:p@h",
        "postgresql://db.example/berth?password=secret"}) {
    FlagValues flags = Valid();
    flags.database = database;
    EXPECT_THAT(ErrorOf(flags), HasSubstr("may not hold the password")) << database;
  }
  for (const std::string database :
       {"postgresql://berth@db.example/berth", "host=db user=berth passfile=/x dbname=berth",
        "postgresql://db.example:5432/berth"}) {
    FlagValues flags = Valid();
    flags.database = database;
    EXPECT_EQ(ErrorOf(flags), "") << database;
  }
}

TEST(FleetConfigTest, ThePasswordComesFromItsFile) {
  berth::testing::TempDir dir;
  const std::string file = dir.File("password");
  std::ofstream(file) << "s3cret\n";
  FlagValues flags = Valid();
  flags.database_password_file = file;
  absl::StatusOr<AgentConfig> config = BuildConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->database_password, "s3cret");
  std::ofstream(file, std::ios::trunc) << "\n";
  EXPECT_THAT(ErrorOf(flags), HasSubstr("is empty"));
  flags.database_password_file = dir.File("missing");
  EXPECT_NE(ErrorOf(flags), "");
}

TEST(FleetConfigTest, BadValuesNameTheirFlag) {
  struct Case {
    void (*change)(FlagValues&);
    std::string flag;
  };
  const Case cases[] = {
      {[](FlagValues& f) { f.database = ""; }, "--database"},
      {[](FlagValues& f) { f.boxes = "localhost:1"; }, "--boxes"},
      {[](FlagValues& f) { f.host_id = "bad id"; }, "--host_id"},
      {[](FlagValues& f) { f.host_id = std::string(300, 'a'); }, "--host_id"},
      {[](FlagValues& f) { f.address = ""; }, "--address"},
      {[](FlagValues& f) { f.address = "203.0.113.7"; }, "--address"},
      {[](FlagValues& f) { f.address = "a b:1"; }, "--address"},
      {[](FlagValues& f) { f.zone = "eu west"; }, "--zone"},
      {[](FlagValues& f) { f.heartbeat_interval = absl::Milliseconds(10); }, "--heartbeat_interval"},
      {[](FlagValues& f) { f.host_timeout = absl::Seconds(1); }, "--host_timeout"},
      {[](FlagValues& f) { f.action_workers = 0; }, "--action_workers"},
  };
  for (const Case& bad : cases) {
    FlagValues flags = Valid();
    bad.change(flags);
    EXPECT_THAT(ErrorOf(flags), HasSubstr(bad.flag));
  }
}

}  // namespace
}  // namespace berth::fleet
