#include "gateway/routing/transcoder.h"

#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "berth/box/v1/box.grpc.pb.h"
#include "common/testing/status_matchers.h"
#include "gateway/routing/http_status.h"
#include "common/json_syntax.h"
#include "gateway/routing/route_table.h"
#include "gateway/routing/testdata/routing_test.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace berth::gateway::routing {
namespace {

using ::berth::box::v1::BoxEvent;
using ::berth::box::v1::CreateRequest;
using ::berth::box::v1::CreateResponse;
using ::berth::box::v1::GetRequest;
using ::berth::box::v1::ListRequest;
using ::berth::box::v1::StopRequest;
using ::berth::gateway::routing::test::Thing;
using ::berth::testing::StatusIs;
using ::google::protobuf::Message;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

const google::protobuf::ServiceDescriptor* BoxesService() {
  return CreateRequest::descriptor()->file()->FindServiceByName("Boxes");
}

// A service of testdata/routing_test.proto.
const google::protobuf::ServiceDescriptor* TestService(const std::string& name) {
  return Thing::descriptor()->file()->FindServiceByName(name);
}

constexpr absl::string_view kJson = "application/json";

class TranscoderTest : public ::testing::Test {
 protected:
  TranscoderTest() {
    absl::StatusOr<RouteTable> table = RouteTable::Create({BoxesService(), TestService("Things")});
    EXPECT_TRUE(table.ok()) << table.status();
    table_ = std::make_unique<RouteTable>(*std::move(table));
  }

  // Routes `method` `target` and builds its request from `body`.
  absl::StatusOr<std::unique_ptr<Message>> Build(absl::string_view method, absl::string_view target,
                                                 absl::string_view body = "",
                                                 absl::string_view content_type = kJson) {
    const RequestTarget split = SplitRequestTarget(target);
    ASSIGN_OR_RETURN(RouteMatch match, table_->Match(method, split.path));
    return BuildRequest(*match.route, match.bindings, split.query, body, content_type);
  }

  // Builds and converts to the generated type `T`; fails the test on an error.
  template <typename T>
  T BuildAs(absl::string_view method, absl::string_view target, absl::string_view body = "",
            absl::string_view content_type = kJson) {
    absl::StatusOr<std::unique_ptr<Message>> message = Build(method, target, body, content_type);
    T typed;
    EXPECT_TRUE(message.ok()) << message.status();
    if (!message.ok()) return typed;
    EXPECT_EQ((*message)->GetDescriptor(), T::descriptor());
    typed.CopyFrom(**message);
    return typed;
  }

  std::unique_ptr<RouteTable> table_;
};

// Expects an INVALID_ARGUMENT answered with `http_status` whose message has `text`.
void ExpectRejected(const absl::StatusOr<std::unique_ptr<Message>>& result, int http_status,
                    absl::string_view text) {
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(std::string(text))));
  EXPECT_EQ(HttpStatusOf(result.status()), http_status) << result.status();
}

TEST_F(TranscoderTest, CreateAcceptsBothFieldNameSpellings) {
  const CreateRequest snake = BuildAs<CreateRequest>(
      "POST", "/v1/boxes",
      R"({"app":"web","box_id":"b1","user_id":"u1","session_id":"s1","dpi":192,
          "env":{"LANG":"C","TZ":"UTC"},"ttl":"30s","wait_for_ready":true})");
  EXPECT_EQ(snake.app(), "web");
  EXPECT_EQ(snake.box_id(), "b1");
  EXPECT_EQ(snake.user_id(), "u1");
  EXPECT_EQ(snake.session_id(), "s1");
  EXPECT_EQ(snake.dpi(), 192u);
  EXPECT_THAT(snake.env(), ::testing::UnorderedElementsAre(Pair("LANG", "C"), Pair("TZ", "UTC")));
  EXPECT_EQ(snake.ttl().seconds(), 30);
  EXPECT_TRUE(snake.wait_for_ready());

  const CreateRequest camel =
      BuildAs<CreateRequest>("POST", "/v1/boxes",
                             R"({"app":"web","boxId":"b1","userId":"u1","sessionId":"s1","dpi":192,
          "env":{"LANG":"C","TZ":"UTC"},"ttl":"30s","waitForReady":true})");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(snake, camel))
      << snake.ShortDebugString() << " vs " << camel.ShortDebugString();
}

