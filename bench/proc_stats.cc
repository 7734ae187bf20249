#include "bench/proc_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::bench {
namespace {

// The utime + stime of a /proc/<pid>[/task/<tid>]/stat line in seconds; false if the line does
// not hold them.
bool StatLineCpuSeconds(const std::string& line, double* seconds) {
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return false;
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  // After "pid (comm) ": field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
  double utime = 0;
  double stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return false;
  }
  *seconds = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

}  // namespace

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  double seconds = 0;
  return StatLineCpuSeconds(line, &seconds) ? seconds : 0;
}

std::map<std::string, double> ThreadCpuSeconds(pid_t pid) {
  std::map<std::string, double> by_name;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), error)) {
    std::ifstream comm_in(entry.path() / "comm");
    std::string comm;
    std::getline(comm_in, comm);
    std::ifstream stat_in(entry.path() / "stat");
    std::string line;
    std::getline(stat_in, line);
    double seconds = 0;
    if (StatLineCpuSeconds(line, &seconds)) by_name[comm] += seconds;
  }
  return by_name;
}

double RusageSeconds(const rusage& usage) {
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return RusageSeconds(usage);
}

HostCpu ReadHostCpu() {
  std::ifstream in("/proc/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
  HostCpu cpu;
  for (size_t i = 1; i < fields.size(); ++i) {
    double value = 0;
    if (!absl::SimpleAtod(fields[i], &value)) continue;
    cpu.total += value;
    if (i != 4 && i != 5) cpu.busy += value;  // 4 idle, 5 iowait
  }
  return cpu;
}

}  // namespace berth::bench
