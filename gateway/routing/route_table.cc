#include "gateway/routing/route_table.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "gateway/routing/http_status.h"
#include "gateway/routing/text_codec.h"

namespace berth::gateway::routing {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// The payload a method-not-allowed status carries: the Allow header value.
constexpr absl::string_view kAllowPayload = "type.berth.dev/berth.gateway.Allow";

bool IsIdentifier(absl::string_view text) {
  if (text.empty() || absl::ascii_isdigit(static_cast<unsigned char>(text[0]))) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Whether a path variable may bind `field`: singular, and a string or an integer.
bool IsBindableField(const FieldDescriptor& field) {
  if (field.is_repeated()) return false;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return field.type() == FieldDescriptor::TYPE_STRING;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return true;
    default:
      return false;
  }
}

// Parses `text` against the request message `input`; errors say what is wrong with it.
absl::StatusOr<PathTemplate> ParsePathTemplate(absl::string_view text, const Descriptor& input) {
  if (text.empty() || text[0] != '/') {
    return absl::InvalidArgumentError("the path template must start with '/'");
  }
  PathTemplate parsed;
  parsed.text = std::string(text);
  for (absl::string_view segment : absl::StrSplit(text.substr(1), '/')) {
    if (segment.empty())
      return absl::InvalidArgumentError("the path template has an empty segment");
    if (segment.front() == '{') {
      if (segment.back() != '}') {
        return absl::InvalidArgumentError(absl::StrCat("malformed variable \"", segment, "\""));
      }
      const absl::string_view name = segment.substr(1, segment.size() - 2);
      if (!IsIdentifier(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("variable \"", segment,
                         "\" must be a field name (nested fields and patterns are "
                         "not supported)"));
      }
      const FieldDescriptor* field = input.FindFieldByName(std::string(name));
      if (field == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("variable \"", name, "\" names no field of ", input.full_name()));
      }
      if (!IsBindableField(*field)) {
        return absl::InvalidArgumentError(
            absl::StrCat("variable \"", name, "\" must name a singular string or integer field of ",
                         input.full_name()));
      }
      for (const PathTemplate::Segment& earlier : parsed.segments) {
        if (earlier.field == field) {
          return absl::InvalidArgumentError(absl::StrCat("variable \"", name, "\" is bound twice"));
        }
      }
      parsed.segments.push_back({std::string(name), field});
    } else {
      if (segment.find_first_of("{}%?#") != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("literal segment \"", segment, "\" holds one of {}%?#"));
      }
      parsed.segments.push_back({std::string(segment), nullptr});
    }
  }
  return parsed;
}

// The rule's HTTP method and path template, or nullopt when it sets none.
std::optional<std::pair<std::string, std::string>> MethodAndPath(const berth::api::HttpRule& rule) {
  switch (rule.pattern_case()) {
    case berth::api::HttpRule::kGet:
      return std::make_pair("GET", rule.get());
    case berth::api::HttpRule::kPut:
      return std::make_pair("PUT", rule.put());
    case berth::api::HttpRule::kPost:
      return std::make_pair("POST", rule.post());
    case berth::api::HttpRule::kDelete:
      return std::make_pair("DELETE", rule.delete_());
    case berth::api::HttpRule::kPatch:
      return std::make_pair("PATCH", rule.patch());
    case berth::api::HttpRule::PATTERN_NOT_SET:
      break;
  }
  return std::nullopt;
}

// `binding` as its route serves it: its own pattern and body, the outer rule's success_status
// and timeout_ms where it leaves them 0, backend_only when either sets it, and no
// additional_bindings. With `binding` == `outer`, that is the outer rule without its bindings.
berth::api::HttpRule EffectiveRule(const berth::api::HttpRule& outer,
                                   const berth::api::HttpRule& binding) {
  berth::api::HttpRule effective = binding;
  effective.clear_additional_bindings();
  if (effective.success_status() == 0) effective.set_success_status(outer.success_status());
  if (effective.timeout_ms() == 0) effective.set_timeout_ms(outer.timeout_ms());
  effective.set_backend_only(binding.backend_only() || outer.backend_only());
  return effective;
}

