#ifndef BERTH_COMMON_VALUE_PARSING_H_
#define BERTH_COMMON_VALUE_PARSING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::common {

// A half-open range of integers [begin, end).
struct IntRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool Contains(int64_t value) const { return value >= begin && value < end; }
  friend bool operator==(const IntRange& a, const IntRange& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

// Parses "BEGIN-END" (END exclusive, BEGIN < END) whose values lie in [min, max].
// INVALID_ARGUMENT names `what` and the offending text.
absl::StatusOr<IntRange> ParseIntRange(absl::string_view text, int64_t min, int64_t max,
                                       absl::string_view what);

// Parses a comma-separated list of ports and inclusive port ranges ("4678,8000-8010") into
// sorted, distinct ports in 1-65535. The empty string is the empty list.
absl::StatusOr<std::vector<uint16_t>> ParsePortList(absl::string_view text);

// Parses a comma-separated list of distinct non-negative integers ("0,1,3") in [0, max].
absl::StatusOr<std::vector<int32_t>> ParseIndexList(absl::string_view text, int32_t max,
                                                    absl::string_view what);

}  // namespace berth::common

#endif  // BERTH_COMMON_VALUE_PARSING_H_
