#ifndef BERTH_COMMON_TESTING_TEMP_DIR_H_
#define BERTH_COMMON_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace berth::testing {

// A fresh directory with a short path (unix socket paths are limited to 107 bytes), removed
// with everything in it on destruction. path() is empty when it could not be made.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/berthXXXXXX";
    if (mkdtemp(pattern) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace berth::testing

#endif  // BERTH_COMMON_TESTING_TEMP_DIR_H_