// The route of one (effective) `rule` of `method`. Errors are INVALID_ARGUMENT naming the
// method, then `where` ("" for the outer rule, "additional_bindings[i]: " for a binding).
absl::StatusOr<Route> BuildRoute(const MethodDescriptor& method, const berth::api::HttpRule& rule,
                                 absl::string_view where) {
  const auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP rule of ", method.full_name(), ": ", where, what));
  };
  std::optional<std::pair<std::string, std::string>> method_and_path = MethodAndPath(rule);
  if (!method_and_path.has_value()) return invalid("it sets no HTTP method and path");
  Route route;
  route.http_method = method_and_path->first;
  absl::StatusOr<PathTemplate> path =
      ParsePathTemplate(method_and_path->second, *method.input_type());
  if (!path.ok()) {
    return invalid(
        absl::StrCat("path \"", method_and_path->second, "\": ", path.status().message()));
  }
  route.path = *std::move(path);
  if (rule.body() != "" && rule.body() != "*") {
    return invalid(absl::StrCat("body \"", rule.body(), "\" is not \"\" or \"*\""));
  }
  if (rule.body() == "*" && route.http_method == "GET") return invalid("a GET cannot take a body");
  if (rule.success_status() != 0 && (rule.success_status() < 200 || rule.success_status() > 299)) {
    return invalid(absl::StrCat("success_status ", rule.success_status(), " is not 2xx"));
  }
  route.method = &method;
  route.grpc_path = absl::StrCat("/", method.service()->full_name(), "/", method.name());
  route.label = absl::StrCat(route.http_method, " ", route.path.text);
  route.rule = rule;
  route.server_streaming = method.server_streaming();
  return route;
}

// A route's method and path with variables blanked: two routes with the same key are
// duplicates.
std::string ShapeKey(const Route& route) {
  std::string key = route.http_method;
  for (const PathTemplate::Segment& segment : route.path.segments) {
    absl::StrAppend(&key, "/", segment.is_variable() ? "{}" : segment.text);
  }
  return key;
}

