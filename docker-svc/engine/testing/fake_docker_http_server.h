#ifndef BERTH_DOCKER_SVC_ENGINE_TESTING_FAKE_DOCKER_HTTP_SERVER_H_
#define BERTH_DOCKER_SVC_ENGINE_TESTING_FAKE_DOCKER_HTTP_SERVER_H_

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth::docker::testing {

// One request as the fake received it.
struct RecordedRequest {
  std::string method;                         // "GET", "POST", "DELETE"
  std::string target;                         // path and query, as sent ("/v1.41/_ping")
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
};

// What the fake answers to one request.
struct CannedResponse {
  int status = 200;
  std::string body;  // sent with Content-Length (when `chunks` is empty)
  std::string content_type = "application/json";
  // When non-empty, the body goes out with Transfer-Encoding: chunked, one HTTP chunk per
  // entry, each written separately, `chunk_delay` apart.
  std::vector<std::string> chunks;
  absl::Duration chunk_delay = absl::ZeroDuration();
  // False: after the chunks, the response never ends; the connection stays open until the
  // client closes it or the server stops.
  bool end_stream = true;
  // True: read the request, send nothing, hold the connection (a hung engine).
  bool never_respond = false;

  static CannedResponse Json(int status, std::string body);
  static CannedResponse Stream(std::vector<std::string> chunks, bool end_stream);
  static CannedResponse Hang();
};

// A stand-in for dockerd: serves HTTP/1.1 on a unix socket from its own threads, answering
// requests in arrival order with the queued CannedResponses (a 500 with a Docker-style error
// message once the queue is empty), one request per connection ("Connection: close"), and
// records every request. Thread-safe. Destruction closes held connections and joins threads.
class FakeDockerHttpServer {
 public:
  // Listens on `socket_path` (which must not exist). INTERNAL with errno text on failure.
  static absl::StatusOr<std::unique_ptr<FakeDockerHttpServer>> Start(
      const std::string& socket_path);
  ~FakeDockerHttpServer();
  FakeDockerHttpServer(const FakeDockerHttpServer&) = delete;
  FakeDockerHttpServer& operator=(const FakeDockerHttpServer&) = delete;

  void Enqueue(CannedResponse response);

  // Every request received so far, in arrival order.
  std::vector<RecordedRequest> requests() const;

  // Waits until at least `count` requests arrived; false on timeout.
  bool WaitForRequests(size_t count, absl::Duration timeout) const;

  const std::string& socket_path() const { return socket_path_; }

 private:
  FakeDockerHttpServer(std::string socket_path, int listen_fd, int stop_read, int stop_write);
  void AcceptLoop();
  // Answers the one request of connection `fd`; the caller closes it.
  void Serve(int fd);
  // Reads a request from `fd`: its head, then Content-Length bytes of body, answering
  // "Expect: 100-continue". False when the client went away, the server is stopping or the
  // head is malformed.
  bool ReadRequest(int fd, RecordedRequest* request) const;
  // Records `request` and takes the next queued response (a 500 when the queue is empty).
  CannedResponse TakeResponse(const RecordedRequest& request);
  // Writes `response` to `fd`, then holds the connection if the response says so.
  void Respond(int fd, const CannedResponse& response) const;
  // Drops what the client sends until it closes `fd` or the server stops.
  void Hold(int fd) const;
  // Waits up to `timeout` for the stop signal; true when stopping.
  bool WaitForStop(absl::Duration timeout) const;

  const std::string socket_path_;
  const int listen_fd_;
  const int stop_read_;
  const int stop_write_;
  std::thread accept_thread_;

  mutable absl::Mutex mu_;
  std::deque<CannedResponse> responses_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connection_threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::docker::testing

#endif  // BERTH_DOCKER_SVC_ENGINE_TESTING_FAKE_DOCKER_HTTP_SERVER_H_
