#include "bench/fake_dockerd/fake_engine.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/fake_dockerd/engine_wire.h"

namespace berth::fake_dockerd {
namespace {

using Query = std::map<std::string, std::string>;

// Bounds the ListContainerSizes() call (the fake answers at once).
constexpr absl::Duration kSizesTimeout = absl::Seconds(60);

ApiResponse Json(int status, std::string body) {
  ApiResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

ApiResponse Error(int status, absl::string_view message) {
  return Json(status, ErrorJson(message));
}

// 204 and 304 carry no body (nor a Content-Type).
ApiResponse Empty(int status) {
  ApiResponse response;
  response.status = status;
  response.content_type.clear();
  return response;
}

// The status of a fake-client failure nothing more specific explains.
ApiResponse Internal(const absl::Status& status) {
  return Error(500, std::string(status.message()));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// %XX decoded; `plus_is_space` for query components (as Go's url.ParseQuery).
std::string Unescape(absl::string_view text, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Query ParseQuery(absl::string_view query) {
  Query params;
  for (absl::string_view item : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> key_value =
        absl::StrSplit(item, absl::MaxSplits('=', 1));
    params[Unescape(key_value.first, true)] = Unescape(key_value.second, true);
  }
  return params;
}

std::string Param(const Query& query, const std::string& name) {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

// "1.41" as (1, 41); nullopt when it is not of that form.
std::optional<std::pair<int, int>> ParseVersion(absl::string_view text) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('.', 1));
  std::pair<int, int> version;
  if (!absl::SimpleAtoi(parts.first, &version.first) ||
      !absl::SimpleAtoi(parts.second, &version.second)) {
    return std::nullopt;
  }
  return version;
}

// Docker's container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading '/' is allowed).
bool ValidContainerName(absl::string_view name) {
  if (name.size() < 2 || !absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// Checks that `filters` names only `allowed` filters (Docker's answer otherwise).
std::optional<ApiResponse> OnlyFilters(const docker::EventFilters& filters,
                                       const std::vector<std::string>& allowed) {
  for (const auto& [name, values] : filters) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Error(400, absl::StrCat("invalid filter '", name, "'"));
    }
  }
  return std::nullopt;
}

std::vector<std::string> Values(const docker::EventFilters& filters, const std::string& name) {
  auto it = filters.find(name);
  return it == filters.end() ? std::vector<std::string>() : it->second;
}

bool HasAttribute(const std::map<std::string, std::string>& attributes, const std::string& wanted) {
  std::pair<std::string, std::string> key_value = absl::StrSplit(wanted, absl::MaxSplits('=', 1));
  auto it = attributes.find(key_value.first);
  if (it == attributes.end()) return false;
  return !absl::StrContains(wanted, '=') || it->second == key_value.second;
}

}  // namespace

bool EventPasses(const docker::EventFilters& filters, const docker::Event& event) {
  auto attribute = [&event](const std::string& key) {
    auto it = event.attributes.find(key);
    return it == event.attributes.end() ? std::string() : it->second;
  };
  for (const auto& [name, values] : filters) {
    if (values.empty()) continue;
    auto any = [&values](const std::function<bool(const std::string&)>& accepts) {
      return std::any_of(values.begin(), values.end(), accepts);
    };
    bool passes = true;
    if (name == "type") {
      passes = any([&](const std::string& v) { return v == event.type; });
    } else if (name == "event") {
      passes = any([&](const std::string& v) { return v == event.action; });
    } else if (name == "container") {
      passes = event.type == "container" && any([&](const std::string& v) {
                 return v == event.actor_id || v == attribute("name");
               });
    } else if (name == "image") {
      passes = any([&](const std::string& v) { return v == attribute("image"); });
    } else if (name == "label") {
      passes = std::all_of(values.begin(), values.end(),
                           [&](const std::string& v) { return HasAttribute(event.attributes, v); });
    }
    if (!passes) return false;
  }
  return true;
}

FakeEngine::FakeEngine(FakeEngineOptions options)
    : options_(std::move(options)), docker_(options_.volumes_dir) {
  docker_.AcceptAnyImage();
  // The engine keeps its own events (kept_); the client need keep none.
  docker_.LimitHistory(0);
  docker_.SetEventObserver([this](const docker::Event& event) { Publish(event); });
}

FakeEngine::~FakeEngine() { docker_.SetEventObserver(nullptr); }

void FakeEngine::Publish(const docker::Event& event) {
  KeptEvent kept{event, EventJson(event)};
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    if (EventPasses(it->second.filters, event) && !it->second.sink(kept.line)) {
      it = subscribers_.erase(it);
    } else {
      ++it;
    }
  }
  kept_.push_back(std::move(kept));
  while (kept_.size() > options_.kept_events) kept_.pop_front();
}

uint64_t FakeEngine::Subscribe(const EventStreamRequest& request, EventSink sink) {
  if (request.since.has_value()) {
    for (const KeptEvent& kept : kept_) {
      if (kept.event.time < *request.since || !EventPasses(request.filters, kept.event)) continue;
      if (!sink(kept.line)) return 0;
    }
  }
  const uint64_t id = next_subscriber_++;
  subscribers_.emplace(id, Subscriber{request.filters, std::move(sink)});
  return id;
}

void FakeEngine::Unsubscribe(uint64_t id) { subscribers_.erase(id); }

ApiOutcome FakeEngine::Handle(const ApiRequest& request) {
  std::pair<absl::string_view, absl::string_view> path_query =
      absl::StrSplit(request.target, absl::MaxSplits('?', 1));
  absl::string_view path = path_query.first;
  const Query query = ParseQuery(path_query.second);

  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    parts.push_back(Unescape(part, /*plus_is_space=*/false));
  }
  // /v1.41/...: Docker's version prefix.
  if (!parts.empty() && parts[0].size() > 1 && parts[0][0] == 'v' &&
      absl::ascii_isdigit(static_cast<unsigned char>(parts[0][1]))) {
    const std::string version = parts[0].substr(1);
    std::optional<std::pair<int, int>> asked = ParseVersion(version);
    if (!asked.has_value()) return Error(404, "page not found");
    if (*asked > *ParseVersion(kApiVersion)) {
      return Error(400,
                   absl::StrCat("client version ", version,
                                " is too new. Maximum supported API version is ", kApiVersion));
    }
    if (*asked < *ParseVersion(kMinApiVersion)) {
      return Error(
          400,
          absl::StrCat("client version ", version, " is too old. Minimum supported API version is ",
                       kMinApiVersion, ", please upgrade your client to a newer version"));
    }
    parts.erase(parts.begin());
  }
  const std::string& method = request.method;
  const size_t n = parts.size();
  auto is = [&](size_t i, absl::string_view text) { return i < n && parts[i] == text; };