// The routes of `method`'s berth.api.http rule: the outer rule's, then one per additional
// binding in declaration order. INVALID_ARGUMENT naming the method for a client-streaming
// method, a malformed rule or binding, a binding with additional_bindings of its own, or two of
// these routes with the same ShapeKey.
absl::StatusOr<std::vector<Route>> BuildRoutes(const MethodDescriptor& method) {
  const auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP rule of ", method.full_name(), ": ", what));
  };
  if (method.client_streaming()) return invalid("client-streaming methods cannot be exposed");
  const berth::api::HttpRule& outer = method.options().GetExtension(berth::api::http);
  std::vector<Route> routes;
  ASSIGN_OR_RETURN(Route outer_route, BuildRoute(method, EffectiveRule(outer, outer), ""));
  routes.push_back(std::move(outer_route));
  for (int i = 0; i < outer.additional_bindings_size(); ++i) {
    const berth::api::HttpRule& binding = outer.additional_bindings(i);
    const std::string where = absl::StrCat("additional_bindings[", i, "]: ");
    if (binding.additional_bindings_size() > 0) {
      return invalid(absl::StrCat(where, "a binding cannot have additional_bindings"));
    }
    ASSIGN_OR_RETURN(Route route, BuildRoute(method, EffectiveRule(outer, binding), where));
    for (const Route& earlier : routes) {
      if (ShapeKey(earlier) == ShapeKey(route)) {
        return invalid(absl::StrCat(where, "route ", route.label, " duplicates route ",
                                    earlier.label, " of the same method"));
      }
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

bool Matches(const PathTemplate& path_template, const std::vector<std::string>& segments) {
  if (path_template.segments.size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    const PathTemplate::Segment& want = path_template.segments[i];
    if (segments[i].empty()) return false;
    if (!want.is_variable() && want.text != segments[i]) return false;
  }
  return true;
}

// Whether `a` is more specific than `b`, two templates matching the same path: at the first
// segment where one has a literal and the other a variable, `a` has the literal.
bool MoreSpecific(const PathTemplate& a, const PathTemplate& b) {
  for (size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
    if (a.segments[i].is_variable() != b.segments[i].is_variable()) {
      return !a.segments[i].is_variable();
    }
  }
  return false;
}

}  // namespace

int Route::success_status() const {
  return rule.success_status() == 0 ? 200 : static_cast<int>(rule.success_status());
}

RequestTarget SplitRequestTarget(absl::string_view target) {
  target = target.substr(0, target.find('#'));
  const size_t question = target.find('?');
  if (question == absl::string_view::npos) return {target, absl::string_view()};
  return {target.substr(0, question), target.substr(question + 1)};
}

absl::Status MethodNotAllowed(absl::string_view http_method, absl::string_view path,
                              absl::string_view allow) {
  absl::Status status = WithHttpStatus(
      absl::UnimplementedError(absl::StrCat("method ", http_method, " is not allowed for \"",
                                            path, "\"; allowed: ", allow)),
      405);
  status.SetPayload(kAllowPayload, absl::Cord(allow));
  return status;
}

std::string AllowHeaderOf(const absl::Status& status) {
  const auto allow = status.GetPayload(kAllowPayload);
  return allow.has_value() ? std::string(*allow) : std::string();
}

absl::StatusOr<RouteTable> RouteTable::Create(
    const std::vector<const ServiceDescriptor*>& services) {
  std::vector<Route> routes;
  std::map<std::string, std::string> declared_by;  // ShapeKey -> method full name.
  for (const ServiceDescriptor* service : services) {
    for (int i = 0; i < service->method_count(); ++i) {
      const MethodDescriptor& method = *service->method(i);
      if (!method.options().HasExtension(berth::api::http)) continue;
      ASSIGN_OR_RETURN(std::vector<Route> method_routes, BuildRoutes(method));
      for (Route& route : method_routes) {
        auto [it, inserted] = declared_by.emplace(ShapeKey(route), method.full_name());
        if (!inserted) {
          return absl::AlreadyExistsError(absl::StrCat("duplicate route ", route.label,
                                                       ": declared by ", it->second, " and ",
                                                       method.full_name()));
        }
        routes.push_back(std::move(route));
      }
    }
  }
  return RouteTable(std::move(routes));
}

absl::StatusOr<RouteMatch> RouteTable::Match(absl::string_view http_method,
                                             absl::string_view path) const {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("request path \"", path, "\" must start with '/'"));
  }
  std::vector<std::string> segments;
  for (absl::string_view segment : absl::StrSplit(path.substr(1), '/')) {
    absl::StatusOr<std::string> decoded = PercentDecode(segment, /*plus_is_space=*/false);
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request path \"", path, "\": ", decoded.status().message()));
    }
    segments.push_back(*std::move(decoded));
  }
  const Route* best = nullptr;
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!Matches(route.path, segments)) continue;
    allowed.insert(route.http_method);
    if (route.http_method != http_method) continue;
    if (best == nullptr || MoreSpecific(route.path, best->path)) best = &route;
  }
  if (allowed.empty()) {
    return absl::NotFoundError(absl::StrCat("no route for path \"", path, "\""));
  }
  if (best == nullptr) return MethodNotAllowed(http_method, path, absl::StrJoin(allowed, ", "));
  RouteMatch match;
  match.route = best;
  for (size_t i = 0; i < segments.size(); ++i) {
    const PathTemplate::Segment& segment = best->path.segments[i];
    if (segment.is_variable()) match.bindings.push_back({segment.field, std::move(segments[i])});
  }
  return match;
}

}  // namespace berth::gateway::routing
