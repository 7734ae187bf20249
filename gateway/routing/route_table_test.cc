#include "gateway/routing/route_table.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/status_matchers.h"
#include "gateway/routing/http_status.h"
#include "gateway/routing/testdata/routing_test.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway::routing {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::google::protobuf::ServiceDescriptor;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

namespace test = ::berth::gateway::routing::test;

// Services are found through a message of their file: that links the file's generated code
// (and so registers its descriptors); gRPC's service classes have no descriptor().
const ServiceDescriptor* BoxesService() {
  return berth::box::v1::CreateRequest::descriptor()->file()->FindServiceByName("Boxes");
}

// A service of testdata/routing_test.proto.
const ServiceDescriptor* TestService(const std::string& name) {
  const ServiceDescriptor* service = test::Thing::descriptor()->file()->FindServiceByName(name);
  EXPECT_NE(service, nullptr) << name;
  return service;
}

RouteTable BoxesTable() {
  absl::StatusOr<RouteTable> table = RouteTable::Create({BoxesService()});
  EXPECT_THAT(table, IsOk());
  return *std::move(table);
}

RouteTable ThingsTable() {
  absl::StatusOr<RouteTable> table = RouteTable::Create({TestService("Things")});
  EXPECT_THAT(table, IsOk());
  return *std::move(table);
}

TEST(RouteTableTest, BuildsARouteForEveryBoxesMethod) {
  const RouteTable table = BoxesTable();
  // Create, Get, List, Stop, Watch, Host, Assign, SetConfig (and its /json_transport), Drain,
  // Undrain.
  ASSERT_THAT(table.routes(), SizeIs(11));
  const Route& create = table.routes()[0];
  EXPECT_EQ(create.http_method, "POST");
  EXPECT_EQ(create.path.text, "/v1/boxes");
  EXPECT_EQ(create.grpc_path, "/berth.box.v1.Boxes/Create");
  EXPECT_EQ(create.method, BoxesService()->FindMethodByName("Create"));
  EXPECT_TRUE(create.has_body());
  EXPECT_EQ(create.success_status(), 201);
  EXPECT_EQ(create.rule.timeout_ms(), 60000u);
  EXPECT_FALSE(create.server_streaming);

  const Route& get = table.routes()[1];
  EXPECT_EQ(get.http_method, "GET");
  EXPECT_EQ(get.grpc_path, "/berth.box.v1.Boxes/Get");
  EXPECT_EQ(get.label, "GET /v1/boxes/{box_id}");
  EXPECT_FALSE(get.has_body());
  EXPECT_EQ(get.success_status(), 200);
  ASSERT_THAT(get.path.segments, SizeIs(3));
  EXPECT_FALSE(get.path.segments[1].is_variable());
  EXPECT_EQ(get.path.segments[1].text, "boxes");
  ASSERT_TRUE(get.path.segments[2].is_variable());
  EXPECT_EQ(get.path.segments[2].field->full_name(), "berth.box.v1.GetRequest.box_id");

  EXPECT_EQ(table.routes()[2].grpc_path, "/berth.box.v1.Boxes/List");
  EXPECT_EQ(table.routes()[3].http_method, "DELETE");
  EXPECT_EQ(table.routes()[3].grpc_path, "/berth.box.v1.Boxes/Stop");
  EXPECT_EQ(table.routes()[4].grpc_path, "/berth.box.v1.Boxes/Watch");
  EXPECT_TRUE(table.routes()[4].server_streaming);
  EXPECT_EQ(table.routes()[5].grpc_path, "/berth.box.v1.Boxes/Host");
  EXPECT_EQ(table.routes()[5].path.text, "/v1/host");
  EXPECT_TRUE(table.routes()[5].rule.backend_only());
}

TEST(RouteTableTest, SkipsMethodsWithoutTheOption) {
  const RouteTable table = ThingsTable();
  for (const Route& route : table.routes()) {
    EXPECT_NE(route.method->name(), "Internal");
  }
  EXPECT_THAT(table.routes(), SizeIs(6));
}

