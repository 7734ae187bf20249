#include "gateway/routing/transcoder.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "gateway/routing/http_status.h"
#include "gateway/routing/json_body.h"
#include "gateway/routing/json_printer.h"
#include "gateway/routing/text_codec.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"

namespace berth::gateway::routing {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;

// `text` in quotes for an error message, cut to a readable length.
std::string Quoted(absl::string_view text) {
  constexpr size_t kMaxShown = 64;
  if (text.size() <= kMaxShown) return absl::StrCat("\"", text, "\"");
  return absl::StrCat("\"", text.substr(0, kMaxShown), "\"...");
}

std::unique_ptr<Message> NewMessage(const Descriptor& type) {
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(&type);
  if (prototype == nullptr) {  // Not compiled in: a descriptor from another pool.
    static auto* const dynamic_factory = new google::protobuf::DynamicMessageFactory();
    prototype = dynamic_factory->GetPrototype(&type);
  }
  return std::unique_ptr<Message>(prototype->New());
}

absl::Status UnsupportedMediaType(absl::string_view message) {
  return WithHttpStatus(absl::InvalidArgumentError(message), 415);
}

// OK when `content_type` is application/json with no charset or UTF-8; else HTTP 415.
absl::Status CheckJsonContentType(absl::string_view content_type) {
  if (absl::StripAsciiWhitespace(content_type).empty()) {
    return UnsupportedMediaType("a request body needs Content-Type: application/json");
  }
  std::vector<absl::string_view> parts = absl::StrSplit(content_type, ';');
  const std::string media_type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
  if (media_type != "application/json") {
    return UnsupportedMediaType(absl::StrCat("unsupported Content-Type ", Quoted(content_type),
                                             "; the request body must be application/json"));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> parameter =
        absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    if (absl::AsciiStrToLower(absl::StripAsciiWhitespace(parameter.first)) != "charset") continue;
    absl::string_view charset = absl::StripAsciiWhitespace(parameter.second);
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
      charset = charset.substr(1, charset.size() - 2);
    }
    const std::string lower = absl::AsciiStrToLower(charset);
    if (lower != "utf-8" && lower != "utf8") {
      return UnsupportedMediaType(absl::StrCat("unsupported charset ", Quoted(charset),
                                               "; the request body must be UTF-8 JSON"));
    }
  }
  return absl::OkStatus();
}

absl::Status MergeJsonBody(absl::string_view body, absl::string_view content_type,
                           Message& message) {
  RETURN_IF_ERROR(CheckJsonContentType(content_type));
  return MergeJsonObject(body, message);
}

// Parses a decimal integer: digits with an optional leading '-', nothing else.
template <typename Int>
bool ParseInteger(absl::string_view text, Int* value) {
  absl::string_view digits = text;
  absl::ConsumePrefix(&digits, "-");
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return false;
  }
  return absl::SimpleAtoi(text, value);
}

bool HasSurroundingSpace(absl::string_view text) {
  return !text.empty() && (absl::ascii_isspace(static_cast<unsigned char>(text.front())) ||
                           absl::ascii_isspace(static_cast<unsigned char>(text.back())));
}