TEST_F(TranscoderTest, CreateWithAnEmptyBodyIsTheEmptyMessage) {
  for (absl::string_view body : {"", " \r\n", "{}"}) {
    const CreateRequest request = BuildAs<CreateRequest>("POST", "/v1/boxes", body);
    EXPECT_EQ(request.ByteSizeLong(), 0u) << body;
  }
  // An empty body needs no content type.
  const CreateRequest request = BuildAs<CreateRequest>("POST", "/v1/boxes", "", "");
  EXPECT_EQ(request.ByteSizeLong(), 0u);
}

TEST_F(TranscoderTest, CreateRejectsUnknownFieldsNamingThem) {
  ExpectRejected(Build("POST", "/v1/boxes", R"({"app":"web","colour":"red"})"), 400,
                 "unknown field \"colour\" in the JSON body");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"ttl":{"seconds":1,"nanoz":2}})"), 400,
                 "unknown field \"ttl.nanoz\" in the JSON body");
  ExpectRejected(Build("PUT", "/v1/things/t1", R"({"inner":{"note":"n","nope":1}})"), 400,
                 "unknown field \"inner.nope\" in the JSON body");
}

TEST_F(TranscoderTest, CreateRejectsWrongTypesNamingTheField) {
  ExpectRejected(Build("POST", "/v1/boxes", R"({"dpi":"abc"})"), 400,
                 "JSON body field \"dpi\": invalid value \"abc\" for type TYPE_UINT32");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"dpi":-1})"), 400, "JSON body field \"dpi\"");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"app":5})"), 400,
                 "JSON body field \"app\": invalid value 5 for type TYPE_STRING");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"ttl":"30 minutes"})"), 400,
                 "JSON body field \"ttl\"");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"env":{"LANG":5}})"), 400, "JSON body field \"env");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"waitForReady":1})"), 400,
                 "JSON body field \"wait_for_ready\"");
}

TEST_F(TranscoderTest, CreateRejectsMalformedJsonWithItsPosition) {
  ExpectRejected(Build("POST", "/v1/boxes", "{\"app\": }"), 400,
                 "malformed JSON body at line 1, column 9: unexpected '}', expected a value");
  ExpectRejected(Build("POST", "/v1/boxes", "{\n  \"app\": \"web\",\n}"), 400,
                 "malformed JSON body at line 3, column 1: unexpected '}', expected a string key");
  ExpectRejected(Build("POST", "/v1/boxes", "{\"app\": \"web\""), 400,
                 "malformed JSON body at line 1, column 14: unexpected end of input");
  ExpectRejected(Build("POST", "/v1/boxes", R"(["app"])"), 400, "the JSON body must be an object");
  ExpectRejected(Build("POST", "/v1/boxes", "null"), 400, "the JSON body must be an object");
}

TEST_F(TranscoderTest, CreateRejectsInvalidUtf8) {
  ExpectRejected(Build("POST", "/v1/boxes", "{\"app\":\"w\xffu\"}"), 400,
                 "malformed JSON body at line 1, column 10: invalid UTF-8 in a string");
  ExpectRejected(Build("POST", "/v1/boxes", R"({"app":"\ud800"})"), 400,
                 "unpaired high surrogate escape");
}

TEST_F(TranscoderTest, CreateRejectsOtherContentTypesWith415) {
  for (absl::string_view content_type :
       {"text/plain", "application/x-www-form-urlencoded", "application/jsonx", "json", ""}) {
    ExpectRejected(Build("POST", "/v1/boxes", R"({"app":"web"})", content_type), 415,
                   "application/json");
  }
  ExpectRejected(Build("POST", "/v1/boxes", R"({"app":"web"})", "application/json; charset=latin1"),
                 415, "unsupported charset \"latin1\"");
  for (absl::string_view content_type :
       {"application/json; charset=utf-8", "Application/JSON;Charset=\"UTF-8\"",
        "application/json ; foo=bar"}) {
    EXPECT_EQ(BuildAs<CreateRequest>("POST", "/v1/boxes", R"({"app":"web"})", content_type).app(),
              "web")
        << content_type;
  }
}

