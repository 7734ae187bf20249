#ifndef BERTH_BENCH_FAKE_DOCKERD_ENGINE_SERVER_H_
#define BERTH_BENCH_FAKE_DOCKERD_ENGINE_SERVER_H_

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/fake_dockerd/fake_engine.h"

namespace berth::fake_dockerd {

// Serves a FakeEngine as the Docker engine serves its API: HTTP/1.1 on a unix socket, any number
// of requests per connection (keep-alive) or one ("Connection: close", HTTP/1.0 without
// keep-alive), bodies with Content-Length or chunked, "Expect: 100-continue" answered, and each
// `GET /events` as a chunked body that ends only when the client hangs up (one event per chunk,
// the head written at once). Everything runs on the thread that runs `io` and costs nothing while
// no request comes: no timer runs but a start's delay. A stream whose reader falls 16 MiB
// behind is cut off.
class EngineServer {
 public:
  // Listens on `socket_path` (its directory must exist). FAILED_PRECONDITION while a server
  // answers there; a socket file nobody answers on (a dead engine's) is replaced. `engine`
  // must outlive `io`'s handlers (destroy it after `io`).
  static absl::StatusOr<std::unique_ptr<EngineServer>> Start(boost::asio::io_context& io,
                                                             const std::string& socket_path,
                                                             FakeEngine* engine);
  // Stop(), then removes the socket file.
  ~EngineServer();
  EngineServer(const EngineServer&) = delete;
  EngineServer& operator=(const EngineServer&) = delete;

  // Stops accepting and closes every connection, streams included. On `io`'s thread;
  // idempotent.
  void Stop();

  struct State;

 private:
  EngineServer(std::string socket_path, std::shared_ptr<State> state);

  const std::string socket_path_;
  std::shared_ptr<State> state_;
};

}  // namespace berth::fake_dockerd

#endif  // BERTH_BENCH_FAKE_DOCKERD_ENGINE_SERVER_H_
