#include "common/logging.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/sinks/systemd_sink.h"

namespace berth::common {

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  std::pair<absl::string_view, absl::string_view> dev_ino = absl::StrSplit(stream, ':');
  uint64_t dev = 0;
  uint64_t ino = 0;
  if (!absl::SimpleAtoi(dev_ino.first, &dev) || !absl::SimpleAtoi(dev_ino.second, &ino)) {
    return false;
  }
  struct stat st {};
  if (fstat(fileno(stderr), &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

absl::Status InitLogging(absl::string_view name, absl::string_view level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str answers `off` for anything it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level: unknown level \"", level, "\"; use trace, debug, info, warn, error, critical or off"));
  }
  std::shared_ptr<spdlog::logger> logger;
  if (StderrIsJournal()) {
    logger = std::make_shared<spdlog::logger>(
        std::string(name), std::make_shared<spdlog::sinks::systemd_sink_mt>(std::string(name)));
    logger->set_pattern("%v");
  } else {
    logger = std::make_shared<spdlog::logger>(std::string(name),
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L %n[%P]: %v");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace berth::common
