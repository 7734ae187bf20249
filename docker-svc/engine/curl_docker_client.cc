#include "docker-svc/engine/curl_docker_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "docker-svc/engine/curl_docker_events.h"
#include "docker-svc/engine/curl_http.h"
#include "docker-svc/engine/engine_json.h"

namespace berth::docker {
namespace {

using curl_http::Escape;
using curl_http::MakeRequest;
using curl_http::Malformed;
using curl_http::Request;
using curl_http::Response;

// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
constexpr size_t kMaxSocketPath = 107;

class CurlDockerClient final : public DockerClient {
 public:
  explicit CurlDockerClient(CurlDockerClientConfig config) : transport_(std::move(config)) {}

  absl::Status Ping() override {
    Request request = MakeRequest("ping engine", "GET", "/_ping");
    request.versioned = false;
    return Call(request).status();
  }

  absl::StatusOr<std::string> Version() override {
    Request request = MakeRequest("engine version", "GET", "/version");
    request.versioned = false;
    ASSIGN_OR_RETURN(Response response, Call(request));
    absl::StatusOr<std::string> version = engine_json::ParseVersionResponse(response.body);
    if (!version.ok()) return Malformed(request, version.status());
    absl::StatusOr<int> order = engine_json::CompareApiVersions(*version, config().api_version);
    if (!order.ok()) return Malformed(request, order.status());
    if (*order < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("docker engine at ", config().socket_path, " speaks API version ", *version,
                       ", older than the ", config().api_version,
                       " Berth needs; upgrade Docker (API 1.41 = Docker 20.10)"));
    }
    return *version;
  }

  absl::StatusOr<std::string> CreateContainer(const ContainerSpec& spec) override {
    Request request = MakeRequest(
        absl::StrCat("create container ", spec.name), "POST",
        spec.name.empty() ? "/containers/create" : "/containers/create?name=" + Escape(spec.name));
    request.conflict_code = absl::StatusCode::kAlreadyExists;
    absl::StatusOr<std::string> body = engine_json::CreateRequestBody(spec);
    if (!body.ok()) {
      return absl::Status(body.status().code(),
                          absl::StrCat(request.operation, ": ", body.status().message()));
    }
    request.body = *std::move(body);
    ASSIGN_OR_RETURN(Response response, Call(request));
    absl::StatusOr<std::string> id = engine_json::ParseCreateResponse(response.body);
    if (!id.ok()) return Malformed(request, id.status());
    return *id;
  }

  absl::Status StartContainer(const std::string& id) override {
    return Call(MakeRequest(absl::StrCat("start container ", id), "POST",
                            absl::StrCat("/containers/", Escape(id), "/start")),
                /*accept_not_modified=*/true)
        .status();
  }

