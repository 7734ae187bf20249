#include "gateway/routing/json_printer.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "berth/box/v1/box.pb.h"
#include "common/testing/status_matchers.h"
#include "gateway/routing/testdata/json_printer_test.pb.h"
#include "gateway/routing/testdata/routing_test.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace berth::gateway::routing {
namespace {

using ::berth::gateway::routing::test::Color;
using ::berth::gateway::routing::test::Everything;
using ::berth::gateway::routing::test::Thing;
using ::google::protobuf::Message;
using ::berth::testing::StatusIs;
using ::testing::HasSubstr;

std::string Print(const Message& message) {
  std::string out;
  absl::Status status = AppendJson(message, out);
  EXPECT_OK(status);
  return out;
}

std::string ProtobufPrint(const Message& message) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &out).ok());
  return out;
}

// Parses `json` back into a message of `message`'s type and compares.
void ExpectParsesBackTo(const std::string& json, const Message& message) {
  std::unique_ptr<Message> parsed(message.New());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, parsed.get()).ok()) << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(message, *parsed))
      << json << "\n" << parsed->ShortDebugString();
}

// A random ASCII string, every byte 0..127 possible.
std::string RandomAscii(std::mt19937_64& random) {
  std::string text(random() % 12, ' ');
  for (char& c : text) c = static_cast<char>(random() % 128);
  return text;
}

// A random message of every field kind, with at most one entry per map (protobuf prints maps in
// hash order, so only single-entry maps compare byte for byte).
Everything RandomEverything(std::mt19937_64& random) {
  auto coin = [&random] { return random() % 2 == 0; };
  auto any64 = [&random] { return static_cast<int64_t>(random()); };
  const double doubles[] = {0.0, -0.0, 0.1, 1.0 / 3, 1e21, -1e-7, 12345678901234567.0,
                            std::nan(""), std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity(), 2.5, -1.0};
  auto any_double = [&] { return doubles[random() % 12]; };
  Everything e;
  if (coin()) {
    Thing& t = *e.mutable_thing();
    if (coin()) t.set_name(RandomAscii(random));
    if (coin()) t.set_i32(static_cast<int32_t>(random()));
    if (coin()) t.set_i64(any64());
    if (coin()) t.set_u32(static_cast<uint32_t>(random()));
    if (coin()) t.set_u64(random());
    if (coin()) t.set_flag(true);
    if (coin()) t.set_color(static_cast<Color>(random() % 4));  // 3 is not a known value.
    if (coin()) t.set_ratio(any_double());
    if (coin()) t.set_scale(static_cast<float>(any_double()) / 3.0f);
    if (coin()) t.set_blob(RandomAscii(random) + "\xff\x80");
    if (coin()) t.set_s32(-static_cast<int32_t>(random() % 1000));
    if (coin()) t.set_f64(random());
    if (coin()) t.set_display_name(RandomAscii(random));
    for (int i = random() % 3; i > 0; --i) t.add_tags(RandomAscii(random));
    if (coin()) t.mutable_inner()->set_note(RandomAscii(random));
    if (coin()) (*t.mutable_labels())[RandomAscii(random)] = RandomAscii(random);
  }
  for (int i = random() % 3; i > 0; --i) e.add_ids(any64());
  for (int i = random() % 3; i > 0; --i) e.add_ratios(any_double());
  for (int i = random() % 3; i > 0; --i) e.add_colors(static_cast<Color>(random() % 3));
  for (int i = random() % 3; i > 0; --i) e.add_inners()->set_note(RandomAscii(random));
  if (coin()) (*e.mutable_by_number())[static_cast<int32_t>(random())] = RandomAscii(random);
  if (coin()) (*e.mutable_by_flag())[coin()].set_note(RandomAscii(random));
  if (coin()) (*e.mutable_counts())[RandomAscii(random)] = any64();
  if (coin()) {
    e.mutable_when()->set_seconds(static_cast<int64_t>(random() % 253402300800) - 62135596800);
    const int32_t nanos[] = {0, 1, 120000, 500000000, 999999999, 1000};
    e.mutable_when()->set_nanos(nanos[random() % 6]);
  }
  if (coin()) {
    const int64_t seconds = static_cast<int64_t>(random() % 100000);
    const int32_t nanos = static_cast<int32_t>(random() % 3 == 0 ? 0 : random() % 1000000000);
    const bool negative = coin();
    e.mutable_took()->set_seconds(negative ? -seconds : seconds);
    e.mutable_took()->set_nanos(negative ? -nanos : nanos);
  }
  if (coin()) e.mutable_i32_wrapper()->set_value(static_cast<int32_t>(random() % 3) - 1);
  if (coin()) e.mutable_text_wrapper()->set_value(RandomAscii(random));
  if (coin()) e.mutable_bytes_wrapper()->set_value(RandomAscii(random));
  if (coin()) e.mutable_double_wrapper()->set_value(any_double());
  if (coin()) e.mutable_u64_wrapper()->set_value(random());
  if (coin()) e.mutable_bool_wrapper()->set_value(coin());
  if (coin()) {
    e.set_chosen_text(coin() ? "" : RandomAscii(random));
  } else if (coin()) {
    e.set_chosen_number(static_cast<int32_t>(random() % 3));
  }
  if (coin()) e.set_maybe(static_cast<int32_t>(random() % 2));
  if (coin()) e.set_sf64(any64());
  if (coin()) e.set_s64(any64());
  if (coin()) e.set_f32(static_cast<uint32_t>(random()));
  if (coin()) e.set_sf32(static_cast<int32_t>(random()));
  for (int i = random() % 3; i > 0; --i) e.add_blobs(RandomAscii(random));
  for (int i = random() % 3; i > 0; --i) e.add_flags(coin());
  for (int i = random() % 3; i > 0; --i) e.add_scales(static_cast<float>(any_double()));
  return e;
}

