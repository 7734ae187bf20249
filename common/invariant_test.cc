#include "common/invariant.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace berth::common {
namespace {

// Death tests see the dying process's stderr; spdlog's default logger writes to stdout.
void LogToStderr() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "invariant_test", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
}

TEST(InvariantDeathTest, AbortsNamingTheMessageAndWhere) {
  EXPECT_DEATH(
      {
        LogToStderr();
        const int leased = 2;
        BERTH_INVARIANT(leased == 1, "a value is leased once");
      },
      "invariant violated: a value is leased once \\(.*common/invariant_test\\.cc:[0-9]+\\)");
}

TEST(InvariantDeathTest, MessageMayBeAString) {
  EXPECT_DEATH(
      {
        LogToStderr();
        const std::string what = "port 20000 handed twice";
        BERTH_INVARIANT(false, what);
      },
      "invariant violated: port 20000 handed twice");
}

TEST(InvariantTest, HoldingInvariantEvaluatesItsConditionOnceAndNotItsMessage) {
  int evaluated = 0;
  int messages = 0;
  const auto message = [&messages] {
    ++messages;
    return "never shown";
  };
  BERTH_INVARIANT(++evaluated == 1, message());
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(messages, 0);
  // Usable as a statement wherever one is, an unbraced if included.
  if (evaluated == 1)
    BERTH_INVARIANT(evaluated > 0, "positive");
  else
    BERTH_INVARIANT(false, "unreached");
}

}  // namespace
}  // namespace berth::common
