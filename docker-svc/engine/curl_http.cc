#include "docker-svc/engine/curl_http.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "docker-svc/engine/engine_json.h"

namespace berth::docker::curl_http {
namespace {

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

size_t AppendToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

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

Request MakeRequest(std::string operation, std::string method, std::string path) {
  Request request;
  request.operation = std::move(operation);
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

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

absl::Status Malformed(const Request& request, const absl::Status& status) {
  return absl::InternalError(absl::StrCat(request.operation, ": ", status.message()));
}

std::string Transport::Url(const Request& request) const {
  return absl::StrCat("http://localhost",
                      request.versioned ? absl::StrCat("/v", config_.api_version) : "",
                      request.path);
}

absl::StatusOr<EasyHandle> Transport::NewHandle(const Request& request, const std::string& url,
                                                Slist& headers, char* error_buffer) const {
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

absl::StatusOr<Response> Transport::Call(const Request& in, bool accept_not_modified) const {
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

absl::Status Transport::TransportError(const Request& request, CURLcode code,
                                       const char* error_buffer) const {
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrCat(request.operation, ": docker engine at ",
                                                      config_.socket_path,
                                                      " did not answer in time: ", detail));
    case CURLE_COULDNT_CONNECT:
      return absl::UnavailableError(absl::StrCat(
          request.operation, ": docker engine unreachable at ", config_.socket_path, ": ", detail));
    default:
      return absl::UnavailableError(absl::StrCat(request.operation,
                                                 ": talking to the docker engine at ",
                                                 config_.socket_path, ": ", detail));
  }
}

}  // namespace berth::docker::curl_http