TEST(RouteTableTest, MatchesEachBoxesRoute) {
  const RouteTable table = BoxesTable();
  ASSERT_OK_AND_ASSIGN(RouteMatch create, table.Match("POST", "/v1/boxes"));
  EXPECT_EQ(create.route->grpc_path, "/berth.box.v1.Boxes/Create");
  EXPECT_THAT(create.bindings, IsEmpty());

  ASSERT_OK_AND_ASSIGN(RouteMatch list, table.Match("GET", "/v1/boxes"));
  EXPECT_EQ(list.route->grpc_path, "/berth.box.v1.Boxes/List");

  ASSERT_OK_AND_ASSIGN(RouteMatch get, table.Match("GET", "/v1/boxes/b-1"));
  EXPECT_EQ(get.route->grpc_path, "/berth.box.v1.Boxes/Get");
  ASSERT_THAT(get.bindings, SizeIs(1));
  EXPECT_EQ(get.bindings[0].field->name(), "box_id");
  EXPECT_EQ(get.bindings[0].value, "b-1");

  ASSERT_OK_AND_ASSIGN(RouteMatch stop, table.Match("DELETE", "/v1/boxes/b-1"));
  EXPECT_EQ(stop.route->grpc_path, "/berth.box.v1.Boxes/Stop");
  EXPECT_EQ(stop.bindings[0].value, "b-1");

  ASSERT_OK_AND_ASSIGN(RouteMatch watch, table.Match("GET", "/v1/events"));
  EXPECT_EQ(watch.route->grpc_path, "/berth.box.v1.Boxes/Watch");
}

TEST(RouteTableTest, UnknownPathIsNotFound) {
  const RouteTable table = BoxesTable();
  for (const char* path : {"/", "/v1", "/v2/boxes", "/v1/boxes/b-1/extra", "/v1/events/x",
                           "/v1/Boxes", "/v1/boxes/", "//v1/boxes", "/v1//boxes", "/v1/boxes//"}) {
    absl::StatusOr<RouteMatch> match = table.Match("GET", path);
    EXPECT_THAT(match, StatusIs(absl::StatusCode::kNotFound,
                                absl::StrCat("no route for path \"", path, "\"")))
        << path;
    EXPECT_EQ(HttpStatusOf(match.status()), 404);
    EXPECT_EQ(AllowHeaderOf(match.status()), "");
  }
}

TEST(RouteTableTest, WrongMethodIsMethodNotAllowedWithAllow) {
  const RouteTable table = BoxesTable();
  absl::StatusOr<RouteMatch> match = table.Match("PUT", "/v1/boxes/b-1");
  EXPECT_THAT(match, StatusIs(absl::StatusCode::kUnimplemented,
                              "method PUT is not allowed for \"/v1/boxes/b-1\"; allowed: "
                              "DELETE, GET"));
  EXPECT_EQ(HttpStatusOf(match.status()), 405);
  EXPECT_EQ(AllowHeaderOf(match.status()), "DELETE, GET");

  match = table.Match("DELETE", "/v1/boxes");
  EXPECT_EQ(HttpStatusOf(match.status()), 405);
  EXPECT_EQ(AllowHeaderOf(match.status()), "GET, POST");

  // Methods are case-sensitive.
  match = table.Match("get", "/v1/events");
  EXPECT_EQ(HttpStatusOf(match.status()), 405);
  EXPECT_EQ(AllowHeaderOf(match.status()), "GET");
}

TEST(RouteTableTest, PercentDecodesSegments) {
  const RouteTable table = BoxesTable();
  ASSERT_OK_AND_ASSIGN(RouteMatch get, table.Match("GET", "/v1/boxes/a%2Fb%20c+d%C3%A9"));
  EXPECT_EQ(get.bindings[0].value, "a/b c+d\xc3\xa9");
  // Literals compare with the decoded segment.
  ASSERT_OK_AND_ASSIGN(RouteMatch list, table.Match("GET", "/v1/b%6Fxes"));
  EXPECT_EQ(list.route->grpc_path, "/berth.box.v1.Boxes/List");
  // Bytes are passed on as they decode; BuildRequest checks them against the field.
  ASSERT_OK_AND_ASSIGN(get, table.Match("GET", "/v1/boxes/%FF"));
  EXPECT_EQ(get.bindings[0].value, "\xff");
}

