#include "common/json_syntax.h"

#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::common {
namespace {

using ::berth::testing::IsOk;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CheckJsonSyntaxTest, AcceptsValidJson) {
  for (const char* text :
       {"{}", " {\"a\": [1, -2.5e+3, 0, true, false, null, \"x\"]}\n", "[]", "\"s\"", "0",
        "{\"a\":{\"b\":{}}}", "\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"", "\"caf\xc3\xa9\""}) {
    EXPECT_THAT(CheckJsonSyntax(text), IsOk()) << text;
  }
}

TEST(CheckJsonSyntaxTest, ReportsLineAndColumn) {
  EXPECT_THAT(CheckJsonSyntax("{\"app\": }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 9: unexpected '}', expected a value"));
  EXPECT_THAT(CheckJsonSyntax("{\n  \"app\": \"x\",\n  \"dpi\" 5\n}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 3, column 9: unexpected '5', expected ':'"));
  EXPECT_THAT(CheckJsonSyntax("{\"app\": \"x\""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 12: unexpected end of input, expected ',' or '}'"));
}

TEST(CheckJsonSyntaxTest, RejectsWhatProtobufWouldTolerateOrMisreport) {
  EXPECT_THAT(CheckJsonSyntax("{\"a\":1,}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 8: unexpected '}', expected a string key"));
  EXPECT_THAT(CheckJsonSyntax("{} {}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 4: unexpected data after the JSON value"));
  EXPECT_THAT(CheckJsonSyntax(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                            "line 1, column 1: unexpected end of input, "
                                            "expected a value"));
  EXPECT_THAT(CheckJsonSyntax("{'a':1}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected a string key")));
  EXPECT_THAT(CheckJsonSyntax("[01]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leading zero")));
  EXPECT_THAT(CheckJsonSyntax("[1.]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected a digit")));
  EXPECT_THAT(CheckJsonSyntax("[tru]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column 2")));
  EXPECT_THAT(CheckJsonSyntax("[\"a\tb\"]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("control character")));
  EXPECT_THAT(
      CheckJsonSyntax("[\"\\x\"]"),
      StatusIs(absl::StatusCode::kInvalidArgument, "line 1, column 3: invalid escape in a string"));
}

TEST(CheckJsonSyntaxTest, RejectsInvalidUtf8AndUnpairedSurrogates) {
  EXPECT_THAT(
      CheckJsonSyntax("{\"app\":\"a\xff\"}"),
      StatusIs(absl::StatusCode::kInvalidArgument, "line 1, column 10: invalid UTF-8 in a string"));
  EXPECT_THAT(CheckJsonSyntax("{\"app\":\xff}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 8: unexpected byte 0xff, expected a value"));
  EXPECT_THAT(CheckJsonSyntax("[\"\\ud800\"]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 3: unpaired high surrogate escape"));
  EXPECT_THAT(CheckJsonSyntax("[\"\\ud800\\u0041\"]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unpaired high surrogate")));
  EXPECT_THAT(CheckJsonSyntax("[\"\\udc00\"]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unpaired low surrogate")));
  EXPECT_THAT(CheckJsonSyntax("[\"\\u12G4\"]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 hex digits")));
}

TEST(ParseJsonTest, KeepsKindsTextsAndOrder) {
  const absl::StatusOr<JsonValue> json =
      ParseJson(" {\"b\": [1, \"x\", null], \"a\\u00e9\\n\": {\"c\": true}, \"b\": -2.5e3} ");
  ASSERT_THAT(json.status(), IsOk());
  EXPECT_EQ(json->kind, JsonValue::Kind::kObject);
  EXPECT_EQ(json->text, "{\"b\": [1, \"x\", null], \"a\\u00e9\\n\": {\"c\": true}, \"b\": -2.5e3}");
  ASSERT_EQ(json->members.size(), 3u);
  EXPECT_EQ(json->members[0].key, "b");
  EXPECT_EQ(json->members[0].key_text, "\"b\"");
  const JsonValue& array = json->members[0].value;
  EXPECT_EQ(array.kind, JsonValue::Kind::kArray);
  EXPECT_EQ(array.text, "[1, \"x\", null]");
  ASSERT_EQ(array.elements.size(), 3u);
  EXPECT_EQ(array.elements[0].kind, JsonValue::Kind::kNumber);
  EXPECT_EQ(array.elements[1].kind, JsonValue::Kind::kString);
  EXPECT_EQ(array.elements[1].text, "\"x\"");
  EXPECT_EQ(array.elements[2].kind, JsonValue::Kind::kNull);
  EXPECT_EQ(json->members[1].key, "a\xc3\xa9\n");
  EXPECT_EQ(json->members[1].key_text, "\"a\\u00e9\\n\"");
  ASSERT_EQ(json->members[1].value.members.size(), 1u);
  EXPECT_EQ(json->members[1].value.members[0].value.kind, JsonValue::Kind::kBool);
  EXPECT_EQ(json->members[2].key, "b");
  EXPECT_EQ(json->members[2].value.text, "-2.5e3");
}

TEST(ParseJsonTest, DecodesEscapesInKeys) {
  const absl::StatusOr<JsonValue> json = ParseJson(R"({"\"\\\/\b\f\n\r\t\u0041\ud83d\ude00":0})");
  ASSERT_THAT(json.status(), IsOk());
  ASSERT_EQ(json->members.size(), 1u);
  EXPECT_EQ(json->members[0].key, "\"\\/\b\f\n\r\tA\xf0\x9f\x98\x80");
}

TEST(ParseJsonTest, ReportsErrorsAsCheckJsonSyntax) {
  EXPECT_THAT(ParseJson("{\"app\": }").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "line 1, column 9: unexpected '}', expected a value"));
}

TEST(CheckJsonSyntaxTest, LimitsNesting) {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_THAT(CheckJsonSyntax(ok), IsOk());
  const std::string deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_THAT(CheckJsonSyntax(deep),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested too deeply")));
  EXPECT_THAT(CheckJsonSyntax(std::string(100000, '[')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested too deeply")));
}

}  // namespace
}  // namespace berth::common
