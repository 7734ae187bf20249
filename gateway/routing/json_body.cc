#include "gateway/routing/json_body.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/json_syntax.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace berth::gateway::routing {
namespace {

using ::berth::common::JsonMember;
using ::berth::common::JsonValue;
using ::berth::common::ParseJson;
using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using Kind = JsonValue::Kind;

// How many messages deep a refused value is looked for; deeper, the field at this depth is
// named. Berth's request messages nest far less.
constexpr int kMaxLocateDepth = 8;
// How much of a text an error message shows.
constexpr size_t kMaxShown = 64;

// `text` cut to kMaxShown bytes (at a UTF-8 boundary), with "..." when cut.
std::string Shown(absl::string_view text) {
  if (text.size() <= kMaxShown) return std::string(text);
  size_t end = kMaxShown;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return absl::StrCat(text.substr(0, end), "...");
}

// `text` in quotes for an error message, cut to a readable length.
std::string Quoted(absl::string_view text) { return absl::StrCat("\"", Shown(text), "\""); }

// A JSON value for an error message: on one line, cut to a readable length.
std::string ShownJson(absl::string_view json) {
  return Shown(absl::StrReplaceAll(json, {{"\r", " "}, {"\n", " "}, {"\t", " "}}));
}

std::string JoinPath(absl::string_view path, absl::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

// The field a JSON member's key names, by proto name or JSON name, as protobuf's parser finds
// it; nullptr when none.
const FieldDescriptor* FindField(const Descriptor& type, absl::string_view key) {
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor* field = type.field(i);
    if (field->name() == key || field->json_name() == key) return field;
  }
  return nullptr;
}

// Whether a JSON object given for `field` holds that message's fields, so that its members can
// be looked at one by one: not so for a scalar or enum field, nor for the well-known types whose
// JSON objects hold arbitrary members.
bool HoldsFields(const FieldDescriptor& field) {
  if (field.cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return false;
  const std::string& name = field.message_type()->full_name();
  return name != "google.protobuf.Struct" && name != "google.protobuf.Value" &&
         name != "google.protobuf.ListValue" && name != "google.protobuf.Any";
}

// The type of one value of `field` (an element, for a repeated field), for error messages.
std::string ValueTypeName(const FieldDescriptor& field) {
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return field.message_type()->full_name();
    case FieldDescriptor::CPPTYPE_ENUM:
      return field.enum_type()->full_name();
    default:
      return absl::StrCat("TYPE_", absl::AsciiStrToUpper(FieldDescriptor::TypeName(field.type())));
  }
}

std::string FieldTypeName(const FieldDescriptor& field) {
  if (!field.is_map()) return ValueTypeName(field);
  return absl::StrCat("map<", ValueTypeName(*field.message_type()->map_key()), ", ",
                      ValueTypeName(*field.message_type()->map_value()), ">");
}

// The first member of `object` (a message of `type` at `path`), in order, that names no field,
// as a path; members of members that hold fields are looked at too.
std::optional<std::string> FindUnknownField(const JsonValue& object, const Descriptor& type,
                                            const std::string& path) {
  for (const JsonMember& member : object.members) {
    const FieldDescriptor* field = FindField(type, member.key);
    if (field == nullptr) return JoinPath(path, member.key);
    const std::string field_path = JoinPath(path, field->name());
    std::optional<std::string> unknown;
    if (field->is_map()) {
      const FieldDescriptor& value_field = *field->message_type()->map_value();
      if (!HoldsFields(value_field) || member.value.kind != Kind::kObject) continue;
      for (const JsonMember& entry : member.value.members) {
        if (entry.value.kind != Kind::kObject) continue;
        unknown = FindUnknownField(entry.value, *value_field.message_type(),
                                   absl::StrCat(field_path, "[", entry.key, "]"));
        if (unknown) return unknown;
      }
    } else if (HoldsFields(*field)) {
      if (member.value.kind == Kind::kObject) {
        unknown = FindUnknownField(member.value, *field->message_type(), field_path);
      } else if (member.value.kind == Kind::kArray) {
        for (size_t i = 0; i < member.value.elements.size() && !unknown; ++i) {
          const JsonValue& element = member.value.elements[i];
          if (element.kind != Kind::kObject) continue;
          unknown = FindUnknownField(element, *field->message_type(),
                                     absl::StrCat(field_path, "[", i, "]"));
        }
      }
      if (unknown) return unknown;
    }
  }
  return std::nullopt;
}

// A value the parser refuses, where it is and what it should have been.
struct Culprit {
  std::string path;
  const JsonValue* value;
  std::string type;
};

// Finds which value of a body the parser refuses by parsing bodies that hold one part of it:
// each value is tried inside what encloses it in the body (`prefix` and `suffix`), so the parser
// sees it where it was.
class CulpritFinder {
 public:
  CulpritFinder(const Message& prototype, const JsonObjectParser& parse)
      : prototype_(prototype), parse_(parse) {}