// Sets the singular scalar or enum `field` of `message` from `text`; `what` names the source
// ("query parameter \"dpi\"") in errors.
absl::Status SetFieldFromText(const FieldDescriptor& field, absl::string_view text,
                              absl::string_view what, Message& message) {
  const Reflection& reflection = *message.GetReflection();
  const auto invalid = [&](absl::string_view expected) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", Quoted(text), " is not ", expected));
  };
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      if (field.type() == FieldDescriptor::TYPE_BYTES) {
        std::string bytes;
        if (!absl::Base64Unescape(text, &bytes) && !absl::WebSafeBase64Unescape(text, &bytes)) {
          return invalid("base64");
        }
        reflection.SetString(&message, &field, std::move(bytes));
      } else {
        if (!common::IsValidUtf8(text)) {
          return absl::InvalidArgumentError(absl::StrCat(what, " is not valid UTF-8"));
        }
        reflection.SetString(&message, &field, std::string(text));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t value;
      if (!ParseInteger(text, &value)) return invalid("a 32-bit integer");
      reflection.SetInt32(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value;
      if (!ParseInteger(text, &value)) return invalid("a 64-bit integer");
      reflection.SetInt64(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t value;
      if (absl::StartsWith(text, "-") || !ParseInteger(text, &value)) {
        return invalid("an unsigned 32-bit integer");
      }
      reflection.SetUInt32(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value;
      if (absl::StartsWith(text, "-") || !ParseInteger(text, &value)) {
        return invalid("an unsigned 64-bit integer");
      }
      reflection.SetUInt64(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double value;
      if (HasSurroundingSpace(text) || !absl::SimpleAtod(text, &value)) return invalid("a number");
      reflection.SetDouble(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float value;
      if (HasSurroundingSpace(text) || !absl::SimpleAtof(text, &value)) return invalid("a number");
      reflection.SetFloat(&message, &field, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      if (text != "true" && text != "false") return invalid("true or false");
      reflection.SetBool(&message, &field, text == "true");
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumDescriptor& type = *field.enum_type();
      const google::protobuf::EnumValueDescriptor* value = type.FindValueByName(std::string(text));
      int32_t number;
      if (value == nullptr && ParseInteger(text, &number)) value = type.FindValueByNumber(number);
      if (value == nullptr) return invalid(absl::StrCat("a value of ", type.full_name()));
      reflection.SetEnumValue(&message, &field, value->number());
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(what, " cannot be set from text"));
}

// The top-level field a query key names, by proto name or JSON name.
const FieldDescriptor* FindFieldForKey(const Descriptor& type, absl::string_view key) {
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor* field = type.field(i);
    if (field->name() == key || field->json_name() == key) return field;
  }
  return nullptr;
}

absl::Status MergeQuery(const Route& route, const std::vector<PathBinding>& bindings,
                        absl::string_view query, Message& message) {
  ASSIGN_OR_RETURN(auto parameters, ParseQueryString(query));
  std::set<const FieldDescriptor*> set_fields;
  for (const auto& [key, value] : parameters) {
    const std::string what = absl::StrCat("query parameter ", Quoted(key));
    const FieldDescriptor* field = FindFieldForKey(*message.GetDescriptor(), key);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown ", what, " for ", route.http_method, " ", route.path.text));
    }
    if (field->is_repeated() || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       " cannot be set from the query string (only singular scalar and "
                       "enum fields can)"));
    }
    for (const PathBinding& binding : bindings) {
      if (binding.field == field) {
        return absl::InvalidArgumentError(absl::StrCat(what, " is bound by the path"));
      }
    }
    if (!set_fields.insert(field).second) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is given more than once"));
    }
    RETURN_IF_ERROR(SetFieldFromText(*field, value, what, message));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> parameters;
  for (absl::string_view piece : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> key_value =
        absl::StrSplit(piece, absl::MaxSplits('=', 1));
    absl::StatusOr<std::string> key = PercentDecode(key_value.first, /*plus_is_space=*/true);
    absl::StatusOr<std::string> value = PercentDecode(key_value.second, /*plus_is_space=*/true);
    if (!key.ok() || !value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query string: ", (key.ok() ? value : key).status().message()));
    }
    if (key->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query string: parameter ", Quoted(piece), " has an empty name"));
    }
    parameters.emplace_back(*std::move(key), *std::move(value));
  }
  return parameters;
}

absl::StatusOr<std::unique_ptr<Message>> BuildRequest(const Route& route,
                                                      const std::vector<PathBinding>& bindings,
                                                      absl::string_view query,
                                                      absl::string_view body,
                                                      absl::string_view content_type) {
  std::unique_ptr<Message> message = NewMessage(*route.method->input_type());
  const bool body_empty = absl::StripAsciiWhitespace(body).empty();
  if (route.has_body()) {
    if (!query.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(route.http_method, " ", route.path.text,
                       " takes no query parameters; send the fields in the JSON body"));
    }
    if (!body_empty) RETURN_IF_ERROR(MergeJsonBody(body, content_type, *message));
  } else {
    if (!body_empty) {
      return absl::InvalidArgumentError(
          absl::StrCat(route.http_method, " ", route.path.text, " takes no request body"));
    }
    RETURN_IF_ERROR(MergeQuery(route, bindings, query, *message));
  }
  for (const PathBinding& binding : bindings) {
    RETURN_IF_ERROR(SetFieldFromText(*binding.field, binding.value,
                                     absl::StrCat("path variable ", Quoted(binding.field->name())),
                                     *message));
  }
  return message;
}

namespace {

// Appends `message` as JSON: Berth's printer, or protobuf's for the well-known types it leaves
// to it.
absl::Status AppendResponseJson(const Message& message, std::string& out) {
  const size_t start = out.size();
  absl::Status printed = AppendJson(message, out);
  if (printed.code() != absl::StatusCode::kUnimplemented) return printed;
  out.resize(start);
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = false;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = false;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ", message.GetTypeName(),
                                            " as JSON: ", std::string(status.message())));
  }
  out += json;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ResponseToJson(const Message& message) {
  std::string json;
  json.reserve(512);
  RETURN_IF_ERROR(AppendResponseJson(message, json));
  return json;
}

absl::StatusOr<std::string> StreamResultLine(const Message& message) {
  std::string line = "{\"result\":";
  line.reserve(512);
  RETURN_IF_ERROR(AppendResponseJson(message, line));
  line += "}\n";
  return line;
}

std::string StreamErrorLine(const absl::Status& status) {
  return absl::StrCat("{\"error\":", ErrorBody(status), "}\n");
}

}  // namespace berth::gateway::routing
