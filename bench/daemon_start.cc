#include "bench/daemon_start.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace berth::bench {

std::string LogTail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  const size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) absl::StrAppend(&out, "  | ", all[i], "\n");
  return out;
}

absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> StartServingDaemon(
    const testing::DaemonProcess::Options& options, const std::string& address,
    const std::string& what) {
  absl::StatusOr<std::unique_ptr<testing::DaemonProcess>> daemon =
      testing::DaemonProcess::Start(options);
  if (!daemon.ok()) {
    return absl::Status(daemon.status().code(),
                        absl::StrCat("start ", what, ": ", daemon.status().ToString()));
  }
  if (absl::Status serving = (*daemon)->WaitServing(address, absl::Seconds(60));
      !serving.ok()) {
    return absl::Status(serving.code(), absl::StrCat(what, " does not serve: ",
                                                     serving.ToString(), "\n",
                                                     LogTail(options.log_path, 30)));
  }
  return daemon;
}

}  // namespace berth::bench
