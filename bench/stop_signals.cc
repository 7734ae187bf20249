#include "bench/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::bench {

void DieOnStopSignals(std::function<void(const std::string& message)> die) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread([stop_signals, die = std::move(die)] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    die(absl::StrCat("interrupted by signal ", signal_number));
  }).detach();
}

}  // namespace berth::bench