TEST_F(TranscoderTest, BodyRoutesTakeNoQuery) {
  ExpectRejected(Build("POST", "/v1/boxes?app=web", R"({"app":"web"})"), 400,
                 "POST /v1/boxes takes no query parameters");
}

TEST_F(TranscoderTest, GetAndStopTakeTheBoxIdFromThePath) {
  EXPECT_EQ(BuildAs<GetRequest>("GET", "/v1/boxes/b-1").box_id(), "b-1");
  EXPECT_EQ(BuildAs<GetRequest>("GET", "/v1/boxes/b%201").box_id(), "b 1");
  const StopRequest stop = BuildAs<StopRequest>("DELETE", "/v1/boxes/b-1?reason=user+left");
  EXPECT_EQ(stop.box_id(), "b-1");
  EXPECT_EQ(stop.reason(), "user left");
}

TEST_F(TranscoderTest, NoBodyRoutesRejectABody) {
  ExpectRejected(Build("GET", "/v1/boxes/b-1", "{}"), 400,
                 "GET /v1/boxes/{box_id} takes no request body");
  ExpectRejected(Build("DELETE", "/v1/boxes/b-1", R"({"reason":"x"})"), 400,
                 "takes no request body");
  EXPECT_EQ(BuildAs<GetRequest>("GET", "/v1/boxes/b-1", "\n").box_id(), "b-1");
}

TEST_F(TranscoderTest, QueryCannotRebindAPathVariable) {
  ExpectRejected(Build("GET", "/v1/boxes/b-1?box_id=b-2"), 400,
                 "query parameter \"box_id\" is bound by the path");
  ExpectRejected(Build("GET", "/v1/boxes/b-1?boxId=b-2"), 400,
                 "query parameter \"boxId\" is bound by the path");
}

TEST_F(TranscoderTest, ListTakesFiltersFromTheQuery) {
  ListRequest list =
      BuildAs<ListRequest>("GET", "/v1/boxes?state=BOX_STATE_RUNNING&app=my+app%21&userId=u1");
  EXPECT_EQ(list.state(), berth::box::v1::BOX_STATE_RUNNING);
  EXPECT_EQ(list.app(), "my app!");
  EXPECT_EQ(list.user_id(), "u1");
  list = BuildAs<ListRequest>("GET", "/v1/boxes?user_id=u2&state=6&&");
  EXPECT_EQ(list.user_id(), "u2");
  EXPECT_EQ(list.state(), berth::box::v1::BOX_STATE_FAILED);
  list = BuildAs<ListRequest>("GET", "/v1/boxes");
  EXPECT_EQ(list.ByteSizeLong(), 0u);
}

TEST_F(TranscoderTest, ListRejectsBadQueries) {
  ExpectRejected(Build("GET", "/v1/boxes?colour=red"), 400,
                 "unknown query parameter \"colour\" for GET /v1/boxes");
  ExpectRejected(Build("GET", "/v1/boxes?state=RUNNING"), 400,
                 "query parameter \"state\": \"RUNNING\" is not a value of berth.box.v1.BoxState");
  ExpectRejected(Build("GET", "/v1/boxes?state=99"), 400,
                 "query parameter \"state\": \"99\" is not a value of berth.box.v1.BoxState");
  ExpectRejected(Build("GET", "/v1/boxes?app=a&app=b"), 400,
                 "query parameter \"app\" is given more than once");
  ExpectRejected(Build("GET", "/v1/boxes?user_id=a&userId=b"), 400,
                 "query parameter \"userId\" is given more than once");
  ExpectRejected(Build("GET", "/v1/boxes?app=%zz"), 400,
                 "query string: invalid percent-escape \"%zz\"");
  ExpectRejected(Build("GET", "/v1/boxes?=x"), 400, "has an empty name");
  ExpectRejected(Build("GET", "/v1/boxes?app=%FF"), 400,
                 "query parameter \"app\" is not valid UTF-8");
}

TEST_F(TranscoderTest, WatchTakesNothing) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Message> watch, Build("GET", "/v1/events"));
  EXPECT_EQ(watch->GetDescriptor()->full_name(), "berth.box.v1.WatchRequest");
  ExpectRejected(Build("GET", "/v1/events?since=1"), 400, "unknown query parameter \"since\"");
}