TEST(JsonPrinterTest, EqualsProtobufsPrinterOnRandomMessages) {
  std::mt19937_64 random(20261123);
  for (int i = 0; i < 3000; ++i) {
    const Everything message = RandomEverything(random);
    ASSERT_EQ(Print(message), ProtobufPrint(message)) << message.ShortDebugString();
  }
}

TEST(JsonPrinterTest, EqualsProtobufsPrinterOnBerthMessages) {
  box::v1::BoxEvent event;
  event.set_kind(box::v1::BoxEvent::KIND_GONE);
  box::v1::Box& box = *event.mutable_box();
  box.set_box_id("b-1");
  box.set_app("web");
  box.set_user_id("u1");
  box.set_state(box::v1::BOX_STATE_RUNNING);
  box.set_tty(-1);
  box.mutable_ttl()->set_seconds(30);
  box.mutable_created_at()->set_seconds(1700000000);
  box.mutable_ready_at()->set_seconds(1700000001);
  box.mutable_ready_at()->set_nanos(250000000);
  box.add_ports()->set_host_port(20001);
  box.add_ports()->set_host_port(20002);
  event.mutable_time()->set_seconds(1700000002);
  EXPECT_EQ(Print(event), ProtobufPrint(event));
  EXPECT_EQ(Print(box::v1::Box()), "{}");
}

// Found by tests/fuzz/json_printer_fuzz (corpus entry subnormal-float): protobuf prints a
// subnormal float with all its digits (its read-back check sees strtof's ERANGE), a subnormal
// double not (its check of doubles looks at no errno), and so must this.
TEST(JsonPrinterTest, SubnormalsPrintAsProtobufPrintsThem) {
  Everything message;
  message.add_scales(4.30619018e-42f);
  message.add_scales(1e-40f);
  message.add_ratios(4.9406564584124654e-324);
  message.add_ratios(2.5e-310);
  EXPECT_EQ(Print(message), ProtobufPrint(message));
  ExpectParsesBackTo(Print(message), message);
}

