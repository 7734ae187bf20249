#include "docker-svc/engine/curl_docker_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "docker-svc/engine/engine_json.h"

namespace berth::docker {
namespace {

// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
constexpr size_t kMaxSocketPath = 107;
// Bound on what an error body or a single event line may grow to in memory.
constexpr size_t kMaxBufferedBytes = 1 << 20;

struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string Escape(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out.append(hex);
    }
  }
  return out;
}

// A body for a Status message: printable, short.
std::string Snippet(absl::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) {
    out.push_back(absl::ascii_isprint(static_cast<unsigned char>(c)) ? c : '?');
  }
  if (body.size() > 200) out.append("...");
  return out;
}

long DurationMillis(absl::Duration duration) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

struct Request {
  std::string operation;    // "create container berth-x", prefixes every error
  std::string method;       // GET, POST, DELETE
  std::string path;         // with query, without the version prefix
  bool versioned = true;    // prefix /v<api_version>
  std::string body;         // JSON, sent with POST when non-empty
  // Bounds the whole call: zero means the configured request timeout, InfiniteDuration() none.
  absl::Duration timeout = absl::ZeroDuration();
  absl::StatusCode conflict_code = absl::StatusCode::kFailedPrecondition;  // for HTTP 409
};

Request MakeRequest(std::string operation, std::string method, std::string path) {
  Request request;
  request.operation = std::move(operation);
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

struct Response {
  long status = 0;
  std::string body;
};

size_t AppendToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// The Status for a Docker answer outside 2xx (and not a 304 the caller accepts).
absl::Status HttpError(const Request& request, long status, absl::string_view body) {
  std::string detail;
  if (std::optional<std::string> message = engine_json::ParseErrorMessage(body)) {
    detail = absl::StrCat(*message, " (HTTP ", status, ")");
  } else if (absl::StripAsciiWhitespace(body).empty()) {
    detail = absl::StrCat("HTTP ", status, " with an empty body");
  } else {
    detail = absl::StrCat("HTTP ", status, ": ", Snippet(body));
  }
  std::string message = absl::StrCat(request.operation, ": ", detail);
  switch (status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::Status(request.conflict_code, message);
    case 502:
    case 503:
    case 504:
      return absl::UnavailableError(message);
    default:
      if (status >= 500) return absl::InternalError(message);
      return absl::UnknownError(message);
  }
}

class CurlDockerClient final : public DockerClient {
 public:
  explicit CurlDockerClient(CurlDockerClientConfig config) : config_(std::move(config)) {}

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
    absl::StatusOr<int> order = engine_json::CompareApiVersions(*version, config_.api_version);
    if (!order.ok()) return Malformed(request, order.status());
    if (*order < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "docker engine at ", config_.socket_path, " speaks API version ", *version,
          ", older than the ", config_.api_version,
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
    request.timeout = config_.request_timeout + absl::Seconds(seconds);
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
                            Cancellation& cancel) override;

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

  std::string Url(const Request& request) const {
    return absl::StrCat("http://localhost",
                        request.versioned ? absl::StrCat("/v", config_.api_version) : "",
                        request.path);
  }

  // A handle set up for `request`; `headers` must outlive the transfer.
  absl::StatusOr<EasyHandle> NewHandle(const Request& request, const std::string& url,
                                       Slist& headers, char* error_buffer) const;

  // Runs `request` to completion. Non-2xx answers become errors, except 304 when
  // `accept_not_modified`.
  absl::StatusOr<Response> Call(const Request& request, bool accept_not_modified = false);

  absl::Status TransportError(const Request& request, CURLcode code,
                              const char* error_buffer) const {
    std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        return absl::DeadlineExceededError(
            absl::StrCat(request.operation, ": docker engine at ", config_.socket_path,
                         " did not answer in time: ", detail));
      case CURLE_COULDNT_CONNECT:
        return absl::UnavailableError(absl::StrCat(request.operation,
                                                   ": docker engine unreachable at ",
                                                   config_.socket_path, ": ", detail));
      default:
        return absl::UnavailableError(absl::StrCat(request.operation,
                                                   ": talking to the docker engine at ",
                                                   config_.socket_path, ": ", detail));
    }
  }

  static absl::Status Malformed(const Request& request, const absl::Status& status) {
    return absl::InternalError(absl::StrCat(request.operation, ": ", status.message()));
  }

  const CurlDockerClientConfig config_;
};