TEST_F(TranscoderTest, PathVariablesWinOverTheBody) {
  const Thing thing =
      BuildAs<Thing>("PUT", "/v1/things/from-path", R"({"name":"from-body","label":"L","i32":-4})");
  EXPECT_EQ(thing.name(), "from-path");
  EXPECT_EQ(thing.display_name(), "L");
  EXPECT_EQ(thing.i32(), -4);
  // The proto name works alongside the custom json_name.
  EXPECT_EQ(BuildAs<Thing>("PUT", "/v1/things/x", R"({"display_name":"D"})").display_name(), "D");
}

TEST_F(TranscoderTest, ConvertsPathVariablesToTheFieldType) {
  Thing thing = BuildAs<Thing>("GET", "/v1/things/t1/items/-9000000000");
  EXPECT_EQ(thing.name(), "t1");
  EXPECT_EQ(thing.i64(), -9000000000);
  thing = BuildAs<Thing>("GET", "/v1/counts/4294967295/-5");
  EXPECT_EQ(thing.u32(), 4294967295u);
  EXPECT_EQ(thing.s32(), -5);

  ExpectRejected(Build("GET", "/v1/things/t1/items/abc"), 400,
                 "path variable \"i64\": \"abc\" is not a 64-bit integer");
  ExpectRejected(Build("GET", "/v1/things/t1/items/%2B5"), 400, "path variable \"i64\"");
  ExpectRejected(Build("GET", "/v1/things/t1/items/%205"), 400, "path variable \"i64\"");
  ExpectRejected(Build("GET", "/v1/counts/-1/0"), 400,
                 "path variable \"u32\": \"-1\" is not an unsigned 32-bit integer");
  ExpectRejected(Build("GET", "/v1/counts/4294967296/0"), 400, "path variable \"u32\"");
  ExpectRejected(Build("GET", "/v1/counts/1/2147483648"), 400,
                 "path variable \"s32\": \"2147483648\" is not a 32-bit integer");
  ExpectRejected(Build("PUT", "/v1/things/%FF", "{}"), 400,
                 "path variable \"name\" is not valid UTF-8");
}

TEST_F(TranscoderTest, QuerySetsEveryScalarType) {
  const Thing thing = BuildAs<Thing>(
      "GET",
      "/v1/things?name=n&i32=-3&i64=9000000000&u32=7&u64=18446744073709551615&flag=true"
      "&color=COLOR_RED&ratio=0.5&scale=1.5&blob=aGk%3D&s32=-2&f64=9&label=L");
  EXPECT_EQ(thing.name(), "n");
  EXPECT_EQ(thing.i32(), -3);
  EXPECT_EQ(thing.i64(), 9000000000);
  EXPECT_EQ(thing.u32(), 7u);
  EXPECT_EQ(thing.u64(), 18446744073709551615u);
  EXPECT_TRUE(thing.flag());
  EXPECT_EQ(thing.color(), berth::gateway::routing::test::COLOR_RED);
  EXPECT_DOUBLE_EQ(thing.ratio(), 0.5);
  EXPECT_FLOAT_EQ(thing.scale(), 1.5f);
  EXPECT_EQ(thing.blob(), "hi");
  EXPECT_EQ(thing.s32(), -2);
  EXPECT_EQ(thing.f64(), 9u);
  EXPECT_EQ(thing.display_name(), "L");

  EXPECT_EQ(BuildAs<Thing>("GET", "/v1/things?color=2&blob=_-8").color(),
            berth::gateway::routing::test::COLOR_GREEN);
  EXPECT_EQ(BuildAs<Thing>("GET", "/v1/things?display_name=D").display_name(), "D");
}

