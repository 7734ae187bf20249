#ifndef BERTH_COMMON_TESTING_READ_FILE_H_
#define BERTH_COMMON_TESTING_READ_FILE_H_

#include <string>

#include "common/files.h"

namespace berth::testing {

// The file's contents, or "" when it cannot be read (for assertions and failure messages).
inline std::string ReadFileOrEmpty(const std::string& path) {
  return common::ReadFile(path).value_or("");
}

}  // namespace berth::testing

#endif  // BERTH_COMMON_TESTING_READ_FILE_H_