  // The first member of `object` (a message of `type` at `path`) that the parser refuses on its
  // own, narrowed to the innermost value refused; nullopt when each member alone is accepted.
  std::optional<Culprit> InObject(const JsonValue& object, const Descriptor& type,
                                  const std::string& path, const std::string& prefix,
                                  const std::string& suffix, int depth) {
    for (const JsonMember& member : object.members) {
      if (!Refused(prefix, absl::StrCat("{", member.key_text, ":", member.value.text, "}"),
                   suffix)) {
        continue;
      }
      const FieldDescriptor* field = FindField(type, member.key);
      // (Unknown fields are found before any value is parsed: no type to name.)
      if (field == nullptr) return Culprit{JoinPath(path, member.key), &member.value, ""};
      return InField(*field, member.value, JoinPath(path, field->name()),
                     absl::StrCat(prefix, "{", member.key_text, ":"), absl::StrCat("}", suffix),
                     depth);
    }
    return std::nullopt;
  }

 private:
  // `value`, refused as the value of `field` at `path`, or the innermost part of it refused.
  Culprit InField(const FieldDescriptor& field, const JsonValue& value, const std::string& path,
                  const std::string& prefix, const std::string& suffix, int depth) {
    const Culprit whole{path, &value, FieldTypeName(field)};
    if (depth >= kMaxLocateDepth) return whole;
    if (field.is_map() && value.kind == Kind::kObject) {
      const FieldDescriptor& value_field = *field.message_type()->map_value();
      for (const JsonMember& entry : value.members) {
        if (!Refused(prefix, absl::StrCat("{", entry.key_text, ":", entry.value.text, "}"),
                     suffix)) {
          continue;
        }
        const std::string entry_path = absl::StrCat(path, "[", entry.key, "]");
        if (HoldsFields(value_field) && entry.value.kind == Kind::kObject) {
          std::optional<Culprit> inner = InObject(
              entry.value, *value_field.message_type(), entry_path,
              absl::StrCat(prefix, "{", entry.key_text, ":"), absl::StrCat("}", suffix), depth + 1);
          if (inner) return *inner;
        }
        return Culprit{entry_path, &entry.value, ValueTypeName(value_field)};
      }
      return whole;
    }
    if (!field.is_map() && field.is_repeated() && value.kind == Kind::kArray) {
      for (size_t i = 0; i < value.elements.size(); ++i) {
        const JsonValue& element = value.elements[i];
        if (!Refused(prefix, absl::StrCat("[", element.text, "]"), suffix)) continue;
        const std::string element_path = absl::StrCat(path, "[", i, "]");
        if (HoldsFields(field) && element.kind == Kind::kObject) {
          std::optional<Culprit> inner =
              InObject(element, *field.message_type(), element_path, absl::StrCat(prefix, "["),
                       absl::StrCat("]", suffix), depth + 1);
          if (inner) return *inner;
        }
        return Culprit{element_path, &element, ValueTypeName(field)};
      }
      return whole;
    }
    if (HoldsFields(field) && value.kind == Kind::kObject) {
      std::optional<Culprit> inner =
          InObject(value, *field.message_type(), path, prefix, suffix, depth + 1);
      if (inner) return *inner;
    }
    return whole;
  }

  // Whether the parser refuses the body prefix + part + suffix.
  bool Refused(absl::string_view prefix, absl::string_view part, absl::string_view suffix) {
    std::unique_ptr<Message> message(prototype_.New());
    return !parse_(absl::StrCat(prefix, part, suffix), *message).ok();
  }

  const Message& prototype_;
  const JsonObjectParser& parse_;
};

absl::Status ParseWithProtobuf(absl::string_view json, Message& message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::string_view(status.message().data(), status.message().size()));
}

}  // namespace

absl::Status MergeJsonObject(absl::string_view body, Message& message) {
  return MergeJsonObject(body, message, ParseWithProtobuf);
}

absl::Status MergeJsonObject(absl::string_view body, Message& message,
                             const JsonObjectParser& parse) {
  absl::StatusOr<JsonValue> json = ParseJson(body);
  if (!json.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON body at ", json.status().message()));
  }
  if (json->kind != Kind::kObject) {
    return absl::InvalidArgumentError("the JSON body must be an object");
  }
  const Descriptor& type = *message.GetDescriptor();
  if (std::optional<std::string> unknown = FindUnknownField(*json, type, "")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown field ", Quoted(*unknown), " in the JSON body"));
  }
  const absl::Status parsed = parse(body, message);
  if (parsed.ok()) return absl::OkStatus();
  const std::optional<Culprit> culprit =
      CulpritFinder(message, parse).InObject(*json, type, "", "", "", 0);
  if (!culprit) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON body: ", absl::StrReplaceAll(parsed.message(), {{"\n", " "}})));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("JSON body field ", Quoted(culprit->path), ": invalid value ",
                   ShownJson(culprit->value->text),
                   culprit->type.empty() ? "" : absl::StrCat(" for type ", culprit->type)));
}

}  // namespace berth::gateway::routing
