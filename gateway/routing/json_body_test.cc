#include "gateway/routing/json_body.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/box/v1/box.pb.h"
#include "common/testing/status_matchers.h"
#include "gateway/routing/testdata/routing_test.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway::routing {
namespace {

using ::berth::box::v1::CreateRequest;
using ::berth::gateway::routing::test::Thing;
using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::google::protobuf::Message;

// A parser that accepts every body and sets nothing.
absl::Status AcceptAll(absl::string_view, Message&) { return absl::OkStatus(); }

// A parser that refuses every body holding the JSON string "abc", with a message that reads
// like protobuf's for an unknown field, which it is not.
absl::Status RefuseAbc(absl::string_view json, Message&) {
  if (!absl::StrContains(json, "\"abc\"")) return absl::OkStatus();
  return absl::InvalidArgumentError("(colour) bogus: Cannot find field.");
}

absl::Status Merge(absl::string_view body, Message& message, const JsonObjectParser& parse) {
  return MergeJsonObject(body, message, parse);
}

TEST(MergeJsonObjectTest, FindsUnknownFieldsItselfInBodyOrder) {
  CreateRequest create;
  EXPECT_THAT(
      Merge(R"({"app":"web","colour":"red","bogus":1})", create, AcceptAll),
      StatusIs(absl::StatusCode::kInvalidArgument, "unknown field \"colour\" in the JSON body"));
  EXPECT_THAT(
      Merge(R"({"ttl":{"seconds":1,"nanoz":2}})", create, AcceptAll),
      StatusIs(absl::StatusCode::kInvalidArgument, "unknown field \"ttl.nanoz\" in the JSON body"));
  Thing thing;
  EXPECT_THAT(Merge(R"({"inner":{"note":"n","nope":1}})", thing, AcceptAll),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unknown field \"inner.nope\" in the JSON body"));
  // A key with escapes names the field it decodes to; both spellings of a name are known.
  EXPECT_THAT(
      Merge(R"({"\u0061pp":"web","waitForReady":true,"wait_for_ready":true})", create, AcceptAll),
      IsOk());
  // A field's custom json_name and its proto name are known, its lowerCamelCase name is not.
  EXPECT_THAT(Merge(R"({"label":"x","display_name":"y"})", thing, AcceptAll), IsOk());
  EXPECT_THAT(Merge(R"({"displayName":"x"})", thing, AcceptAll),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unknown field \"displayName\" in the JSON body"));
}

// Which field is refused is found by structure: the text of the parser's message plays no part
// (here it names an unknown field "colour.bogus" that is not there).
TEST(MergeJsonObjectTest, NamesTheRefusedFieldWhateverTheParserSays) {
  CreateRequest create;
  EXPECT_THAT(Merge(R"({"app":"web","dpi":"abc"})", create, RefuseAbc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"dpi\": invalid value \"abc\" for type TYPE_UINT32"));
  Thing thing;
  EXPECT_THAT(Merge(R"({"name":"n","inner":{"note":"abc"}})", thing, RefuseAbc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"inner.note\": invalid value \"abc\" for type "
                       "TYPE_STRING"));
  EXPECT_THAT(Merge(R"({"tags":["a","abc"]})", thing, RefuseAbc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"tags[1]\": invalid value \"abc\" for type TYPE_STRING"));
  EXPECT_THAT(Merge(R"({"labels":{"k1":"v","k2":"abc"}})", thing, RefuseAbc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"labels[k2]\": invalid value \"abc\" for type "
                       "TYPE_STRING"));
  EXPECT_THAT(Merge(R"({"label":"abc"})", thing, RefuseAbc),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"display_name\": invalid value \"abc\" for type "
                       "TYPE_STRING"));
}

TEST(MergeJsonObjectTest, PassesOnTheParserMessageWhenNoOneFieldIsRefused) {
  // Refuses "app" and "session_id" together only, as protobuf refuses two members of a oneof.
  const auto refuse_pair = [](absl::string_view json, Message&) {
    if (absl::StrContains(json, "\"app\"") && absl::StrContains(json, "\"session_id\"")) {
      return absl::InvalidArgumentError("first line\nsecond line");
    }
    return absl::OkStatus();
  };
  CreateRequest create;
  EXPECT_THAT(
      Merge(R"({"app":"web","session_id":"s"})", create, refuse_pair),
      StatusIs(absl::StatusCode::kInvalidArgument, "invalid JSON body: first line second line"));
}

TEST(MergeJsonObjectTest, RefusesMalformedJsonAndNonObjectsBeforeParsing) {
  const auto unreachable = [](absl::string_view, Message&) {
    ADD_FAILURE() << "parsed";
    return absl::OkStatus();
  };
  CreateRequest create;
  EXPECT_THAT(Merge("{\"app\": }", create, unreachable),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "malformed JSON body at line 1, column 9: unexpected '}', expected a "
                       "value"));
  EXPECT_THAT(Merge(" [1]", create, unreachable),
              StatusIs(absl::StatusCode::kInvalidArgument, "the JSON body must be an object"));
}

TEST(MergeJsonObjectTest, WithProtobufsParser) {
  CreateRequest create;
  ASSERT_THAT(MergeJsonObject(R"({"app":"web","dpi":1e2,"env":{"A":"b"},"ttl":"5s"})", create),
              IsOk());
  EXPECT_EQ(create.app(), "web");
  EXPECT_EQ(create.dpi(), 100u);
  EXPECT_EQ(create.env().at("A"), "b");
  EXPECT_EQ(create.ttl().seconds(), 5);

  const auto refused = [](absl::string_view body) {
    CreateRequest request;
    return MergeJsonObject(body, request);
  };
  EXPECT_THAT(refused(R"({"app":"web","dpi":-1})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"dpi\": invalid value -1 for type TYPE_UINT32"));
  EXPECT_THAT(refused(R"({"dpi":1e400})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"dpi\": invalid value 1e400 for type TYPE_UINT32"));
  EXPECT_THAT(refused(R"({"env":{"A":"b","LANG":5}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"env[LANG]\": invalid value 5 for type TYPE_STRING"));
  EXPECT_THAT(refused(R"({"env":[1,
  2]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"env\": invalid value [1,   2] for type "
                       "map<TYPE_STRING, TYPE_STRING>"));
  EXPECT_THAT(refused(R"({"ttl":"30 minutes"})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"ttl\": invalid value \"30 minutes\" for type "
                       "google.protobuf.Duration"));
  EXPECT_THAT(refused(R"({"ttl":{"seconds":"x"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "JSON body field \"ttl.seconds\": invalid value \"x\" for type "
                       "TYPE_INT64"));
  const std::string long_value(100, 'x');
  EXPECT_THAT(refused(absl::StrCat(R"({"dpi":")", long_value, R"("})")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("JSON body field \"dpi\": invalid value \"",
                                    std::string(63, 'x'), "... for type TYPE_UINT32")));
}

}  // namespace
}  // namespace berth::gateway::routing
