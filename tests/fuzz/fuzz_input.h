#ifndef BERTH_TESTS_FUZZ_FUZZ_INPUT_H_
#define BERTH_TESTS_FUZZ_FUZZ_INPUT_H_

// How the fuzz targets cut one input into the several values a parser takes, and how they say
// that a property does not hold. Inputs stay readable text: a target that needs fields reads
// them as lines, so the seed corpora and dictionaries are plain text too.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace berth::fuzz {

// The input as a string_view.
inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// The input's lines (split on '\n', the last one without it), at most `max` of them: the last
// holds the rest of the input, newlines included. Missing lines are empty.
inline std::vector<absl::string_view> Lines(absl::string_view text, size_t max) {
  std::vector<absl::string_view> lines;
  while (lines.size() + 1 < max) {
    const size_t end = text.find('\n');
    if (end == absl::string_view::npos) break;
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  lines.push_back(text);
  lines.resize(max);
  return lines;
}

// The first byte of `text` (0 when empty), removed from it: a target's choice of mode.
inline uint8_t TakeSelector(absl::string_view& text) {
  if (text.empty()) return 0;
  const uint8_t selector = static_cast<uint8_t>(text.front());
  text.remove_prefix(1);
  return selector;
}

// A property a target checks failed: says which and aborts, which libFuzzer and the replay
// driver both report as a finding (with the input that caused it).
[[noreturn]] inline void PropertyFailed(const char* file, int line, const char* property,
                                        absl::string_view detail) {
  std::fprintf(stderr, "%s:%d: property failed: %s\n%.*s\n", file, line, property,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace berth::fuzz

// FUZZ_CHECK(condition, detail): the target's property `condition` must hold for every input;
// `detail` (text: a string or a view of one) is printed when it does not.
#define FUZZ_CHECK(condition, detail)                                               \
  do {                                                                             \
    if (!(condition)) ::berth::fuzz::PropertyFailed(__FILE__, __LINE__, #condition, \
                                                    (detail));                      \
  } while (false)

#endif  // BERTH_TESTS_FUZZ_FUZZ_INPUT_H_
