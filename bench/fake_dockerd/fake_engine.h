#ifndef BERTH_BENCH_FAKE_DOCKERD_FAKE_ENGINE_H_
#define BERTH_BENCH_FAKE_DOCKERD_FAKE_ENGINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "absl/time/time.h"
#include "docker-svc/engine/docker_client.h"
#include "docker-svc/engine/testing/fake_docker_client.h"

namespace berth::fake_dockerd {

// One HTTP request as the engine sees it.
struct ApiRequest {
  std::string method;  // "GET", "HEAD", "POST", "DELETE"
  std::string target;  // path and query as sent: "/v1.41/containers/x/json"
  std::string body;
};

// One complete answer. `body` is empty for 204 and 304.
struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// An answer the caller gives after `delay` (a start under FakeEngineOptions::start_delay): it
// calls `then`, on the engine's thread, once the delay is over, and sends what it returns.
struct DeferredResponse {
  absl::Duration delay;
  std::function<ApiResponse()> then;
};

// `GET /events`: the caller answers 200 with a chunked body that never ends by itself and
// hands the request to FakeEngine::Subscribe().
struct EventStreamRequest {
  docker::EventFilters filters;
  std::optional<absl::Time> since;
};

using ApiOutcome = std::variant<ApiResponse, DeferredResponse, EventStreamRequest>;

struct FakeEngineOptions {
  // Where the anonymous volumes go, one directory each (absolute, existing; on a tmpfs for
  // docker-svc to write into them).
  std::string volumes_dir;
  // How long each start takes before it answers (and the container runs).
  absl::Duration start_delay = absl::ZeroDuration();
  // Events kept for a stream's `since` (Docker keeps 256).
  size_t kept_events = 256;
};

// The state and the routes of fake_dockerd: the subset of the Docker Engine API 1.41 that
// docker-svc's CurlDockerClient calls, answered as Docker 20.10 answers it, over the in-memory
// engine of docker-svc/engine/testing/fake_docker_client.h (any image exists; containers run until
// stopped, killed or removed; each anonymous volume is a fresh directory under volumes_dir).
//
// Routes (each also under a /v<version> prefix up to 1.41): GET|HEAD /_ping, GET /version,
// POST /containers/create?name=, GET /containers/json?all=&size=&filters= (label),
// GET /containers/{id}/json, POST /containers/{id}/start, /stop?t=, /kill?signal=,
// DELETE /containers/{id}?force=&v=, GET /volumes?filters= (dangling=true, label),
// DELETE /volumes/{name}, GET /events?filters= (type, event, label, container, image)&since=.
// Errors are Docker's: {"message": "..."} with 400, 404 ("No such container: x"), 409 or 500;
// a start of a running container and a stop of a stopped one are 304.
//
// Not thread-safe: Handle(), Subscribe(), Unsubscribe(), a deferred answer's `then` and every
// EventSink call happen on one thread (the server's).
class FakeEngine {
 public:
  explicit FakeEngine(FakeEngineOptions options);
  // Removes the volumes still there (an engine that is gone leaves no directory behind).
  ~FakeEngine();
  FakeEngine(const FakeEngine&) = delete;
  FakeEngine& operator=(const FakeEngine&) = delete;

  ApiOutcome Handle(const ApiRequest& request);

  // Takes one event line (JSON and "\n"). Returns false once its stream is gone; the engine
  // then drops it. It must not call the engine.
  using EventSink = std::function<bool(const std::string& line)>;
  // Hands `sink` the kept events from `request.since` on (when given) that pass the filters,
  // then each new one as it happens. Returns the id Unsubscribe() takes.
  uint64_t Subscribe(const EventStreamRequest& request, EventSink sink);
  // Idempotent; unknown ids are ignored.
  void Unsubscribe(uint64_t id);

 private:
  struct KeptEvent {
    docker::Event event;
    std::string line;
  };
  struct Subscriber {
    docker::EventFilters filters;
    EventSink sink;
  };
  // Called by the fake client with each event it emits.
  void Publish(const docker::Event& event);

  ApiResponse Create(const std::map<std::string, std::string>& query, const std::string& body);
  ApiResponse Inspect(const std::string& id);
  ApiOutcome Start(const std::string& id);
  ApiResponse StartNow(const std::string& id);
  ApiResponse Stop(const std::string& id, const std::map<std::string, std::string>& query);
  ApiResponse Kill(const std::string& id, const std::map<std::string, std::string>& query);
  ApiResponse Remove(const std::string& id, const std::map<std::string, std::string>& query);
  ApiResponse List(const std::map<std::string, std::string>& query);
  ApiResponse ListVolumes(const std::map<std::string, std::string>& query);
  ApiResponse RemoveVolume(const std::string& name);
  ApiOutcome Events(const std::map<std::string, std::string>& query);

  const FakeEngineOptions options_;
  docker::testing::FakeDockerClient docker_;
  std::deque<KeptEvent> kept_;
  std::map<uint64_t, Subscriber> subscribers_;
  uint64_t next_subscriber_ = 1;
};

// Whether `event` passes Docker's event `filters`: for each filter name one of its values
// matches ("type", "event" = the action, "container" = id or name, "image"), and every "label"
// ("key" or "key=value") is among the actor's attributes.
bool EventPasses(const docker::EventFilters& filters, const docker::Event& event);

}  // namespace berth::fake_dockerd

#endif  // BERTH_BENCH_FAKE_DOCKERD_FAKE_ENGINE_H_
