#include "bench/fake_dockerd/json_writer.h"

#include "absl/strings/str_cat.h"
#include "gateway/routing/text_codec.h"

namespace berth::fake_dockerd {

using gateway::routing::JsonQuote;

void JsonWriter::Separate() {
  if (need_comma_) out_.push_back(',');
  need_comma_ = true;
}

JsonWriter& JsonWriter::BeginObject() {
  Separate();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  Separate();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Key(absl::string_view name) {
  Separate();
  absl::StrAppend(&out_, JsonQuote(name), ":");
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::String(absl::string_view value) {
  Separate();
  out_.append(JsonQuote(value));
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  Separate();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  Separate();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Separate();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::StringArray(const std::vector<std::string>& values, bool empty_is_null) {
  if (values.empty() && empty_is_null) return Null();
  BeginArray();
  for (const std::string& value : values) String(value);
  return EndArray();
}

JsonWriter& JsonWriter::StringMap(const std::map<std::string, std::string>& values,
                                  bool empty_is_null) {
  if (values.empty() && empty_is_null) return Null();
  BeginObject();
  for (const auto& [key, value] : values) Key(key).String(value);
  return EndObject();
}

}  // namespace berth::fake_dockerd
