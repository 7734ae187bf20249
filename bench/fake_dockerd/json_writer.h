#ifndef BERTH_BENCH_FAKE_DOCKERD_JSON_WRITER_H_
#define BERTH_BENCH_FAKE_DOCKERD_JSON_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace berth::fake_dockerd {

// Appends JSON text the way Go's encoding/json writes Docker's answers: integers as plain
// digits (never quoted, unlike protobuf's JSON form of int64), strings escaped. The caller
// places the commas: Key() and the container openers write one when needed. No validation:
// it writes what it is told, in order. Not thread-safe.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // A member name inside an object; the value follows with one of the calls below.
  JsonWriter& Key(absl::string_view name);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // ["a","b"]; `null` for an empty list when `empty_is_null` (as Go prints a nil slice).
  JsonWriter& StringArray(const std::vector<std::string>& values, bool empty_is_null = false);
  // {"k":"v",...} in key order; `null` for an empty map when `empty_is_null`.
  JsonWriter& StringMap(const std::map<std::string, std::string>& values,
                        bool empty_is_null = false);

  // The text written so far.
  const std::string& text() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  // Writes a ',' unless this value is the first of its container or follows a Key().
  void Separate();

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace berth::fake_dockerd

#endif  // BERTH_BENCH_FAKE_DOCKERD_JSON_WRITER_H_
