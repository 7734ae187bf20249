#ifndef BERTH_GATEWAY_BACKEND_TESTING_FAKE_BACKEND_H_
#define BERTH_GATEWAY_BACKEND_TESTING_FAKE_BACKEND_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/backend/backend.h"

namespace berth::gateway::testing {

// A Backend for tests: it records every call and answers as the test says.
//
// Unary calls and health checks are answered at once (before the call returns) with the next
// scripted answer, if the test scripted one (ScriptUnary, ScriptHealth), else they wait until
// the test answers them (FinishUnary, FinishHealth), oldest first. Streams wait for the test
// too: SendMessage, EndStream. A stream's handle's Cancel() ends it at once with CANCELLED, as
// a real backend would, unless it has ended already. Callbacks run on the thread that calls
// the method that runs them, never under the fake's lock. Thread-safe.
class FakeBackend final : public Backend {
 public:
  struct UnaryCall {
    std::string method;
    std::string request;
    absl::Duration timeout;
    CallMetadata metadata;
  };
  struct StreamCall {
    std::string method;
    std::string request;
    CallMetadata metadata;
    absl::Time deadline;
  };

  explicit FakeBackend(std::string name = "docker-svc") : name_(std::move(name)) {}
  // Drops the callbacks of the calls never answered, without running them: they may hold what
  // holds a stream's handle.
  ~FakeBackend() override {
    absl::MutexLock lock(&mu_);
    for (const std::shared_ptr<Stream>& stream : streams_) {
      stream->on_message = nullptr;
      stream->on_done = nullptr;
    }
  }

  const std::string& name() const override { return name_; }

  void Unary(const std::string& method, std::string request, absl::Duration timeout,
             const CallMetadata& metadata, UnaryDone done) override {
    std::optional<Answer> answer;
    {
      absl::MutexLock lock(&mu_);
      unary_calls_.push_back(UnaryCall{method, std::move(request), timeout, metadata});
      if (scripted_unary_.empty()) {
        pending_unary_.push_back(std::move(done));
        return;
      }
      answer = std::move(scripted_unary_.front());
      scripted_unary_.pop_front();
    }
    done(answer->status, std::move(answer->response));
  }

  std::shared_ptr<StreamHandle> ServerStream(const std::string& method, std::string request,
                                             const CallMetadata& metadata, absl::Time deadline,
                                             StreamMessage on_message,
                                             StreamDone on_done) override {
    auto stream = std::make_shared<Stream>(this);
    absl::MutexLock lock(&mu_);
    stream->on_message = std::move(on_message);
    stream->on_done = std::move(on_done);
    stream_calls_.push_back(StreamCall{method, std::move(request), metadata, deadline});
    streams_.push_back(stream);
    return stream;
  }

  void CheckHealth(absl::Duration timeout, std::function<void(bool serving)> done) override {
    bool serving = false;
    {
      absl::MutexLock lock(&mu_);
      health_timeouts_.push_back(timeout);
      if (scripted_health_.empty()) {
        pending_health_.push_back(std::move(done));
        return;
      }
      serving = scripted_health_.front();
      scripted_health_.pop_front();
    }
    done(serving);
  }

  // --- Scripting and answering.

  // The next unary call that finds no call waiting before it is answered at once with this.
  void ScriptUnary(absl::Status status, std::string response = "") {
    absl::MutexLock lock(&mu_);
    scripted_unary_.push_back(Answer{std::move(status), std::move(response)});
  }
  // Answers the oldest unary call still waiting; false when none waits.
  bool FinishUnary(absl::Status status, std::string response = "") {
    UnaryDone done;
    {
      absl::MutexLock lock(&mu_);
      if (pending_unary_.empty()) return false;
      done = std::move(pending_unary_.front());
      pending_unary_.pop_front();
    }
    done(status, std::move(response));
    return true;
  }
  int pending_unary() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(pending_unary_.size());
  }

  void ScriptHealth(bool serving) {
    absl::MutexLock lock(&mu_);
    scripted_health_.push_back(serving);
  }
  // Answers the oldest health check still waiting; false when none waits.
  bool FinishHealth(bool serving) {
    std::function<void(bool)> done;
    {
      absl::MutexLock lock(&mu_);
      if (pending_health_.empty()) return false;
      done = std::move(pending_health_.front());
      pending_health_.pop_front();
    }
    done(serving);
    return true;
  }
  int pending_health() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(pending_health_.size());
  }

  // Delivers `message` on stream `index` (in call order); false when it has ended.
  bool SendMessage(size_t index, std::string message) {
    StreamMessage on_message;
    {
      absl::MutexLock lock(&mu_);
      if (index >= streams_.size() || streams_[index]->ended) return false;
      on_message = streams_[index]->on_message;
    }
    on_message(std::move(message));
    return true;
  }
  // Ends stream `index` with `status`; false when it has ended already.
  bool EndStream(size_t index, absl::Status status) {
    StreamDone on_done;
    {
      absl::MutexLock lock(&mu_);
      if (index >= streams_.size()) return false;
      on_done = TakeDoneLocked(*streams_[index]);
    }
    if (on_done == nullptr) return false;
    on_done(status);
    return true;
  }
  bool stream_cancelled(size_t index) const {
    absl::MutexLock lock(&mu_);
    return index < streams_.size() && streams_[index]->cancelled;
  }
  bool stream_ended(size_t index) const {
    absl::MutexLock lock(&mu_);
    return index < streams_.size() && streams_[index]->ended;
  }

  // --- What was called, in order.

  std::vector<UnaryCall> unary_calls() const {
    absl::MutexLock lock(&mu_);
    return unary_calls_;
  }
  std::vector<StreamCall> stream_calls() const {
    absl::MutexLock lock(&mu_);
    return stream_calls_;
  }
  std::vector<absl::Duration> health_checks() const {
    absl::MutexLock lock(&mu_);
    return health_timeouts_;
  }
  // Every call of any kind.
  int calls() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(unary_calls_.size() + stream_calls_.size() + health_timeouts_.size());
  }

 private:
  struct Answer {
    absl::Status status;
    std::string response;
  };

  struct Stream final : StreamHandle {
    explicit Stream(FakeBackend* fake) : backend(fake) {}
    void Cancel() override {
      StreamDone done;
      {
        absl::MutexLock lock(&backend->mu_);
        cancelled = true;
        done = backend->TakeDoneLocked(*this);
      }
      if (done != nullptr) done(absl::CancelledError("the call was cancelled"));
    }
    FakeBackend* const backend;
    // Guarded by backend->mu_.
    bool cancelled = false;
    bool ended = false;
    StreamMessage on_message;
    StreamDone on_done;
  };

  // Marks `stream` ended and hands out its on_done; null when it had ended already.
  StreamDone TakeDoneLocked(Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stream.ended) return nullptr;
    stream.ended = true;
    stream.on_message = nullptr;
    return std::move(stream.on_done);
  }

  const std::string name_;
  mutable absl::Mutex mu_;
  std::vector<UnaryCall> unary_calls_ ABSL_GUARDED_BY(mu_);
  std::deque<Answer> scripted_unary_ ABSL_GUARDED_BY(mu_);
  std::deque<UnaryDone> pending_unary_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> health_timeouts_ ABSL_GUARDED_BY(mu_);
  std::deque<bool> scripted_health_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void(bool)>> pending_health_ ABSL_GUARDED_BY(mu_);
  std::vector<StreamCall> stream_calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway::testing

#endif  // BERTH_GATEWAY_BACKEND_TESTING_FAKE_BACKEND_H_
