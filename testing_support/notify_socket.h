#ifndef BERTH_TESTING_SUPPORT_NOTIFY_SOCKET_H_
#define BERTH_TESTING_SUPPORT_NOTIFY_SOCKET_H_

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth::testing {

// A datagram socket standing in for systemd's notification socket (give a daemon
// NOTIFY_SOCKET=<path>). Like systemd, it reads every datagram as it comes (a reader that stops
// would block the daemon's sd_notify once the socket's queue is full), on a thread of its own,
// and keeps the lines in arrival order with the time each arrived. Thread-safe.
class NotifySocket {
 public:
  // Binds `path` (replacing a stale socket there); ok() tells whether that worked.
  explicit NotifySocket(const std::string& path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Waits for the next line equal to `line` after those consumed by earlier calls, and
  // returns when it arrived; nullopt when it does not arrive before `deadline`.
  std::optional<absl::Time> WaitFor(const std::string& line, absl::Time deadline);

  // Consumes every line received so far (e.g. STOPPING=1 of a previous instance).
  void SkipReceived();

  // Every line received so far, for failure messages.
  std::vector<std::string> Lines() const;

 private:
  struct Line {
    std::string text;
    absl::Time at;
  };
  void Read();

  const std::string path_;
  int fd_ = -1;
  mutable absl::Mutex mu_;
  std::vector<Line> lines_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_NOTIFY_SOCKET_H_
