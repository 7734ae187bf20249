#include "tests/fuzz/proto_checks.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/routing/json_printer.h"
#include "common/utf8.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_input.h"

namespace berth::fuzz {
namespace {

using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

bool IsAscii(const std::string& text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Calls `visit` on every string and bytes value of `message`, nested messages included, and
// says whether it returned true for all of them (and, with `single_entry_maps`, whether every
// map has at most one entry).
template <typename Visit>
bool AllText(const Message& message, bool single_entry_maps, const Visit& visit) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (single_entry_maps && field->is_map() && reflection->FieldSize(message, field) > 1) {
      return false;
    }
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        std::string scratch;
        const std::string& text =
            field->is_repeated()
                ? reflection->GetRepeatedStringReference(message, field, i, &scratch)
                : reflection->GetStringReference(message, field, &scratch);
        if (!visit(field, text)) return false;
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const Message& inner = field->is_repeated()
                                   ? reflection->GetRepeatedMessage(message, field, i)
                                   : reflection->GetMessage(message, field);
        if (!AllText(inner, single_entry_maps, visit)) return false;
      }
    }
  }
  return true;
}

// Whether `message` or a message inside it is a google.protobuf.Duration whose seconds and
// nanos have opposite signs (not a valid Duration).
bool HasDurationOfOppositeSigns(const Message& message) {
  const google::protobuf::Descriptor* type = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  if (type->full_name() == "google.protobuf.Duration") {
    const int64_t seconds = reflection->GetInt64(message, type->FindFieldByNumber(1));
    const int32_t nanos = reflection->GetInt32(message, type->FindFieldByNumber(2));
    return (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0);
  }
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const Message& inner = field->is_repeated()
                                 ? reflection->GetRepeatedMessage(message, field, i)
                                 : reflection->GetMessage(message, field);
      if (HasDurationOfOppositeSigns(inner)) return true;
    }
  }
  return false;
}

}  // namespace

bool SameMessage(const Message& a, const Message& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  return differencer.Compare(a, b);
}

bool PrintersMustAgree(const Message& message) {
  return AllText(message, true, [](const FieldDescriptor*, const std::string& text) {
    return IsAscii(text);
  });
}

void CheckPrinter(const Message& message) {
  std::string ours;
  const absl::Status printed = gateway::routing::AppendJson(message, ours);
  if (absl::IsUnimplemented(printed)) return;  // A well-known type left to protobuf's printer.
  if (HasDurationOfOppositeSigns(message)) {
    // Berth refuses it; protobuf's printer refuses -1s 1ns but prints 1s -1ns as another
    // duration ("1.294967295s"), so there is nothing to compare.
    FUZZ_CHECK(!printed.ok(), absl::StrCat(ours, "\n", message.ShortDebugString()));
    return;
  }
  std::string theirs;
  const bool theirs_ok = google::protobuf::util::MessageToJsonString(message, &theirs).ok();
  // Both refuse a Timestamp or Duration outside its JSON range, and only that.
  FUZZ_CHECK(printed.ok() == theirs_ok,
             absl::StrCat(printed.ToString(), "\n", message.ShortDebugString()));
  if (!printed.ok()) return;
  if (PrintersMustAgree(message)) {
    FUZZ_CHECK(ours == theirs, absl::StrCat("ours:   ", ours, "\ntheirs: ", theirs));
  }
  std::unique_ptr<Message> parsed(message.New());
  const auto parsed_back = google::protobuf::util::JsonStringToMessage(ours, parsed.get());
  FUZZ_CHECK(parsed_back.ok(), absl::StrCat(parsed_back.ToString(), "\n", ours));
  const bool valid_utf8 =
      AllText(message, false, [](const FieldDescriptor* field, const std::string& text) {
        return field->type() == FieldDescriptor::TYPE_BYTES ||
               common::IsValidUtf8(text);
      });
  if (valid_utf8) {
    FUZZ_CHECK(SameMessage(message, *parsed),
               absl::StrCat(ours, "\n", message.ShortDebugString(), "\n",
                            parsed->ShortDebugString()));
  }
}

}  // namespace berth::fuzz
