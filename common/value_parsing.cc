#include "common/value_parsing.h"

#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace berth::common {
namespace {

absl::StatusOr<int64_t> ParseBounded(absl::string_view text, int64_t min, int64_t max,
                                     absl::string_view what) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": \"", text, "\" is not a number"));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", value, " is outside ", min, "-", max));
  }
  return value;
}

}  // namespace

absl::StatusOr<IntRange> ParseIntRange(absl::string_view text, int64_t min, int64_t max,
                                       absl::string_view what) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", text, "\" is not of the form BEGIN-END"));
  }
  IntRange range;
  auto begin = ParseBounded(parts[0], min, max, what);
  if (!begin.ok()) return begin.status();
  auto end = ParseBounded(parts[1], min, max, what);
  if (!end.ok()) return end.status();
  range.begin = *begin;
  range.end = *end;
  if (range.begin >= range.end) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", text, "\" is empty (END is exclusive and must exceed BEGIN)"));
  }
  return range;
}

absl::StatusOr<std::vector<uint16_t>> ParsePortList(absl::string_view text) {
  std::set<uint16_t> ports;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::vector<absl::string_view> bounds = absl::StrSplit(item, '-');
    if (bounds.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat("port list: \"", item, "\" is not a port or FIRST-LAST"));
    }
    auto first = ParseBounded(bounds[0], 1, 65535, "port list");
    if (!first.ok()) return first.status();
    int64_t last = *first;
    if (bounds.size() == 2) {
      auto parsed_last = ParseBounded(bounds[1], 1, 65535, "port list");
      if (!parsed_last.ok()) return parsed_last.status();
      last = *parsed_last;
      if (last < *first) {
        return absl::InvalidArgumentError(absl::StrCat("port list: \"", item, "\" runs backwards"));
      }
    }
    for (int64_t port = *first; port <= last; ++port) ports.insert(static_cast<uint16_t>(port));
  }
  return std::vector<uint16_t>(ports.begin(), ports.end());
}

absl::StatusOr<std::vector<int32_t>> ParseIndexList(absl::string_view text, int32_t max,
                                                    absl::string_view what) {
  std::vector<int32_t> indexes;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    auto index = ParseBounded(item, 0, max, what);
    if (!index.ok()) return index.status();
    if (std::find(indexes.begin(), indexes.end(), *index) != indexes.end()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", *index, " is listed twice"));
    }
    indexes.push_back(static_cast<int32_t>(*index));
  }
  return indexes;
}

}  // namespace berth::common
