#ifndef BERTH_BENCH_FAKE_DOCKERD_ENGINE_WIRE_H_
#define BERTH_BENCH_FAKE_DOCKERD_ENGINE_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "docker-svc/engine/docker_client.h"

// The Docker Engine API 1.41 from the engine's side: the requests a client sends, parsed into
// the plain structs of docker-svc/engine/docker_client.h, and the engine's answers printed in Docker's
// JSON shapes (Go's encoding/json: numbers unquoted, Go's zero time, `null` for empty lists
// where Docker sends it). Only what fake_dockerd serves. Pure functions, thread-safe.
// Parse errors are INVALID_ARGUMENT with a message fit for the 400 answer.
namespace berth::fake_dockerd {

// The API version the fake speaks and the oldest it takes, as Docker 20.10.
inline constexpr char kApiVersion[] = "1.41";
inline constexpr char kMinApiVersion[] = "1.12";

// The body of `POST /containers/create?name=<name>`. HostConfig.Mounts may hold only anonymous
// volumes (no Source) of the `local` driver, with or without its tmpfs options (`type`,
// `device`, `o` with size=, mode=, nr_inodes=); anything else there is refused.
absl::StatusOr<docker::ContainerSpec> ParseCreateBody(absl::string_view body, std::string name);

// A `filters` query value: {"label":["a","b=c"]} or Docker's older {"label":{"a":true}}.
absl::StatusOr<docker::EventFilters> ParseFilters(absl::string_view json);

// A `since` value: "<seconds>[.<nanoseconds>]" since the epoch, RFC 3339, or a Go duration
// ("10m") before `now`.
absl::StatusOr<absl::Time> ParseTimestamp(absl::string_view text, absl::Time now);

// Docker's boolean query values: "", "0", "no", "false" and "none" (any case) are false.
bool QueryBool(absl::string_view value);

// Signal names and numbers as `POST /containers/{id}/kill?signal=` takes them ("SIGKILL",
// "KILL", "9"); nullopt for one Linux does not have.
std::optional<int> ParseSignal(absl::string_view text);

// Answers, each one line of JSON ending in "\n" as Docker's encoder writes it.
std::string ErrorJson(absl::string_view message);
std::string VersionJson();
std::string CreatedJson(absl::string_view id);
std::string InspectJson(const docker::ContainerInfo& info);
// One entry of `GET /containers/json`; `size_rw` only with ?size=true.
struct ListedContainer {
  docker::ContainerInfo info;
  std::optional<int64_t> size_rw;
};
std::string ContainerListJson(const std::vector<ListedContainer>& containers);
std::string VolumeListJson(const std::vector<std::string>& names);
// One event of `GET /events`, with Docker's older status/id/from fields too.
std::string EventJson(const docker::Event& event);

// Docker's text form of a time: RFC 3339 in UTC with nanoseconds, "0001-01-01T00:00:00Z" for
// InfinitePast() (never).
std::string DockerTime(absl::Time time);

}  // namespace berth::fake_dockerd

#endif  // BERTH_BENCH_FAKE_DOCKERD_ENGINE_WIRE_H_