  absl::Status StopContainer(const std::string& id, absl::Duration grace) override {
    const int64_t seconds =
        std::max<int64_t>(0, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(grace))));
    Request request = MakeRequest(absl::StrCat("stop container ", id), "POST",
                                  absl::StrCat("/containers/", Escape(id), "/stop?t=", seconds));
    request.timeout = config().request_timeout + absl::Seconds(seconds);
    return Call(request, /*accept_not_modified=*/true).status();
  }

  absl::Status KillContainer(const std::string& id, const std::string& signal) override {
    std::string path = absl::StrCat("/containers/", Escape(id), "/kill");
    if (!signal.empty()) absl::StrAppend(&path, "?signal=", Escape(signal));
    return Call(MakeRequest(absl::StrCat("kill container ", id, " with ", signal), "POST",
                            std::move(path)))
        .status();
  }

  absl::Status RemoveContainer(const std::string& id, bool force, bool remove_volumes) override {
    return Call(MakeRequest(absl::StrCat("remove container ", id), "DELETE",
                            absl::StrCat("/containers/", Escape(id),
                                         "?force=", force ? "true" : "false",
                                         "&v=", remove_volumes ? "true" : "false")))
        .status();
  }

  absl::StatusOr<ContainerInfo> InspectContainer(const std::string& id_or_name) override {
    Request request = MakeRequest(absl::StrCat("inspect container ", id_or_name), "GET",
                                  absl::StrCat("/containers/", Escape(id_or_name), "/json"));
    ASSIGN_OR_RETURN(Response response, Call(request));
    absl::StatusOr<ContainerInfo> info = engine_json::ParseInspectResponse(response.body);
    if (!info.ok()) return Malformed(request, info.status());
    return *std::move(info);
  }

  absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const std::vector<std::string>& label_filter, bool all) override {
    return List(label_filter, all, /*with_size=*/false);
  }

  absl::StatusOr<std::vector<ContainerSummary>> ListContainerSizes(
      const std::vector<std::string>& label_filter, absl::Duration timeout) override {
    return List(label_filter, /*all=*/true, /*with_size=*/true, timeout);
  }

  absl::StatusOr<std::vector<std::string>> ListDanglingVolumes(
      const std::vector<std::string>& label_filter) override {
    EventFilters filters = {{"dangling", {"true"}}};
    if (!label_filter.empty()) filters["label"] = label_filter;
    Request request = MakeRequest("list volumes", "GET",
                                  absl::StrCat("/volumes?filters=",
                                               Escape(engine_json::FiltersJson(filters))));
    ASSIGN_OR_RETURN(Response response, Call(request));
    absl::StatusOr<std::vector<std::string>> names =
        engine_json::ParseVolumeListResponse(response.body);
    if (!names.ok()) return Malformed(request, names.status());
    return *std::move(names);
  }

  absl::Status RemoveVolume(const std::string& name) override {
    return Call(MakeRequest(absl::StrCat("remove volume ", name), "DELETE",
                            absl::StrCat("/volumes/", Escape(name))))
        .status();
  }

  absl::Status StreamEvents(const EventFilters& filters, std::optional<absl::Time> since,
                            const std::function<bool(const Event&)>& on_event,
                            Cancellation& cancel) override {
    return curl_http::StreamEvents(transport_, filters, since, on_event, cancel);
  }

 private:
  // `timeout`: zero for the configured one.
  absl::StatusOr<std::vector<ContainerSummary>> List(const std::vector<std::string>& label_filter,
                                                     bool all, bool with_size,
                                                     absl::Duration timeout = absl::ZeroDuration()) {
    std::string path = absl::StrCat("/containers/json?all=", all ? "true" : "false");
    if (with_size) path.append("&size=true");
    if (!label_filter.empty()) {
      absl::StrAppend(&path, "&filters=",
                      Escape(engine_json::FiltersJson({{"label", label_filter}})));
    }
    Request request = MakeRequest("list containers", "GET", std::move(path));
    request.timeout = timeout;
    ASSIGN_OR_RETURN(Response response, Call(request));
    absl::StatusOr<std::vector<ContainerSummary>> list =
        engine_json::ParseListResponse(response.body);
    if (!list.ok()) return Malformed(request, list.status());
    return *std::move(list);
  }

  // transport_.Call(), shorter.
  absl::StatusOr<Response> Call(const Request& request, bool accept_not_modified = false) const {
    return transport_.Call(request, accept_not_modified);
  }

  const CurlDockerClientConfig& config() const { return transport_.config(); }

  const curl_http::Transport transport_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DockerClient>> MakeCurlDockerClient(
    const CurlDockerClientConfig& config) {
  if (config.socket_path.empty() || config.socket_path.size() > kMaxSocketPath) {
    return absl::InvalidArgumentError(absl::StrCat(
        "docker socket path must be 1 to ", kMaxSocketPath, " bytes: '", config.socket_path, "'"));
  }
  if (!engine_json::CompareApiVersions(config.api_version, config.api_version).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed docker API version '", config.api_version, "'"));
  }
  if (config.connect_timeout <= absl::ZeroDuration() ||
      config.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("docker client timeouts must be positive");
  }
  // Once per process; libcurl counts calls, so main() calling it first is harmless.
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global_init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init: ", curl_easy_strerror(global_init)));
  }
  return std::make_unique<CurlDockerClient>(config);
}

}  // namespace berth::docker