TEST_F(TranscoderTest, QueryRejectsBadValuesAndUnsettableFields) {
  ExpectRejected(Build("GET", "/v1/things?flag=yes"), 400,
                 "query parameter \"flag\": \"yes\" is not true or false");
  ExpectRejected(Build("GET", "/v1/things?ratio=half"), 400,
                 "query parameter \"ratio\": \"half\" is not a number");
  ExpectRejected(Build("GET", "/v1/things?blob=%21%21"), 400,
                 "query parameter \"blob\": \"!!\" is not base64");
  ExpectRejected(Build("GET", "/v1/things?i32="), 400,
                 "query parameter \"i32\": \"\" is not a 32-bit integer");
  ExpectRejected(Build("GET", "/v1/things?tags=a"), 400,
                 "query parameter \"tags\" cannot be set from the query string");
  ExpectRejected(Build("GET", "/v1/things?inner=a"), 400,
                 "query parameter \"inner\" cannot be set from the query string");
  ExpectRejected(Build("GET", "/v1/things?labels=a"), 400,
                 "query parameter \"labels\" cannot be set from the query string");
}

// Routes and builds requests with the Bindings service's table (several routes per RPC).
class BindingsTranscoderTest : public TranscoderTest {
 protected:
  BindingsTranscoderTest() {
    absl::StatusOr<RouteTable> table = RouteTable::Create({TestService("Bindings")});
    EXPECT_TRUE(table.ok()) << table.status();
    table_ = table.ok() ? std::make_unique<RouteTable>(*std::move(table)) : nullptr;
  }
};

TEST_F(BindingsTranscoderTest, EachBindingHasItsOwnBodyHandling) {
  ASSERT_NE(table_, nullptr);
  // The outer rule and the PUT binding take the body; the path still wins over it.
  Thing thing = BuildAs<Thing>("POST", "/v1/boxes:assign", R"({"name":"n1","i64":"3"})");
  EXPECT_EQ(thing.name(), "n1");
  EXPECT_EQ(thing.i64(), 3);
  thing =
      BuildAs<Thing>("PUT", "/v1/boxes/from-path/assignment", R"({"name":"from-body","i32":5})");
  EXPECT_EQ(thing.name(), "from-path");
  EXPECT_EQ(thing.i32(), 5);
  ExpectRejected(Build("PUT", "/v1/boxes/b-1/assignment?i32=1", "{}"), 400,
                 "PUT /v1/boxes/{name}/assignment takes no query parameters");

  // The GET binding takes no body: its fields come from the path and the query.
  thing = BuildAs<Thing>("GET", "/v1/assignments/b-1/-42?i32=7&label=x");
  EXPECT_EQ(thing.name(), "b-1");
  EXPECT_EQ(thing.i64(), -42);
  EXPECT_EQ(thing.i32(), 7);
  EXPECT_EQ(thing.display_name(), "x");
  ExpectRejected(Build("GET", "/v1/assignments/b-1/42", "{}"), 400,
                 "GET /v1/assignments/{name}/{i64} takes no request body");
  ExpectRejected(Build("GET", "/v1/assignments/b-1/x"), 400,
                 "path variable \"i64\": \"x\" is not a 64-bit integer");

  thing = BuildAs<Thing>("POST", "/json_transport", R"({"label":"L"})");
  EXPECT_EQ(thing.display_name(), "L");
  thing = BuildAs<Thing>("POST", "/v1/host:drain", R"({"label":"M"})");
  EXPECT_EQ(thing.display_name(), "M");
}

