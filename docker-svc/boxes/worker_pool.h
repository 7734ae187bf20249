#ifndef BERTH_DOCKER_SVC_BOXES_WORKER_POOL_H_
#define BERTH_DOCKER_SVC_BOXES_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::docker {

// A fixed set of threads running queued tasks in order of arrival, for work that blocks (Docker
// calls) and must not run on the thread that noticed it. Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Stop().
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; dropped once Stop() has begun.
  void Schedule(std::function<void()> task);
  // Runs every task queued so far, then joins the threads. Call from one thread at a time;
  // later calls return at once.
  void Stop();

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // joined by Stop()
};

}  // namespace berth::docker

#endif  // BERTH_DOCKER_SVC_BOXES_WORKER_POOL_H_