TEST(RouteTableTest, BadEscapesAndRelativePathsAreBadRequests) {
  const RouteTable table = BoxesTable();
  absl::StatusOr<RouteMatch> match = table.Match("GET", "/v1/boxes/a%zz");
  EXPECT_THAT(match, StatusIs(absl::StatusCode::kInvalidArgument,
                              "request path \"/v1/boxes/a%zz\": invalid percent-escape \"%zz\""));
  EXPECT_EQ(HttpStatusOf(match.status()), 400);
  EXPECT_THAT(table.Match("GET", "/v1/boxes/a%2"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid percent-escape")));
  EXPECT_THAT(table.Match("GET", "v1/boxes"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must start with '/'")));
  EXPECT_THAT(table.Match("GET", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must start with '/'")));
}

TEST(RouteTableTest, LiteralBeatsVariableAndBindsSeveralVariables) {
  const RouteTable table = ThingsTable();
  ASSERT_OK_AND_ASSIGN(RouteMatch latest, table.Match("GET", "/v1/things/t1/items/latest"));
  EXPECT_EQ(latest.route->method->name(), "GetLatestItem");
  ASSERT_THAT(latest.bindings, SizeIs(1));
  EXPECT_EQ(latest.bindings[0].value, "t1");

  ASSERT_OK_AND_ASSIGN(RouteMatch item, table.Match("GET", "/v1/things/t1/items/42"));
  EXPECT_EQ(item.route->method->name(), "GetItem");
  ASSERT_THAT(item.bindings, SizeIs(2));
  EXPECT_EQ(item.bindings[0].field->name(), "name");
  EXPECT_EQ(item.bindings[0].value, "t1");
  EXPECT_EQ(item.bindings[1].field->name(), "i64");
  EXPECT_EQ(item.bindings[1].value, "42");

  // The Allow list covers every template that matches the path.
  absl::StatusOr<RouteMatch> match = table.Match("POST", "/v1/things/t1/items/latest");
  EXPECT_EQ(AllowHeaderOf(match.status()), "GET");
  match = table.Match("GET", "/v1/things/t1");
  EXPECT_EQ(AllowHeaderOf(match.status()), "PUT");
}

TEST(RouteTableTest, BoxesSessionRoutesIncludeWhistsJsonTransport) {
  const RouteTable table = BoxesTable();
  ASSERT_OK_AND_ASSIGN(RouteMatch whist, table.Match("PUT", "/json_transport"));
  EXPECT_EQ(whist.route->grpc_path, "/berth.box.v1.Boxes/SetConfig");
  EXPECT_FALSE(whist.route->rule.backend_only());
  EXPECT_EQ(whist.route->rule.timeout_ms(), 100000u);
  ASSERT_OK_AND_ASSIGN(RouteMatch config, table.Match("PUT", "/v1/boxes/b1/config"));
  EXPECT_EQ(config.route->grpc_path, "/berth.box.v1.Boxes/SetConfig");
  ASSERT_OK_AND_ASSIGN(RouteMatch assign, table.Match("POST", "/v1/boxes:assign"));
  EXPECT_EQ(assign.route->grpc_path, "/berth.box.v1.Boxes/Assign");
  EXPECT_TRUE(assign.route->rule.backend_only());
  ASSERT_OK_AND_ASSIGN(RouteMatch drain, table.Match("POST", "/v1/host:drain"));
  EXPECT_EQ(drain.route->grpc_path, "/berth.box.v1.Boxes/Drain");
  ASSERT_OK_AND_ASSIGN(RouteMatch undrain, table.Match("POST", "/v1/host:undrain"));
  EXPECT_EQ(undrain.route->grpc_path, "/berth.box.v1.Boxes/Undrain");
}

TEST(RouteTableTest, AcceptsSeveralServices) {
  ASSERT_OK_AND_ASSIGN(RouteTable table,
                       RouteTable::Create({BoxesService(), TestService("Things")}));
  EXPECT_THAT(table.routes(), SizeIs(17));
  ASSERT_OK_AND_ASSIGN(RouteMatch follow, table.Match("GET", "/v1/things/t1/follow"));
  EXPECT_EQ(follow.route->grpc_path, "/berth.gateway.routing.test.Things/Follow");
  EXPECT_TRUE(follow.route->server_streaming);
  EXPECT_TRUE(follow.route->rule.backend_only());
}

TEST(RouteTableTest, RejectsDuplicateRoutes) {
  EXPECT_THAT(RouteTable::Create({TestService("Things"), TestService("DuplicateOfUpdate")}),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       "duplicate route PUT /v1/things/{display_name}: declared by "
                       "berth.gateway.routing.test.Things.Update and "
                       "berth.gateway.routing.test.DuplicateOfUpdate.M"));
  EXPECT_THAT(
      RouteTable::Create({BoxesService(), BoxesService()}),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("duplicate route POST /v1/boxes")));
}

struct BadRuleCase {
  const ServiceDescriptor* service;
  std::string message;
};

TEST(RouteTableTest, RejectsMalformedRules) {
  const std::vector<BadRuleCase> cases = {
      {TestService("UnknownVariable"),
       "path \"/v1/{nope}\": variable \"nope\" names no field of berth.gateway.routing.test.Thing"},
      {TestService("RepeatedVariable"),
       "variable \"tags\" must name a singular string or integer field"},
      {TestService("MessageVariable"),
       "variable \"inner\" must name a singular string or integer field"},
      {TestService("BoolVariable"),
       "variable \"flag\" must name a singular string or integer field"},
      {TestService("BytesVariable"),
       "variable \"blob\" must name a singular string or integer field"},
      {TestService("TwiceBoundVariable"), "variable \"name\" is bound twice"},
      {TestService("RelativeTemplate"), "the path template must start with '/'"},
      {TestService("EmptySegment"), "the path template has an empty segment"},
      {TestService("UnclosedVariable"), "malformed variable \"{name\""},
      {TestService("NestedVariable"), "variable \"{inner.note}\" must be a field name"},
      {TestService("FieldBody"), "body \"inner\" is not \"\" or \"*\""},
      {TestService("GetWithBody"), "a GET cannot take a body"},
      {TestService("NoPattern"), "it sets no HTTP method and path"},
      {TestService("BadSuccessStatus"), "success_status 302 is not 2xx"},
      {TestService("ClientStreaming"), "client-streaming methods cannot be exposed"},
  };
  for (const BadRuleCase& bad : cases) {
    EXPECT_THAT(RouteTable::Create({bad.service}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::AllOf(HasSubstr(absl::StrCat("HTTP rule of ",
                                                                 bad.service->full_name(), ".M: ")),
                                          HasSubstr(bad.message))))
        << bad.service->full_name();
  }
}

TEST(RouteTableTest, BuildsOneRoutePerBindingWithTheEffectiveRule) {
  ASSERT_OK_AND_ASSIGN(const RouteTable table, RouteTable::Create({TestService("Bindings")}));
  ASSERT_THAT(table.routes(), SizeIs(6));
  const ServiceDescriptor* service = TestService("Bindings");

  EXPECT_EQ(table.routes()[0].label, "GET /v1/boxes/{name}");

  // The outer rule of Assign, then its two bindings in declaration order.
  const Route& assign = table.routes()[1];
  EXPECT_EQ(assign.label, "POST /v1/boxes:assign");
  EXPECT_TRUE(assign.has_body());
  EXPECT_EQ(assign.success_status(), 201);
  EXPECT_EQ(assign.rule.timeout_ms(), 1500u);
  EXPECT_TRUE(assign.rule.backend_only());
  EXPECT_THAT(assign.rule.additional_bindings(), IsEmpty());
  ASSERT_THAT(assign.path.segments, SizeIs(2));
  EXPECT_EQ(assign.path.segments[1].text, "boxes:assign");
  EXPECT_FALSE(assign.path.segments[1].is_variable());

  // Nothing set but pattern and body: the rest is inherited.
  const Route& put = table.routes()[2];
  EXPECT_EQ(put.http_method, "PUT");
  EXPECT_EQ(put.path.text, "/v1/boxes/{name}/assignment");
  EXPECT_EQ(put.rule.put(), "/v1/boxes/{name}/assignment");
  EXPECT_TRUE(put.has_body());
  EXPECT_EQ(put.success_status(), 201);
  EXPECT_EQ(put.rule.timeout_ms(), 1500u);
  EXPECT_TRUE(put.rule.backend_only());

  // Its own (empty) body, status and timeout; backend_only still inherited.
  const Route& get = table.routes()[3];
  EXPECT_EQ(get.label, "GET /v1/assignments/{name}/{i64}");
  EXPECT_FALSE(get.has_body());
  EXPECT_EQ(get.success_status(), 200);
  EXPECT_EQ(get.rule.success_status(), 200u);
  EXPECT_EQ(get.rule.timeout_ms(), 250u);
  EXPECT_TRUE(get.rule.backend_only());
  EXPECT_THAT(get.rule.additional_bindings(), IsEmpty());

  for (const Route* route : {&assign, &put, &get}) {
    EXPECT_EQ(route->method, service->FindMethodByName("Assign")) << route->label;
    EXPECT_EQ(route->grpc_path, "/berth.gateway.routing.test.Bindings/Assign") << route->label;
    EXPECT_FALSE(route->server_streaming) << route->label;
  }

  // A binding can be backend_only where the outer rule is not.
  const Route& drain = table.routes()[4];
  const Route& json_transport = table.routes()[5];
  EXPECT_EQ(drain.label, "POST /v1/host:drain");
  EXPECT_FALSE(drain.rule.backend_only());
  EXPECT_EQ(drain.rule.timeout_ms(), 0u);
  EXPECT_EQ(json_transport.label, "POST /json_transport");
  EXPECT_TRUE(json_transport.rule.backend_only());
  EXPECT_TRUE(json_transport.has_body());
  EXPECT_EQ(json_transport.success_status(), 200);
  ASSERT_THAT(json_transport.path.segments, SizeIs(1));
  EXPECT_EQ(json_transport.path.segments[0].text, "json_transport");
  for (const Route* route : {&drain, &json_transport}) {
    EXPECT_EQ(route->method, service->FindMethodByName("Drain")) << route->label;
    EXPECT_EQ(route->grpc_path, "/berth.gateway.routing.test.Bindings/Drain") << route->label;
    EXPECT_TRUE(route->server_streaming) << route->label;
  }
}

TEST(RouteTableTest, EveryBindingReachesItsRpc) {
  ASSERT_OK_AND_ASSIGN(const RouteTable table, RouteTable::Create({TestService("Bindings")}));
  ASSERT_OK_AND_ASSIGN(RouteMatch assign, table.Match("POST", "/v1/boxes:assign"));
  EXPECT_EQ(assign.route->label, "POST /v1/boxes:assign");
  EXPECT_EQ(assign.route->method->name(), "Assign");
  EXPECT_THAT(assign.bindings, IsEmpty());

  ASSERT_OK_AND_ASSIGN(RouteMatch put, table.Match("PUT", "/v1/boxes/b-1/assignment"));
  EXPECT_EQ(put.route->label, "PUT /v1/boxes/{name}/assignment");
  EXPECT_EQ(put.route->method->name(), "Assign");
  ASSERT_THAT(put.bindings, SizeIs(1));
  EXPECT_EQ(put.bindings[0].field->name(), "name");
  EXPECT_EQ(put.bindings[0].value, "b-1");

  ASSERT_OK_AND_ASSIGN(RouteMatch get, table.Match("GET", "/v1/assignments/b-1/42"));
  EXPECT_EQ(get.route->method->name(), "Assign");
  ASSERT_THAT(get.bindings, SizeIs(2));
  EXPECT_EQ(get.bindings[0].field->name(), "name");
  EXPECT_EQ(get.bindings[0].value, "b-1");
  EXPECT_EQ(get.bindings[1].field->name(), "i64");
  EXPECT_EQ(get.bindings[1].value, "42");

  ASSERT_OK_AND_ASSIGN(RouteMatch drain, table.Match("POST", "/v1/host:drain"));
  EXPECT_EQ(drain.route->label, "POST /v1/host:drain");
  EXPECT_EQ(drain.route->method->name(), "Drain");
  ASSERT_OK_AND_ASSIGN(RouteMatch json_transport, table.Match("POST", "/json_transport"));
  EXPECT_EQ(json_transport.route->label, "POST /json_transport");
  EXPECT_EQ(json_transport.route->method->name(), "Drain");

  // Each binding answers only its own HTTP method.
  EXPECT_EQ(AllowHeaderOf(table.Match("GET", "/v1/boxes/b-1/assignment").status()), "PUT");
  EXPECT_EQ(AllowHeaderOf(table.Match("POST", "/v1/assignments/b-1/42").status()), "GET");
  EXPECT_EQ(AllowHeaderOf(table.Match("GET", "/json_transport").status()), "POST");
}

TEST(RouteTableTest, LiteralsWithAColonMatchWholeSegments) {
  ASSERT_OK_AND_ASSIGN(const RouteTable table, RouteTable::Create({TestService("Bindings")}));
  // "/v1/boxes:assign" has two segments, so "/v1/boxes/{name}" cannot take it...
  absl::StatusOr<RouteMatch> match = table.Match("GET", "/v1/boxes:assign");
  EXPECT_THAT(match, StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("is not allowed")));
  EXPECT_EQ(AllowHeaderOf(match.status()), "POST");
  // ...and "/v1/boxes:assign" takes no "/v1/boxes/{name}" path.
  match = table.Match("POST", "/v1/boxes/b-1");
  EXPECT_THAT(match, StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("is not allowed")));
  EXPECT_EQ(AllowHeaderOf(match.status()), "GET");
  ASSERT_OK_AND_ASSIGN(RouteMatch get, table.Match("GET", "/v1/boxes/b-1"));
  EXPECT_EQ(get.route->method->name(), "Get");
  // A variable binds a whole segment, ':' included.
  ASSERT_OK_AND_ASSIGN(get, table.Match("GET", "/v1/boxes/boxes:assign"));
  EXPECT_EQ(get.route->method->name(), "Get");
  ASSERT_THAT(get.bindings, SizeIs(1));
  EXPECT_EQ(get.bindings[0].value, "boxes:assign");
  // Literals compare with the decoded segment.
  ASSERT_OK_AND_ASSIGN(RouteMatch assign, table.Match("POST", "/v1/boxes%3Aassign"));
  EXPECT_EQ(assign.route->method->name(), "Assign");

  for (const char* path :
       {"/v1/boxes", "/v1/boxes:", "/v1/boxes:assignx", "/v1/boxes:Assign", "/v1/boxes:assign/x",
        "/v1/boxes%3A", "/v1/host", "/v1/host:", "/v1/host:drain:now", "/v1/host/drain",
        "/v1/json_transport", "/json_transport/x", "/json_transport:x", "/json"}) {
    EXPECT_THAT(table.Match("POST", path),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("no route")))
        << path;
  }
}

TEST(RouteTableTest, AcceptsBindingsAlongsideOtherServices) {
  ASSERT_OK_AND_ASSIGN(RouteTable table,
                       RouteTable::Create({TestService("Things"), TestService("Bindings")}));
  EXPECT_THAT(table.routes(), SizeIs(12));
  ASSERT_OK_AND_ASSIGN(RouteMatch put, table.Match("PUT", "/v1/things/t1"));
  EXPECT_EQ(put.route->method->name(), "Update");
  ASSERT_OK_AND_ASSIGN(put, table.Match("PUT", "/v1/boxes/b-1/assignment"));
  EXPECT_EQ(put.route->method->name(), "Assign");
}

TEST(RouteTableTest, RejectsNestedAndDuplicateBindings) {
  EXPECT_THAT(RouteTable::Create({TestService("NestedBindings")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "HTTP rule of berth.gateway.routing.test.NestedBindings.M: "
                       "additional_bindings[0]: a binding cannot have additional_bindings"));
  EXPECT_THAT(RouteTable::Create({TestService("BindingDuplicatesRule")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "HTTP rule of berth.gateway.routing.test.BindingDuplicatesRule.M: "
                       "additional_bindings[1]: route GET /v1/x/{display_name} duplicates route "
                       "GET /v1/x/{name} of the same method"));
  // The body does not tell routes apart.
  EXPECT_THAT(RouteTable::Create({TestService("BindingDuplicatesBinding")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "HTTP rule of berth.gateway.routing.test.BindingDuplicatesBinding.M: "
                       "additional_bindings[1]: route POST /v1/y:run duplicates route "
                       "POST /v1/y:run of the same method"));
}

TEST(RouteTableTest, RejectsABindingThatDuplicatesAnotherMethodsRoute) {
  EXPECT_THAT(RouteTable::Create({TestService("Things"), TestService("BindingDuplicatesUpdate")}),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       "duplicate route PUT /v1/things/{i64}: declared by "
                       "berth.gateway.routing.test.Things.Update and "
                       "berth.gateway.routing.test.BindingDuplicatesUpdate.M"));
  EXPECT_THAT(RouteTable::Create({TestService("Bindings"), TestService("Bindings")}),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("duplicate route GET /v1/boxes/{name}")));
}

TEST(RouteTableTest, RejectsMalformedBindingsNamingThem) {
  const std::vector<BadRuleCase> cases = {
      {TestService("BindingGetWithBody"), "additional_bindings[0]: a GET cannot take a body"},
      {TestService("BindingWithoutPattern"),
       "additional_bindings[0]: it sets no HTTP method and path"},
      {TestService("BindingBadSuccessStatus"),
       "additional_bindings[0]: success_status 404 is not 2xx"},
      {TestService("BindingUnknownVariable"),
       "additional_bindings[0]: path \"/v1/{nope}\": variable \"nope\" names no field of "
       "berth.gateway.routing.test.Thing"},
      {TestService("ClientStreamingBindings"), "client-streaming methods cannot be exposed"},
  };
  for (const BadRuleCase& bad : cases) {
    EXPECT_THAT(
        RouteTable::Create({bad.service}),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("HTTP rule of ", bad.service->full_name(), ".M: ", bad.message)))
        << bad.service->full_name();
  }
  // Faults of the outer rule name no binding.
  EXPECT_THAT(RouteTable::Create({TestService("GetWithBody")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "HTTP rule of berth.gateway.routing.test.GetWithBody.M: a GET cannot take "
                       "a body"));
}

TEST(SplitRequestTargetTest, SplitsAtTheFirstQuestionMark) {
  RequestTarget target = SplitRequestTarget("/v1/boxes?state=BOX_STATE_RUNNING&x=?");
  EXPECT_EQ(target.path, "/v1/boxes");
  EXPECT_EQ(target.query, "state=BOX_STATE_RUNNING&x=?");
  target = SplitRequestTarget("/v1/boxes");
  EXPECT_EQ(target.path, "/v1/boxes");
  EXPECT_EQ(target.query, "");
  target = SplitRequestTarget("/v1/boxes?a=1#frag");
  EXPECT_EQ(target.query, "a=1");
}

}  // namespace
}  // namespace berth::gateway::routing