absl::StatusOr<EasyHandle> CurlDockerClient::NewHandle(const Request& request,
                                                       const std::string& url, Slist& headers,
                                                       char* error_buffer) const {
  EasyHandle handle(curl_easy_init());
  if (handle == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(request.operation, ": curl_easy_init failed"));
  }
  CURL* h = handle.get();
  error_buffer[0] = '\0';
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, config_.socket_path.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DurationMillis(config_.connect_timeout));
  if (request.timeout != absl::InfiniteDuration()) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, DurationMillis(request.timeout));
  }
  // Docker never asks for 100-continue; waiting for it would only add a second of latency.
  headers.reset(curl_slist_append(nullptr, "Expect:"));
  if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
    if (!request.body.empty()) {
      headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
    }
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (headers == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(request.operation, ": curl_slist_append"));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  return handle;
}

absl::StatusOr<Response> CurlDockerClient::Call(const Request& in, bool accept_not_modified) {
  Request request = in;
  if (request.timeout == absl::ZeroDuration()) request.timeout = config_.request_timeout;
  const std::string url = Url(request);
  Slist headers;
  char error_buffer[CURL_ERROR_SIZE];
  ASSIGN_OR_RETURN(EasyHandle handle, NewHandle(request, url, headers, error_buffer));
  Response response;
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, &AppendToString);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &response.body);
  CURLcode code = curl_easy_perform(handle.get());
  if (code != CURLE_OK) return TransportError(request, code, error_buffer);
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &response.status);
  if (response.status >= 200 && response.status < 300) return response;
  if (response.status == 304 && accept_not_modified) return response;
  return HttpError(request, response.status, response.body);
}

// What the write callback of the event stream works with.
struct EventStream {
  CURL* handle = nullptr;
  const std::function<bool(const Event&)>* on_event = nullptr;
  long http_status = 0;
  std::string pending;     // bytes of an event line not yet complete
  std::string error_body;  // the body of a non-200 answer
  bool stopped = false;    // on_event returned false
  absl::Status error;      // an event that could not be parsed or buffered

  // Hands one complete line to on_event. False stops the transfer.
  bool Deliver(absl::string_view line) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) return true;
    absl::StatusOr<Event> event = engine_json::ParseEvent(line);
    if (!event.ok()) {
      error = absl::InternalError(absl::StrCat("watch events: ", event.status().message()));
      return false;
    }
    if (!(*on_event)(*event)) {
      stopped = true;
      return false;
    }
    return true;
  }

  size_t Write(const char* data, size_t size) {
    if (http_status == 0) curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status != 200) {
      if (error_body.size() < kMaxBufferedBytes) error_body.append(data, size);
      return size;
    }
    pending.append(data, size);
    size_t start = 0;
    for (size_t newline; (newline = pending.find('\n', start)) != std::string::npos;
         start = newline + 1) {
      if (!Deliver(absl::string_view(pending).substr(start, newline - start))) return 0;
    }
    pending.erase(0, start);
    if (pending.size() > kMaxBufferedBytes) {
      error = absl::InternalError("watch events: an event line exceeds 1 MiB");
      return 0;
    }
    return size;
  }

  static size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
    return static_cast<EventStream*>(user)->Write(data, size * count);
  }
};

