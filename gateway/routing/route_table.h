#ifndef BERTH_GATEWAY_ROUTING_ROUTE_TABLE_H_
#define BERTH_GATEWAY_ROUTING_ROUTE_TABLE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/api/http.pb.h"
#include "google/protobuf/descriptor.h"

// The gateway's routes, read from the berth.api.http options of the services it fronts.
namespace berth::gateway::routing {

// A parsed path template such as "/v1/boxes/{box_id}": literal segments and variables, each
// variable binding one whole path segment to a singular string or integer field of the
// request message.
struct PathTemplate {
  struct Segment {
    // A literal segment's text, or a variable's field name.
    std::string text;
    // Set for a variable: the request field it binds.
    const google::protobuf::FieldDescriptor* field = nullptr;
    bool is_variable() const { return field != nullptr; }
  };
  std::string text;  // As declared.
  std::vector<Segment> segments;
};

// One HTTP route to an RPC. An RPC has one Route for its berth.api.http rule and one more per
// additional binding of it; they share `method` and `grpc_path`.
struct Route {
  std::string http_method;  // "GET", "PUT", "POST", "DELETE" or "PATCH".
  PathTemplate path;
  const google::protobuf::MethodDescriptor* method = nullptr;
  std::string grpc_path;  // "/berth.box.v1.Boxes/Get".
  std::string label;      // "GET /v1/boxes/{box_id}", for metrics and logs.
  // The effective rule of this route: the pattern and body of the outer rule or of the
  // additional binding this route comes from, with success_status, timeout_ms and backend_only
  // inherited as RouteTable::Create describes; additional_bindings is always empty.
  berth::api::HttpRule rule;
  bool server_streaming = false;
  // Whether the JSON body is the request message (rule.body == "*").
  bool has_body() const { return rule.body() == "*"; }
  // The HTTP status of a success: rule.success_status, or 200 when unset.
  int success_status() const;
};

// A path variable's value: the request field and the percent-decoded segment (raw bytes, not
// yet checked as UTF-8 or converted to the field's type; BuildRequest does that).
struct PathBinding {
  const google::protobuf::FieldDescriptor* field = nullptr;
  std::string value;
};

struct RouteMatch {
  const Route* route = nullptr;       // Owned by the RouteTable.
  std::vector<PathBinding> bindings;  // In template order.
};

// A request target split at the first '?' (a '#' fragment, which clients should not send, is
// dropped).
struct RequestTarget {
  absl::string_view path;
  absl::string_view query;  // Without the '?'.
};
RequestTarget SplitRequestTarget(absl::string_view target);

// The Allow header value ("DELETE, GET") carried by a method-not-allowed status from
// RouteTable::Match, or "" for any other status.
std::string AllowHeaderOf(const absl::Status& status);
// The 405 status for `http_method` on `path`, whose allowed methods are `allow` ("GET, HEAD").
absl::Status MethodNotAllowed(absl::string_view http_method, absl::string_view path,
                              absl::string_view allow);

// Immutable after Create, so Match may be called from any number of threads. Move-only: a
// RouteMatch points into the table.
class RouteTable {
 public:
  // Builds the routes of every method of `services` that has the berth.api.http option
  // (methods without it are not exposed): for each method, in service order, the route of its
  // rule, then one route per additional binding, in declaration order.
  //
  // A binding has its own pattern and body (neither is inherited); its success_status and
  // timeout_ms, when 0, are the outer rule's, and its route is backend_only when the binding or
  // the outer rule is (Route::rule holds these effective values).
  //
  // INVALID_ARGUMENT, naming the method (and "additional_bindings[i]" when the fault is in a
  // binding), when a rule or binding is malformed: no method/path, a template that is not
  // "/"-separated non-empty literal and "{field}" segments (a literal may hold ':', e.g.
  // "/v1/boxes:assign" is the literals "v1" and "boxes:assign"; it may not hold any of {}%?#),
  // a variable naming no singular string/integer field of the request message or bound twice, a
  // body other than "" or "*", a body on a GET, a success_status outside 200-299; also for a
  // client-streaming method, a binding with additional_bindings of its own, and two routes of
  // the same method with the same HTTP method and path shape (the same literals with variables
  // in the same places). ALREADY_EXISTS when routes of two different methods have the same
  // HTTP method and path shape.
  static absl::StatusOr<RouteTable> Create(
      const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  RouteTable(RouteTable&&) = default;
  RouteTable& operator=(RouteTable&&) = default;
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Finds the route for an HTTP method (case-sensitive, e.g. "GET") and a request path (no
  // query string). The path is split at '/', then each segment percent-decoded; literals
  // match a decoded segment exactly, a variable any non-empty one (':' has no special meaning:
  // "/v1/boxes:assign" matches only a template with the literal "boxes:assign" or a variable
  // there, never "/v1/boxes/{box_id}", and a variable may bind "b-1:x"). Empty segments ("//", a
  // trailing '/') never match. When routes of different shapes match, the one whose first
  // differing segment is a literal wins ("/v1/x/latest" over "/v1/x/{id}").
  //
  // Errors: INVALID_ARGUMENT (HTTP 400) for a path that does not start with '/' or holds an
  // invalid percent-escape; NOT_FOUND (404) when no route has this path; UNIMPLEMENTED with
  // HTTP status 405 (see http_status.h) when routes have the path but not the method; its
  // AllowHeaderOf lists their methods, sorted.
  absl::StatusOr<RouteMatch> Match(absl::string_view http_method, absl::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  explicit RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {}

  std::vector<Route> routes_;
};

}  // namespace berth::gateway::routing

#endif  // BERTH_GATEWAY_ROUTING_ROUTE_TABLE_H_
