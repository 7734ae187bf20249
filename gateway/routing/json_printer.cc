#include "gateway/routing/json_printer.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "google/protobuf/descriptor.h"

namespace berth::gateway::routing {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

// JSON ranges of the two time types (RFC 3339 years 0001..9999; ±10,000 years).
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int64_t kMaxDurationSeconds = 315576000000;
constexpr int32_t kMaxNanos = 999999999;

constexpr char kHex[] = "0123456789abcdef";

void AppendUnicodeEscape(uint32_t code_point, std::string& out) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(code_point >> shift) & 0xf];
}

// `text` as a quoted JSON string, escaped as protobuf does for ASCII: control characters, '"',
// '\\', '<', '>' and DEL; and U+2028 / U+2029, which JavaScript does not allow raw.
void AppendQuoted(absl::string_view text, std::string& out) {
  out += '"';
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = bytes[i];
    if (c >= 0x80) {
      uint32_t code_point = 0;
      const int length = common::DecodeUtf8(text.substr(i), &code_point);
      if (length == 0) {
        AppendUnicodeEscape(0xfffd, out);
        ++i;
      } else {
        if (code_point == 0x2028 || code_point == 0x2029) {
          AppendUnicodeEscape(code_point, out);
        } else {
          out.append(text.data() + i, length);
        }
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == 0x7f) {
          AppendUnicodeEscape(c, out);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

// Whether `text` reads back as `value` as protobuf checks it: for a double, equality
// (safe_strtod); for a float, equality without ERANGE (safe_strtof), so that a float that
// underflows to a subnormal does not count as read back.
bool ReadsBack(const char* text, double value) { return std::strtod(text, nullptr) == value; }
bool ReadsBack(const char* text, float value) {
  errno = 0;
  const float parsed = std::strtof(text, nullptr);
  return errno == 0 && parsed == value;
}

// A finite double as the shortest of %.15g / %.17g that reads back the same, like protobuf.
void AppendDouble(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "\"NaN\"";
  } else if (std::isinf(value)) {
    out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.15g", value);
    if (!ReadsBack(buffer, value)) std::snprintf(buffer, sizeof buffer, "%.17g", value);
    out += buffer;
  }
}

void AppendFloat(float value, std::string& out) {
  if (!std::isfinite(value)) return AppendDouble(value, out);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", static_cast<double>(value));
  if (!ReadsBack(buffer, value)) {
    std::snprintf(buffer, sizeof buffer, "%.9g", static_cast<double>(value));
  }
  out += buffer;
}

// ".fff", ".ffffff" or ".fffffffff": the fewest groups of three digits that hold `nanos`
// (0 < nanos <= kMaxNanos).
void AppendFraction(int32_t nanos, std::string& out) {
  char buffer[16];
  if (nanos % 1000000 == 0) {
    std::snprintf(buffer, sizeof buffer, ".%03d", nanos / 1000000);
  } else if (nanos % 1000 == 0) {
    std::snprintf(buffer, sizeof buffer, ".%06d", nanos / 1000);
  } else {
    std::snprintf(buffer, sizeof buffer, ".%09d", nanos);
  }
  out += buffer;
}

absl::Status AppendTimestamp(int64_t seconds, int32_t nanos, std::string& out) {
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
      nanos > kMaxNanos) {
    return absl::InvalidArgumentError(
        absl::StrCat("Timestamp ", seconds, "s ", nanos, "ns is outside the JSON range"));
  }
  const absl::CivilSecond civil =
      absl::ToCivilSecond(absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "\"%04d-%02d-%02dT%02d:%02d:%02d",
                static_cast<int>(civil.year()), civil.month(), civil.day(), civil.hour(),
                civil.minute(), civil.second());
  out += buffer;
  if (nanos != 0) AppendFraction(nanos, out);
  out += "Z\"";
  return absl::OkStatus();
}

absl::Status AppendDuration(int64_t seconds, int32_t nanos, std::string& out) {
  if (seconds < -kMaxDurationSeconds || seconds > kMaxDurationSeconds || nanos < -kMaxNanos ||
      nanos > kMaxNanos) {
    return absl::InvalidArgumentError(
        absl::StrCat("Duration ", seconds, "s ", nanos, "ns is outside the JSON range"));
  }
  // Refused, not printed as protobuf's printer does: it prints 1s -1ns as "1.294967295s".
  if ((seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("Duration ", seconds, "s ", nanos,
                                                   "ns has seconds and nanos of opposite signs"));
  }
  out += '"';
  if (seconds < 0 || nanos < 0) out += '-';
  absl::StrAppend(&out, seconds < 0 ? -seconds : seconds);
  if (nanos != 0) AppendFraction(nanos < 0 ? -nanos : nanos, out);
  out += "s\"";
  return absl::OkStatus();
}

absl::Status AppendMessage(const Message& message, std::string& out);

// The value of a singular field (index < 0) or of one element of a repeated one.
absl::Status AppendValue(const Message& message, const FieldDescriptor& field, int index,
                         std::string& out) {
  const Reflection& reflection = *message.GetReflection();
  const bool repeated = index >= 0;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out, repeated ? reflection.GetRepeatedInt32(message, &field, index)
                                     : reflection.GetInt32(message, &field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out, repeated ? reflection.GetRepeatedUInt32(message, &field, index)
                                     : reflection.GetUInt32(message, &field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(&out, "\"",
                      repeated ? reflection.GetRepeatedInt64(message, &field, index)
                               : reflection.GetInt64(message, &field),
                      "\"");
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out, "\"",
                      repeated ? reflection.GetRepeatedUInt64(message, &field, index)
                               : reflection.GetUInt64(message, &field),
                      "\"");
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(repeated ? reflection.GetRepeatedDouble(message, &field, index)
                            : reflection.GetDouble(message, &field),
                   out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloat(repeated ? reflection.GetRepeatedFloat(message, &field, index)
                           : reflection.GetFloat(message, &field),
                  out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (repeated ? reflection.GetRepeatedBool(message, &field, index)
                       : reflection.GetBool(message, &field))
                 ? "true"
                 : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated ? reflection.GetRepeatedEnumValue(message, &field, index)
                                  : reflection.GetEnumValue(message, &field);
      if (field.enum_type()->full_name() == "google.protobuf.NullValue") {
        out += "null";
      } else if (const auto* value = field.enum_type()->FindValueByNumber(number)) {
        AppendQuoted(value->name(), out);
      } else {
        absl::StrAppend(&out, number);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& text =
          repeated ? reflection.GetRepeatedStringReference(message, &field, index, &scratch)
                   : reflection.GetStringReference(message, &field, &scratch);
      if (field.type() == FieldDescriptor::TYPE_BYTES) {
        absl::StrAppend(&out, "\"", absl::Base64Escape(text), "\"");
      } else {
        AppendQuoted(text, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return AppendMessage(repeated ? reflection.GetRepeatedMessage(message, &field, index)
                                    : reflection.GetMessage(message, &field),
                           out);
  }
  return absl::OkStatus();
}

// A map field as a JSON object, keys in ascending order.
absl::Status AppendMap(const Message& message, const FieldDescriptor& field, std::string& out) {
  const Reflection& reflection = *message.GetReflection();
  const FieldDescriptor& key = *field.message_type()->map_key();
  const FieldDescriptor& value = *field.message_type()->map_value();
  const int size = reflection.FieldSize(message, &field);
  std::vector<std::pair<std::string, const Message*>> entries;
  entries.reserve(size);
  for (int i = 0; i < size; ++i) {
    const Message& entry = reflection.GetRepeatedMessage(message, &field, i);
    const Reflection& entry_reflection = *entry.GetReflection();
    std::string key_text;
    switch (key.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        key_text = entry_reflection.GetString(entry, &key);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        key_text = entry_reflection.GetBool(entry, &key) ? "true" : "false";
        break;
      default:  // An integer: printed quoted, as every key is, without AppendValue's quotes.
        RETURN_IF_ERROR(AppendValue(entry, key, -1, key_text));
        if (absl::StartsWith(key_text, "\"")) key_text = key_text.substr(1, key_text.size() - 2);
    }
    entries.emplace_back(std::move(key_text), &entry);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    AppendQuoted(entries[i].first, out);
    out += ':';
    RETURN_IF_ERROR(AppendValue(*entries[i].second, value, -1, out));
  }
  out += '}';
  return absl::OkStatus();
}

// Well-known types with a special JSON form; false (and nothing appended) for other messages.
absl::StatusOr<bool> AppendWellKnown(const Message& message, std::string& out) {
  const Descriptor& type = *message.GetDescriptor();
  if (type.file()->package() != "google.protobuf") return false;
  const Reflection& reflection = *message.GetReflection();
  const std::string& name = type.name();
  if (name == "Timestamp" || name == "Duration") {
    const int64_t seconds = reflection.GetInt64(message, type.field(0));
    const int32_t nanos = reflection.GetInt32(message, type.field(1));
    RETURN_IF_ERROR(name == "Timestamp" ? AppendTimestamp(seconds, nanos, out)
                                        : AppendDuration(seconds, nanos, out));
    return true;
  }
  if (absl::EndsWith(name, "Value") && type.field_count() == 1 &&
      type.field(0)->name() == "value" && !type.field(0)->is_repeated() &&
      type.field(0)->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE &&
      type.field(0)->cpp_type() != FieldDescriptor::CPPTYPE_ENUM) {
    RETURN_IF_ERROR(AppendValue(message, *type.field(0), -1, out));  // A wrapper.
    return true;
  }
  return absl::UnimplementedError(
      absl::StrCat(type.full_name(), " is printed by protobuf's JSON printer"));
}

absl::Status AppendMessage(const Message& message, std::string& out) {
  ASSIGN_OR_RETURN(bool well_known, AppendWellKnown(message, out));
  if (well_known) return absl::OkStatus();
  const Reflection& reflection = *message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);  // Set fields only, by field number.
  out += '{';
  bool first = true;
  for (const FieldDescriptor* field : fields) {
    if (field->is_extension()) continue;
    if (!first) out += ',';
    first = false;
    AppendQuoted(field->json_name(), out);
    out += ':';
    if (field->is_map()) {
      RETURN_IF_ERROR(AppendMap(message, *field, out));
    } else if (field->is_repeated()) {
      out += '[';
      const int size = reflection.FieldSize(message, field);
      for (int i = 0; i < size; ++i) {
        if (i > 0) out += ',';
        RETURN_IF_ERROR(AppendValue(message, *field, i, out));
      }
      out += ']';
    } else {
      RETURN_IF_ERROR(AppendValue(message, *field, -1, out));
    }
  }
  out += '}';
  return absl::OkStatus();
}

}  // namespace

absl::Status AppendJson(const Message& message, std::string& out) {
  return AppendMessage(message, out);
}

}  // namespace berth::gateway::routing
