#include "docker-svc/engine/curl_docker_events.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "docker-svc/engine/engine_json.h"
#include "docker-svc/engine/event_lines.h"

namespace berth::docker::curl_http {
namespace {

// Bound on what an error body may grow to in memory.
constexpr size_t kMaxBufferedBytes = 1 << 20;

// "/events" with `filters` and `since` in its query; Docker takes `since` as
// "<seconds>.<nanoseconds>" since the epoch.
std::string EventsPath(const EventFilters& filters, std::optional<absl::Time> since) {
  std::string path = "/events";
  std::string separator = "?";
  if (!filters.empty()) {
    absl::StrAppend(&path, separator, "filters=", Escape(engine_json::FiltersJson(filters)));
    separator = "&";
  }
  if (since.has_value()) {
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
    absl::StrAppend(&path, separator, "since=", text);
  }
  return path;
}

// What the write callback of the event stream works with.
struct EventStream {
  CURL* handle = nullptr;
  const std::function<bool(const Event&)>* on_event = nullptr;
  long http_status = 0;
  engine_json::EventLineReader lines;
  std::string error_body;  // the body of a non-200 answer
  bool stopped = false;    // on_event returned false
  absl::Status error;      // an event that could not be parsed or buffered

  // What a reader's answer means for the transfer: true goes on, false stops it (on_event
  // stopped it, or `error` says why).
  bool Continue(const absl::Status& read) {
    if (read.ok()) return true;
    if (absl::IsCancelled(read)) {
      stopped = true;
    } else {
      error = read;
    }
    return false;
  }

  size_t Write(const char* data, size_t size) {
    if (http_status == 0) curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status != 200) {
      if (error_body.size() < kMaxBufferedBytes) error_body.append(data, size);
      return size;
    }
    return Continue(lines.Append(absl::string_view(data, size), *on_event)) ? size : 0;
  }

  static size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
    return static_cast<EventStream*>(user)->Write(data, size * count);
  }

  // The outcome of a transfer that ended by itself with a complete answer: the engine's error
  // for a non-200 answer; else, once a last line without its newline is delivered, UNAVAILABLE
  // (the engine ended the stream), or OK if on_event stopped it there.
  absl::Status Finish(const Request& request, const std::string& socket_path) {
    if (http_status == 0) curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status != 200) return HttpError(request, http_status, error_body);
    if (!Continue(lines.Finish(*on_event))) {
      if (stopped) return absl::OkStatus();
      return error;
    }
    return absl::UnavailableError(absl::StrCat("watch events: the docker engine at ", socket_path,
                                               " ended the event stream"));
  }
};

// How a transfer driven by RunTransfer() ended.
struct TransferEnd {
  CURLcode result = CURLE_OK;  // the easy handle's, once it completed
  absl::Status multi_error;    // curl_multi_perform or curl_multi_poll failing
};

// Drives the one transfer on `multi` until it completes, fails, or `cancel` fires (`cancel`'s
// waker must wake `multi`'s poll).
TransferEnd RunTransfer(CURLM* multi, const Cancellation& cancel) {
  TransferEnd end;
  bool done = false;
  while (!done && !cancel.IsCancelled()) {
    int running = 0;
    CURLMcode mcode = curl_multi_perform(multi, &running);
    if (mcode != CURLM_OK) {
      end.multi_error = absl::InternalError(
          absl::StrCat("watch events: curl_multi_perform: ", curl_multi_strerror(mcode)));
      break;
    }
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg == CURLMSG_DONE) {
        end.result = message->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    // Wakes for socket activity, curl's own timers (connect timeout) or Cancel(); the timeout
    // is only a safety net.
    constexpr int kPollTimeoutMs = 10000;
    mcode = curl_multi_poll(multi, nullptr, 0, kPollTimeoutMs, nullptr);
    if (mcode != CURLM_OK) {
      end.multi_error = absl::InternalError(
          absl::StrCat("watch events: curl_multi_poll: ", curl_multi_strerror(mcode)));
      break;
    }
  }
  return end;
}

}  // namespace

absl::Status StreamEvents(const Transport& transport, const EventFilters& filters,
                          std::optional<absl::Time> since,
                          const std::function<bool(const Event&)>& on_event, Cancellation& cancel) {
  if (cancel.IsCancelled()) return absl::OkStatus();
  Request request = MakeRequest("watch events", "GET", EventsPath(filters, since));
  request.timeout = absl::InfiniteDuration();
  const std::string url = transport.Url(request);
  Slist headers;
  char error_buffer[CURL_ERROR_SIZE];
  ASSIGN_OR_RETURN(EasyHandle handle, transport.NewHandle(request, url, headers, error_buffer));
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
  const TransferEnd end = RunTransfer(m, cancel);
  cancel.SetWaker(nullptr);
  curl_multi_remove_handle(m, handle.get());

  if (stream.stopped || cancel.IsCancelled()) return absl::OkStatus();
  if (!stream.error.ok()) return stream.error;
  if (!end.multi_error.ok()) return end.multi_error;
  if (end.result != CURLE_OK) return transport.TransportError(request, end.result, error_buffer);
  return stream.Finish(request, transport.config().socket_path);
}

}  // namespace berth::docker::curl_http