absl::Status CurlDockerClient::StreamEvents(const EventFilters& filters,
                                            std::optional<absl::Time> since,
                                            const std::function<bool(const Event&)>& on_event,
                                            Cancellation& cancel) {
  if (cancel.IsCancelled()) return absl::OkStatus();
  Request request = MakeRequest("watch events", "GET", "/events");
  request.timeout = absl::InfiniteDuration();
  std::string separator = "?";
  if (!filters.empty()) {
    absl::StrAppend(&request.path, separator, "filters=",
                    Escape(engine_json::FiltersJson(filters)));
    separator = "&";
  }
  if (since.has_value()) {
    // Docker takes "<seconds>.<nanoseconds>" since the epoch.
    const int64_t nanos = absl::ToUnixNanos(*since);
    int64_t seconds = nanos / 1'000'000'000;
    int64_t fraction = nanos % 1'000'000'000;
    if (fraction < 0) {
      fraction += 1'000'000'000;
      --seconds;
    }
    char text[48];
    std::snprintf(text, sizeof(text), "%lld.%09lld", static_cast<long long>(seconds),
                  static_cast<long long>(fraction));
    absl::StrAppend(&request.path, separator, "since=", text);
  }
  const std::string url = Url(request);
  Slist headers;
  char error_buffer[CURL_ERROR_SIZE];
  ASSIGN_OR_RETURN(EasyHandle handle, NewHandle(request, url, headers, error_buffer));
  EventStream stream;
  stream.handle = handle.get();
  stream.on_event = &on_event;
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, &EventStream::WriteCallback);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &stream);

  MultiHandle multi(curl_multi_init());
  if (multi == nullptr) return absl::ResourceExhaustedError("watch events: curl_multi_init");
  if (curl_multi_add_handle(multi.get(), handle.get()) != CURLM_OK) {
    return absl::InternalError("watch events: curl_multi_add_handle");
  }
  CURLM* m = multi.get();
  cancel.SetWaker([m] { curl_multi_wakeup(m); });

  CURLcode result = CURLE_OK;
  bool done = false;
  absl::Status multi_error;
  while (!done && !cancel.IsCancelled()) {
    int running = 0;
    CURLMcode mcode = curl_multi_perform(m, &running);
    if (mcode != CURLM_OK) {
      multi_error = absl::InternalError(
          absl::StrCat("watch events: curl_multi_perform: ", curl_multi_strerror(mcode)));
      break;
    }
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(m, &queued)) {
      if (message->msg == CURLMSG_DONE) {
        result = message->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    // Wakes for socket activity, curl's own timers (connect timeout) or Cancel(); the timeout
    // is only a safety net.
    constexpr int kPollTimeoutMs = 10000;
    mcode = curl_multi_poll(m, nullptr, 0, kPollTimeoutMs, nullptr);
    if (mcode != CURLM_OK) {
      multi_error = absl::InternalError(
          absl::StrCat("watch events: curl_multi_poll: ", curl_multi_strerror(mcode)));
      break;
    }
  }
  cancel.SetWaker(nullptr);
  curl_multi_remove_handle(m, handle.get());

  if (stream.stopped || cancel.IsCancelled()) return absl::OkStatus();
  if (!stream.error.ok()) return stream.error;
  if (!multi_error.ok()) return multi_error;
  if (result != CURLE_OK) return TransportError(request, result, error_buffer);
  if (stream.http_status == 0) {
    curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &stream.http_status);
  }
  if (stream.http_status != 200) {
    return HttpError(request, stream.http_status, stream.error_body);
  }
  // A last line without its newline still counts.
  if (!stream.pending.empty()) {
    std::string last = std::move(stream.pending);
    stream.pending.clear();
    if (!stream.Deliver(last)) {
      if (stream.stopped) return absl::OkStatus();
      return stream.error;
    }
  }
  return absl::UnavailableError(absl::StrCat("watch events: the docker engine at ",
                                             config_.socket_path, " ended the event stream"));
}

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