TEST(BuildRequestTest, BuildsDynamicMessagesForDescriptorsOfAnotherPool) {
  // The routing test file, rebuilt into a pool of its own (as a reflection-fed gateway would).
  google::protobuf::DescriptorPool pool;
  for (const google::protobuf::FileDescriptor* file :
       {google::protobuf::DescriptorProto::descriptor()->file(),
        berth::api::HttpRule::descriptor()->file(), Thing::descriptor()->file()}) {
    google::protobuf::FileDescriptorProto proto;
    file->CopyTo(&proto);
    ASSERT_NE(pool.BuildFile(proto), nullptr) << file->name();
  }
  const google::protobuf::ServiceDescriptor* things =
      pool.FindServiceByName("berth.gateway.routing.test.Things");
  ASSERT_NE(things, nullptr);
  ASSERT_OK_AND_ASSIGN(RouteTable table, RouteTable::Create({things}));
  ASSERT_OK_AND_ASSIGN(RouteMatch match, table.Match("PUT", "/v1/things/t1"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Message> message,
                       BuildRequest(*match.route, match.bindings, "", R"({"i64":"7"})", kJson));
  EXPECT_EQ(message->GetDescriptor()->file()->pool(), &pool);
  Thing thing;
  ASSERT_TRUE(thing.ParseFromString(message->SerializeAsString()));
  EXPECT_EQ(thing.name(), "t1");
  EXPECT_EQ(thing.i64(), 7);
}

TEST(ParseQueryStringTest, SplitsAndDecodes) {
  ASSERT_OK_AND_ASSIGN(auto parameters, ParseQueryString("a=1&b=x+y%2B&&c&d=&e=f=g"));
  EXPECT_THAT(parameters, ElementsAre(Pair("a", "1"), Pair("b", "x y+"), Pair("c", ""),
                                      Pair("d", ""), Pair("e", "f=g")));
  ASSERT_OK_AND_ASSIGN(parameters, ParseQueryString(""));
  EXPECT_TRUE(parameters.empty());
}

CreateResponse SampleCreateResponse() {
  CreateResponse response;
  response.set_created(true);
  berth::box::v1::Box& box = *response.mutable_box();
  box.set_box_id("b1");
  box.set_app("web");
  box.set_user_id("u1");
  box.set_state(berth::box::v1::BOX_STATE_RUNNING);
  box.set_tty(-1);
  box.set_gpu_index(0);
  box.mutable_ttl()->set_seconds(30);
  box.mutable_created_at()->set_seconds(1700000000);
  berth::allocator::v1::PortBinding& port = *box.add_ports();
  port.set_host_port(20001);
  return response;
}

TEST(ResponseToJsonTest, UsesLowerCamelCaseAndOmitsDefaults) {
  ASSERT_OK_AND_ASSIGN(std::string json, ResponseToJson(SampleCreateResponse()));
  EXPECT_EQ(json, R"({"box":{"boxId":"b1","app":"web","userId":"u1","state":"BOX_STATE_RUNNING",)"
                  R"("tty":-1,"ports":[{"hostPort":20001}],"createdAt":"2023-11-14T22:13:20Z",)"
                  R"("ttl":"30s"},"created":true})");
  ASSERT_OK_AND_ASSIGN(json, ResponseToJson(CreateResponse()));
  EXPECT_EQ(json, "{}");
  Thing thing;
  thing.set_i64(5);
  thing.set_display_name("D");
  ASSERT_OK_AND_ASSIGN(json, ResponseToJson(thing));
  EXPECT_EQ(json, R"({"i64":"5","label":"D"})");
}

TEST(ResponseToJsonTest, RoundTripsThroughProtobufsParser) {
  const CreateResponse original = SampleCreateResponse();
  ASSERT_OK_AND_ASSIGN(std::string json, ResponseToJson(original));
  CreateResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original, parsed))
      << parsed.ShortDebugString();
}

TEST(StreamLineTest, WritesOneResultObjectPerLine) {
  BoxEvent event;
  event.set_kind(BoxEvent::KIND_SNAPSHOT);
  event.mutable_box()->set_box_id("b1");
  event.mutable_box()->set_reason("line1\nline2");
  ASSERT_OK_AND_ASSIGN(std::string line, StreamResultLine(event));
  EXPECT_EQ(line,
            "{\"result\":{\"kind\":\"KIND_SNAPSHOT\",\"box\":{\"boxId\":\"b1\","
            "\"reason\":\"line1\\nline2\"}}}\n");
  BoxEvent done;
  done.set_kind(BoxEvent::KIND_SNAPSHOT_DONE);
  ASSERT_OK_AND_ASSIGN(std::string second, StreamResultLine(done));
  EXPECT_EQ(second, "{\"result\":{\"kind\":\"KIND_SNAPSHOT_DONE\"}}\n");

  // Each line is a complete JSON object holding the message.
  const std::string stream = line + second;
  std::vector<absl::string_view> lines = absl::StrSplit(stream, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  for (absl::string_view one : lines) EXPECT_TRUE(common::CheckJsonSyntax(one).ok()) << one;
}

TEST(StreamLineTest, EndsAFailedStreamWithAnErrorLine) {
  EXPECT_EQ(StreamErrorLine(absl::UnavailableError("docker-svc \"boxes\" went away\n")),
            "{\"error\":{\"code\":14,\"message\":\"docker-svc \\\"boxes\\\" went away\\n\"}}\n");
}

}  // namespace
}  // namespace berth::gateway::routing