  if (n == 1 && is(0, "_ping") && (method == "GET" || method == "HEAD")) {
    ApiResponse ok = Json(200, "OK");
    ok.content_type = "text/plain; charset=utf-8";
    return ok;
  }
  if (n == 1 && is(0, "version") && method == "GET") return Json(200, VersionJson());
  if (is(0, "containers")) {
    if (n == 2 && is(1, "create") && method == "POST") return Create(query, request.body);
    if (n == 2 && is(1, "json") && method == "GET") return List(query);
    if (n == 2 && method == "DELETE") return Remove(parts[1], query);
    if (n == 3 && is(2, "json") && method == "GET") return Inspect(parts[1]);
    if (n == 3 && is(2, "start") && method == "POST") return Start(parts[1]);
    if (n == 3 && is(2, "stop") && method == "POST") return Stop(parts[1], query);
    if (n == 3 && is(2, "kill") && method == "POST") return Kill(parts[1], query);
  }
  if (is(0, "volumes")) {
    if (n == 1 && method == "GET") return ListVolumes(query);
    if (n == 2 && method == "DELETE") return RemoveVolume(parts[1]);
  }
  if (n == 1 && is(0, "events") && method == "GET") return Events(query);
  return Error(404, "page not found");
}

ApiResponse FakeEngine::Create(const Query& query, const std::string& body) {
  std::string name = Param(query, "name");
  if (absl::StartsWith(name, "/")) name.erase(0, 1);
  if (!name.empty() && !ValidContainerName(name)) {
    return Error(400, absl::StrCat("Invalid container name (", name,
                                   "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
  }
  absl::StatusOr<docker::ContainerSpec> spec = ParseCreateBody(body, name);
  if (!spec.ok()) return Error(400, spec.status().message());
  absl::StatusOr<std::string> id = docker_.CreateContainer(*spec);
  if (id.ok()) return Json(201, CreatedJson(*id));
  if (absl::IsAlreadyExists(id.status())) {
    absl::StatusOr<docker::ContainerInfo> other = docker_.InspectContainer(name);
    return Error(409,
                 absl::StrCat("Conflict. The container name \"/", name,
                              "\" is already in use by container \"", other.ok() ? other->id : "",
                              "\". You have to remove (or "
                              "rename) that container to be able to reuse that name."));
  }
  if (absl::IsNotFound(id.status())) {
    return Error(404, absl::StrCat("No such image: ", spec->image));
  }
  return Internal(id.status());
}

ApiResponse FakeEngine::Inspect(const std::string& id) {
  absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(id);
  if (!info.ok()) {
    if (absl::IsNotFound(info.status())) {
      return Error(404, absl::StrCat("No such container: ", id));
    }
    return Internal(info.status());
  }
  return Json(200, InspectJson(*info));
}

ApiOutcome FakeEngine::Start(const std::string& id) {
  if (options_.start_delay <= absl::ZeroDuration()) return StartNow(id);
  // Answers a missing or running container at once, as Docker does.
  absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(id);
  if (!info.ok() || info->running) return StartNow(id);
  return DeferredResponse{options_.start_delay, [this, id] { return StartNow(id); }};
}

ApiResponse FakeEngine::StartNow(const std::string& id) {
  absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(id);
  if (!info.ok()) return Error(404, absl::StrCat("No such container: ", id));
  if (info->running) return Empty(304);
  absl::Status started = docker_.StartContainer(info->id);
  if (absl::IsNotFound(started)) return Error(404, absl::StrCat("No such container: ", id));
  if (!started.ok()) return Internal(started);
  return Empty(204);
}

ApiResponse FakeEngine::Stop(const std::string& id, const Query& query) {
  int64_t seconds = 10;
  if (const std::string t = Param(query, "t"); !t.empty() && !absl::SimpleAtoi(t, &seconds)) {
    return Error(400, absl::StrCat("invalid value for t: ", t));
  }
  absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(id);
  if (!info.ok()) return Error(404, absl::StrCat("No such container: ", id));
  if (!info->running) return Empty(304);
  // The fake's containers end at the stop signal, so the grace is never used up.
  absl::Status stopped =
      docker_.StopContainer(info->id, absl::Seconds(std::max<int64_t>(0, seconds)));
  if (!stopped.ok()) return Internal(stopped);
  return Empty(204);
}

ApiResponse FakeEngine::Kill(const std::string& id, const Query& query) {
  const std::string name = Param(query, "signal").empty() ? "SIGKILL" : Param(query, "signal");
  std::optional<int> signal = ParseSignal(name);
  if (!signal.has_value()) return Error(400, absl::StrCat("Invalid signal: ", name));
  absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(id);
  if (!info.ok()) return Error(404, absl::StrCat("No such container: ", id));
  if (!info->running) {
    return Error(409, absl::StrCat("Cannot kill container: ", id, ": Container ", info->id,
                                   " is not running"));
  }
  // Every signal ends a fake container, as if its process did not handle it.
  absl::Status killed = docker_.Exit(info->id, 128 + *signal);
  if (!killed.ok()) return Internal(killed);
  return Empty(204);
}

ApiResponse FakeEngine::Remove(const std::string& id, const Query& query) {
  absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(id);
  if (!info.ok()) return Error(404, absl::StrCat("No such container: ", id));
  absl::Status removed = docker_.RemoveContainer(info->id, QueryBool(Param(query, "force")),
                                                 QueryBool(Param(query, "v")));
  if (removed.ok()) return Empty(204);
  if (absl::IsNotFound(removed)) return Error(404, absl::StrCat("No such container: ", id));
  if (absl::IsFailedPrecondition(removed)) {
    return Error(409, absl::StrCat("You cannot remove a running container ", info->id,
                                   ". Stop the container before attempting removal or force "
                                   "remove"));
  }
  return Internal(removed);
}

ApiResponse FakeEngine::List(const Query& query) {
  absl::StatusOr<docker::EventFilters> filters = ParseFilters(Param(query, "filters"));
  if (!filters.ok()) return Error(400, filters.status().message());
  if (std::optional<ApiResponse> refused = OnlyFilters(*filters, {"label"})) return *refused;
  const std::vector<std::string> labels = Values(*filters, "label");
  const bool all = QueryBool(Param(query, "all"));
  const bool with_size = QueryBool(Param(query, "size"));
  absl::StatusOr<std::vector<docker::ContainerSummary>> summaries =
      with_size ? docker_.ListContainerSizes(labels, kSizesTimeout)
                : docker_.ListContainers(labels, all);
  if (!summaries.ok()) return Internal(summaries.status());
  std::vector<ListedContainer> listed;
  for (const docker::ContainerSummary& summary : *summaries) {
    absl::StatusOr<docker::ContainerInfo> info = docker_.InspectContainer(summary.id);
    if (!info.ok() || (!all && !info->running)) continue;
    std::optional<int64_t> size;
    if (with_size) size = summary.size_rw;
    listed.push_back({*std::move(info), size});
  }
  return Json(200, ContainerListJson(listed));
}

ApiResponse FakeEngine::ListVolumes(const Query& query) {
  absl::StatusOr<docker::EventFilters> filters = ParseFilters(Param(query, "filters"));
  if (!filters.ok()) return Error(400, filters.status().message());
  if (std::optional<ApiResponse> refused = OnlyFilters(*filters, {"dangling", "label"})) {
    return *refused;
  }
  const std::vector<std::string> dangling = Values(*filters, "dangling");
  const std::vector<std::string> labels = Values(*filters, "label");
  if (dangling.empty() && labels.empty()) return Json(200, VolumeListJson(docker_.volumes()));
  if (dangling.size() != 1 || (dangling[0] != "true" && dangling[0] != "1")) {
    return Error(400, "fake_dockerd lists volumes by label only with dangling=true");
  }
  absl::StatusOr<std::vector<std::string>> names = docker_.ListDanglingVolumes(labels);
  if (!names.ok()) return Internal(names.status());
  return Json(200, VolumeListJson(*names));
}

ApiResponse FakeEngine::RemoveVolume(const std::string& name) {
  absl::Status removed = docker_.RemoveVolume(name);
  if (removed.ok()) return Empty(204);
  if (absl::IsNotFound(removed)) return Error(404, absl::StrCat("get ", name, ": no such volume"));
  if (absl::IsFailedPrecondition(removed)) {
    return Error(409, absl::StrCat("remove ", name, ": volume is in use"));
  }
  return Internal(removed);
}

ApiOutcome FakeEngine::Events(const Query& query) {
  absl::StatusOr<docker::EventFilters> filters = ParseFilters(Param(query, "filters"));
  if (!filters.ok()) return Error(400, filters.status().message());
  if (std::optional<ApiResponse> refused =
          OnlyFilters(*filters, {"type", "event", "label", "container", "image"})) {
    return *refused;
  }
  if (!Param(query, "until").empty()) return Error(400, "fake_dockerd does not serve `until`");
  EventStreamRequest stream;
  stream.filters = *std::move(filters);
  if (const std::string since = Param(query, "since"); !since.empty()) {
    absl::StatusOr<absl::Time> time = ParseTimestamp(since, absl::Now());
    if (!time.ok()) return Error(400, time.status().message());
    stream.since = *time;
  }
  return stream;
}

}  // namespace berth::fake_dockerd
