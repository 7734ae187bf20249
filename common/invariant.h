#ifndef BERTH_COMMON_INVARIANT_H_
#define BERTH_COMMON_INVARIANT_H_

#include <cstdlib>
#include <string_view>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "spdlog/spdlog.h"

// BERTH_INVARIANT(condition, message): states a fact the code relies on and that no input can
// make false. When `condition` is false, the process logs
//   invariant violated: <message> (<file>:<line>)
// with spdlog::critical and aborts, in every build type (unlike assert(), which NDEBUG removes):
// state that contradicts itself is not served on. `condition` is evaluated exactly once;
// `message` (anything that converts to std::string_view) only when the condition is false.
//
// Meant for cheap checks (O(1), or on a path that changes state anyway), never for anything a
// caller can cause: those are errors returned as absl::Status.
#define BERTH_INVARIANT(condition, message)                                         \
  do {                                                                              \
    if (ABSL_PREDICT_FALSE(!(condition))) {                                         \
      ::berth::common::invariant_internal::Violated((message), __FILE__, __LINE__); \
    }                                                                               \
  } while (false)

namespace berth::common::invariant_internal {

// Logs the violation and aborts; out of line, so that the checks cost their callers little.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD inline void Violated(
    std::string_view message, const char* file, int line) {
  spdlog::critical("invariant violated: {} ({}:{})", message, file, line);
  spdlog::default_logger_raw()->flush();
  std::abort();
}

}  // namespace berth::common::invariant_internal

#endif  // BERTH_COMMON_INVARIANT_H_
