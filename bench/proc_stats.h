#ifndef BERTH_BENCH_PROC_STATS_H_
#define BERTH_BENCH_PROC_STATS_H_

// CPU readings of processes and of the whole host, from /proc and getrusage(), shared by the
// load generators. A reading that cannot be made counts as 0 (a process that is gone, a field
// that does not parse); none of them fails.

#include <sys/resource.h>
#include <sys/types.h>

#include <map>
#include <string>

namespace berth::bench {

// CPU seconds (user + system, all threads) used so far by process `pid`.
double ProcessCpuSeconds(pid_t pid);

// CPU seconds so far by thread name of process `pid` (threads of one name summed).
std::map<std::string, double> ThreadCpuSeconds(pid_t pid);

// User + system seconds of `usage`.
double RusageSeconds(const rusage& usage);

// CPU seconds (user + system, all threads) used so far by this process.
double SelfCpuSeconds();

// Busy and total jiffies of the whole host so far, from the "cpu" line of /proc/stat (busy: all
// but idle and iowait).
struct HostCpu {
  double busy = 0;
  double total = 0;
};
HostCpu ReadHostCpu();

}  // namespace berth::bench

#endif  // BERTH_BENCH_PROC_STATS_H_