TEST(JsonPrinterTest, MapsAreObjectsInKeyOrder) {
  Everything message;
  (*message.mutable_counts())["b"] = 2;
  (*message.mutable_counts())["a"] = 1;
  (*message.mutable_by_number())[10] = "ten";
  (*message.mutable_by_number())[-3] = "minus three";
  (*message.mutable_by_flag())[true].set_note("yes");
  (*message.mutable_by_flag())[false];
  const std::string json = Print(message);
  EXPECT_EQ(json,
            R"({"byNumber":{"-3":"minus three","10":"ten"},"byFlag":{"false":{},"true":)"
            R"({"note":"yes"}},"counts":{"a":"1","b":"2"}})");
  ExpectParsesBackTo(json, message);
}

TEST(JsonPrinterTest, NonAsciiTextIsUtf8AndParsesBack) {
  Thing thing;
  thing.set_name("é 😀 \xe2\x80\xa8 \xc2\x80 \xef\xbb\xbf <b>");
  const std::string json = Print(thing);
  EXPECT_EQ(json, "{\"name\":\"é 😀 \\u2028 \xc2\x80 \xef\xbb\xbf \\u003cb\\u003e\"}");
  ExpectParsesBackTo(json, thing);
}

TEST(JsonPrinterTest, InvalidUtf8BecomesReplacementCharacters) {
  Thing thing;
  // A stray continuation byte, a truncated sequence, an overlong '/', a surrogate, 0xff.
  thing.set_name("a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80" "e\xff");
  EXPECT_EQ(Print(thing),
            R"({"name":"a\ufffdb\ufffd\ufffdc\ufffd\ufffdd\ufffd\ufffd\ufffde\ufffd"})");
}

TEST(JsonPrinterTest, TimesOutsideTheirJsonRangeAreErrors) {
  Everything message;
  message.mutable_when()->set_seconds(253402300800);  // 10000-01-01.
  std::string out;
  EXPECT_THAT(AppendJson(message, out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Timestamp")));
  message.Clear();
  message.mutable_took()->set_seconds(-315576000001);
  EXPECT_THAT(AppendJson(message, out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside the JSON range")));
}

// A Duration's nanos must have the sign of its seconds. Protobuf's printer refuses -1s +1ns but
// prints 1s -1ns as "1.294967295s" (the fuzzer's finding: 103759s -324619648ns as
// "103759.970347648s"); Berth refuses both rather than print another duration.
TEST(JsonPrinterTest, DurationsOfOppositeSignsAreErrors) {
  Everything message;
  for (const auto& [seconds, nanos] :
       std::vector<std::pair<int64_t, int32_t>>{{1, -1}, {103759, -324619648}, {-1, 1}}) {
    std::string out;
    message.mutable_took()->set_seconds(seconds);
    message.mutable_took()->set_nanos(nanos);
    EXPECT_THAT(AppendJson(message, out),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("opposite signs")))
        << seconds << "s " << nanos << "ns";
  }
  message.mutable_took()->set_seconds(0);
  message.mutable_took()->set_nanos(-5);
  EXPECT_EQ(Print(message), R"({"took":"-0.000000005s"})");
}

TEST(JsonPrinterTest, LeavesOtherWellKnownTypesToProtobuf) {
  Everything message;
  (*message.mutable_extra()->mutable_fields())["k"].set_string_value("v");
  std::string out;
  EXPECT_THAT(AppendJson(message, out),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("google.protobuf.Struct")));
}

TEST(JsonPrinterTest, AppendsToWhatIsThere) {
  Thing thing;
  thing.set_i32(7);
  std::string out = "prefix ";
  ASSERT_OK(AppendJson(thing, out));
  EXPECT_EQ(out, R"(prefix {"i32":7})");
}

}  // namespace
}  // namespace berth::gateway::routing
