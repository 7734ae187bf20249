#ifndef BERTH_BENCH_JSON_OUTPUT_H_
#define BERTH_BENCH_JSON_OUTPUT_H_

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace berth::bench {

// Today's local date, "YYYY-MM-DD": the "date" of every JSON line.
inline std::string Today() {
  return absl::FormatTime("%Y-%m-%d", absl::Now(), absl::LocalTimeZone());
}

// Where a load generator's JSON lines go: stdout, and appended to `json_path` when given.
class Output {
 public:
  explicit Output(const std::string& json_path) {
    if (!json_path.empty()) json_.open(json_path, std::ios::app);
  }
  void Json(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (json_.is_open()) {
      json_ << line << "\n";
      json_.flush();
    }
  }

 private:
  std::ofstream json_;
};

}  // namespace berth::bench

#endif  // BERTH_BENCH_JSON_OUTPUT_H_
