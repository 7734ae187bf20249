#ifndef BERTH_DOCKER_SVC_ENGINE_CURL_HTTP_H_
#define BERTH_DOCKER_SVC_ENGINE_CURL_HTTP_H_

#include <curl/curl.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "docker-svc/engine/curl_docker_client.h"

// HTTP/1.1 requests to the Docker engine over its unix socket with libcurl: the plumbing that
// CurlDockerClient's calls and its event stream share. Internal to the curl_docker_client
// library.
namespace berth::docker::curl_http {

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
std::string Escape(absl::string_view text);

struct Request {
  std::string operation;  // "create container berth-x", prefixes every error
  std::string method;     // GET, POST, DELETE
  std::string path;       // with query, without the version prefix
  bool versioned = true;  // prefix /v<api_version>
  std::string body;       // JSON, sent with POST when non-empty
  // Bounds the whole call: zero means the configured request timeout, InfiniteDuration() none.
  absl::Duration timeout = absl::ZeroDuration();
  absl::StatusCode conflict_code = absl::StatusCode::kFailedPrecondition;  // for HTTP 409
};

Request MakeRequest(std::string operation, std::string method, std::string path);

struct Response {
  long status = 0;
  std::string body;
};

// The Status for a Docker answer outside 2xx (and not a 304 the caller accepts): Docker's
// message (or a printable snippet of the body) after `request.operation`, its code from the
// HTTP status.
absl::Status HttpError(const Request& request, long status, absl::string_view body);

// INTERNAL for an answer that could not be understood, `status`'s message after
// `request.operation`.
absl::Status Malformed(const Request& request, const absl::Status& status);

// Sends Requests to the engine `config` names. Thread-safe: every call has its own handle.
class Transport {
 public:
  explicit Transport(CurlDockerClientConfig config) : config_(std::move(config)) {}

  const CurlDockerClientConfig& config() const { return config_; }

  // The URL of `request` (its host is a placeholder: the socket is the destination).
  std::string Url(const Request& request) const;

  // A handle set up for `request` to `url`, writing curl's error text to `error_buffer`
  // (CURL_ERROR_SIZE bytes); `url`, `headers` and `error_buffer` must outlive the transfer.
  // RESOURCE_EXHAUSTED when libcurl cannot allocate.
  absl::StatusOr<EasyHandle> NewHandle(const Request& request, const std::string& url,
                                       Slist& headers, char* error_buffer) const;

  // Runs `request` to completion. Non-2xx answers become errors (HttpError), except 304 when
  // `accept_not_modified`; failures to talk to the engine are TransportError()s.
  absl::StatusOr<Response> Call(const Request& request, bool accept_not_modified = false) const;

  // The Status for a transfer that failed with `code`: DEADLINE_EXCEEDED on a timeout,
  // UNAVAILABLE otherwise, naming the socket.
  absl::Status TransportError(const Request& request, CURLcode code,
                              const char* error_buffer) const;

 private:
  const CurlDockerClientConfig config_;
};

}  // namespace berth::docker::curl_http

#endif  // BERTH_DOCKER_SVC_ENGINE_CURL_HTTP_H_
