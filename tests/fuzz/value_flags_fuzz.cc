// Fuzz target: the daemons' value flags (common/value_parsing: ranges, port lists, index lists)
// and the flag validation of allocator-svc and docker-svc (durations, --warm_pool, socket
// paths). Input: lines, see kLine below.
//
// Properties: an accepted range lies in its bounds and is not empty; an accepted port list is
// sorted, distinct and in 1-65535; an accepted index list is distinct and in its bounds; each
// prints back (as "B-E" or comma-joined) to a text that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "allocator-svc/config.h"
#include "common/value_parsing.h"
#include "docker-svc/service/config.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using ::berth::common::IntRange;

enum Line : size_t {
  kRange,         // ParseIntRange within 0-65536
  kPortList,      // ParsePortList
  kIndexList,     // ParseIndexList up to 64
  kWarmPool,      // docker-svc --warm_pool
  kSocket,        // docker-svc --listen
  kDuration,      // docker-svc --user_box_ttl (absl's duration syntax)
  kMaxDuration,   // docker-svc --user_box_max_ttl
  kTtyRange,      // allocator-svc --tty_range
  kPortRange,     // allocator-svc --port_range
  kLineCount
};

void CheckRange(absl::string_view text) {
  absl::StatusOr<IntRange> range = berth::common::ParseIntRange(text, 0, 65536, "range");
  if (!range.ok()) return;
  FUZZ_CHECK(range->begin >= 0 && range->begin < range->end && range->end <= 65536,
             absl::StrCat(range->begin, "-", range->end));
  const std::string printed = absl::StrCat(range->begin, "-", range->end);
  absl::StatusOr<IntRange> again = berth::common::ParseIntRange(printed, 0, 65536, "range");
  FUZZ_CHECK(again.ok() && *again == *range, printed);
}

void CheckPortList(absl::string_view text) {
  absl::StatusOr<std::vector<uint16_t>> ports = berth::common::ParsePortList(text);
  if (!ports.ok()) return;
  for (size_t i = 0; i < ports->size(); ++i) {
    FUZZ_CHECK((*ports)[i] >= 1, absl::StrJoin(*ports, ","));
    FUZZ_CHECK(i == 0 || (*ports)[i - 1] < (*ports)[i], absl::StrJoin(*ports, ","));
  }
  const std::string printed = absl::StrJoin(*ports, ",");
  absl::StatusOr<std::vector<uint16_t>> again = berth::common::ParsePortList(printed);
  FUZZ_CHECK(again.ok() && *again == *ports, printed);
}

void CheckIndexList(absl::string_view text) {
  absl::StatusOr<std::vector<int32_t>> indexes = berth::common::ParseIndexList(text, 64, "gpus");
  if (!indexes.ok()) return;
  for (size_t i = 0; i < indexes->size(); ++i) {
    FUZZ_CHECK((*indexes)[i] >= 0 && (*indexes)[i] <= 64, absl::StrJoin(*indexes, ","));
    for (size_t j = 0; j < i; ++j) {
      FUZZ_CHECK((*indexes)[j] != (*indexes)[i], absl::StrJoin(*indexes, ","));
    }
  }
  const std::string printed = absl::StrJoin(*indexes, ",");
  absl::StatusOr<std::vector<int32_t>> again = berth::common::ParseIndexList(printed, 64, "gpus");
  FUZZ_CHECK(again.ok() && *again == *indexes, printed);
}

// absl's own parsing of a duration flag, as main() gets it; `fallback` when it refuses.
absl::Duration DurationFlag(absl::string_view text, absl::Duration fallback) {
  absl::Duration value;
  std::string error;
  return absl::AbslParseFlag(text, &value, &error) ? value : fallback;
}

void CheckDockerSvcFlags(const std::vector<absl::string_view>& lines) {
  berth::docker::FlagValues flags;
  flags.warm_pool = std::string(lines[kWarmPool]);
  if (!lines[kSocket].empty()) flags.listen = std::string(lines[kSocket]);
  flags.user_box_ttl = DurationFlag(lines[kDuration], flags.user_box_ttl);
  flags.user_box_max_ttl = DurationFlag(lines[kMaxDuration], flags.user_box_max_ttl);
  absl::StatusOr<berth::docker::Config> config = berth::docker::BuildConfig(flags);
  if (!config.ok()) return;
  FUZZ_CHECK(config->user_box_ttl > absl::ZeroDuration() &&
                 config->user_box_max_ttl >= config->user_box_ttl,
             absl::StrCat(absl::FormatDuration(config->user_box_ttl), " ",
                          absl::FormatDuration(config->user_box_max_ttl)));
  for (const auto& [app, size] : config->warm_pool) {
    FUZZ_CHECK(!app.empty() && size >= 0, absl::StrCat(app, "=", size));
  }
}

void CheckAllocatorFlags(const std::vector<absl::string_view>& lines) {
  berth::allocator::FlagValues flags;
  flags.tty_range = std::string(lines[kTtyRange]);
  flags.port_range = std::string(lines[kPortRange]);
  flags.reserved_ports = std::string(lines[kPortList]);
  flags.gpus = lines[kIndexList].empty() ? "0" : std::string(lines[kIndexList]);
  flags.dev_dir = "/nonexistent";
  absl::StatusOr<berth::allocator::Config> config = berth::allocator::BuildConfig(flags);
  (void)config;  // Any answer will do; what is checked is that the validation survives it.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<absl::string_view> lines =
      berth::fuzz::Lines(berth::fuzz::AsText(data, size), kLineCount);
  CheckRange(lines[kRange]);
  CheckPortList(lines[kPortList]);
  CheckIndexList(lines[kIndexList]);
  CheckDockerSvcFlags(lines);
  CheckAllocatorFlags(lines);
  return 0;
}
