#ifndef BERTH_BENCH_STOP_SIGNALS_H_
#define BERTH_BENCH_STOP_SIGNALS_H_

#include <functional>
#include <string>

namespace berth::bench {

// Ctrl-C, SIGTERM and SIGHUP end a load generator through `die` (its cleanup and exit), called
// with "interrupted by signal N" on a thread of its own. Blocks the three signals in the calling
// thread, so call it before any other thread starts (threads made later inherit the mask;
// children get an empty one).
void DieOnStopSignals(std::function<void(const std::string& message)> die);

}  // namespace berth::bench

#endif  // BERTH_BENCH_STOP_SIGNALS_H_
