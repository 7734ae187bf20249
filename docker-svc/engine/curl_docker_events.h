#ifndef BERTH_DOCKER_SVC_ENGINE_CURL_DOCKER_EVENTS_H_
#define BERTH_DOCKER_SVC_ENGINE_CURL_DOCKER_EVENTS_H_

#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "docker-svc/engine/curl_http.h"
#include "docker-svc/engine/docker_client.h"

namespace berth::docker::curl_http {

// DockerClient::StreamEvents() over `transport`: follows GET /events (with `filters`, and
// `since` to nanoseconds) with no overall timeout, handing each event line to `on_event` until
// it returns false or `cancel` fires (both OK). Otherwise as DockerClient documents: the engine
// ending the stream is UNAVAILABLE, an event that cannot be parsed or exceeds 1 MiB INTERNAL.
absl::Status StreamEvents(const Transport& transport, const EventFilters& filters,
                          std::optional<absl::Time> since,
                          const std::function<bool(const Event&)>& on_event, Cancellation& cancel);

}  // namespace berth::docker::curl_http

#endif  // BERTH_DOCKER_SVC_ENGINE_CURL_DOCKER_EVENTS_H_
