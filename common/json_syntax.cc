#include "common/json_syntax.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace berth::common {
namespace {

// Appends code point `c` (at most U+10FFFF, not a surrogate) as UTF-8.
void AppendUtf8(int c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// A recursive-descent recogniser over the bytes of one JSON text. Each Parse* method either
// consumes its production and returns true, or records the first error and returns false.
// Given a JsonValue to fill, the Parse* methods of values also build the tree; given none
// (nullptr), they only check.
class JsonChecker {
 public:
  explicit JsonChecker(absl::string_view text) : text_(text) {}

  absl::Status Check(JsonValue* tree = nullptr) {
    SkipWhitespace();
    if (!ParseValue(0, tree)) return error_;
    SkipWhitespace();
    if (pos_ != text_.size()) {
      Fail("unexpected data after the JSON value");
      return error_;
    }
    return absl::OkStatus();
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  // Consumes `c` when it is next.
  bool Consume(char c) {
    if (AtEnd() || Peek() != c) return false;
    ++pos_;
    return true;
  }

  // Records an error at the current position; always returns false.
  bool Fail(absl::string_view what) {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') ++line, line_start = i + 1;
    }
    error_ = absl::InvalidArgumentError(
        absl::StrCat("line ", line, ", column ", pos_ - line_start + 1, ": ", what));
    return false;
  }

  void SkipWhitespace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  // Parses a value into `out` (when not null): its kind, its text and what it holds.
  bool ParseValue(int depth, JsonValue* out) {
    const size_t start = pos_;
    if (!ParseValueOf(depth, out)) return false;
    if (out != nullptr) out->text = text_.substr(start, pos_ - start);
    return true;
  }

  bool ParseValueOf(int depth, JsonValue* out) {
    using Kind = JsonValue::Kind;
    if (AtEnd()) return Fail("unexpected end of input, expected a value");
    const auto kind = [out](Kind of) {
      if (out != nullptr) out->kind = of;
    };
    switch (Peek()) {
      case '{':
        kind(Kind::kObject);
        return ParseObject(depth + 1, out);
      case '[':
        kind(Kind::kArray);
        return ParseArray(depth + 1, out);
      case '"':
        kind(Kind::kString);
        return ParseString(nullptr);
      case 't':
        kind(Kind::kBool);
        return ParseLiteral("true");
      case 'f':
        kind(Kind::kBool);
        return ParseLiteral("false");
      case 'n':
        kind(Kind::kNull);
        return ParseLiteral("null");
      default:
        if (Peek() == '-' || absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) {
          kind(Kind::kNumber);
          return ParseNumber();
        }
        return Fail(absl::StrCat("unexpected ", Describe(), ", expected a value"));
    }
  }

  bool ParseObject(int depth, JsonValue* out) {
    if (depth > kMaxJsonDepth) return Fail("nested too deeply");
    ++pos_;  // '{'
    SkipWhitespace();
    if (Consume('}')) return true;
    while (true) {
      if (AtEnd() || Peek() != '"') {
        return Fail(absl::StrCat("unexpected ", Describe(), ", expected a string key"));
      }
      JsonMember* member = nullptr;
      if (out != nullptr) member = &out->members.emplace_back();
      const size_t key_start = pos_;
      if (!ParseString(member != nullptr ? &member->key : nullptr)) return false;
      if (member != nullptr) member->key_text = text_.substr(key_start, pos_ - key_start);
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') {
        return Fail(absl::StrCat("unexpected ", Describe(), ", expected ':'"));
      }
      ++pos_;
      SkipWhitespace();
      if (!ParseValue(depth, member != nullptr ? &member->value : nullptr)) return false;
      SkipWhitespace();
      if (!AtEnd() && Peek() == ',') {
        ++pos_;
        SkipWhitespace();
        continue;
      }
      if (Consume('}')) return true;
      return Fail(absl::StrCat("unexpected ", Describe(), ", expected ',' or '}'"));
    }
  }

  bool ParseArray(int depth, JsonValue* out) {
    if (depth > kMaxJsonDepth) return Fail("nested too deeply");
    ++pos_;  // '['
    SkipWhitespace();
    if (Consume(']')) return true;
    while (true) {
      if (!ParseValue(depth, out != nullptr ? &out->elements.emplace_back() : nullptr)) {
        return false;
      }
      SkipWhitespace();
      if (!AtEnd() && Peek() == ',') {
        ++pos_;
        SkipWhitespace();
        continue;
      }
      if (Consume(']')) return true;
      return Fail(absl::StrCat("unexpected ", Describe(), ", expected ',' or ']'"));
    }
  }

  bool ParseLiteral(absl::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) {
      return Fail(absl::StrCat("unexpected ", Describe(), ", expected a value"));
    }
    pos_ += literal.size();
    return true;
  }

  bool ParseDigits() {
    if (AtEnd() || !absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) {
      return Fail(absl::StrCat("unexpected ", Describe(), " in a number, expected a digit"));
    }
    while (!AtEnd() && absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++pos_;
    return true;
  }

  bool ParseNumber() {
    if (Peek() == '-') ++pos_;
    if (!AtEnd() && Peek() == '0') {
      ++pos_;
      if (!AtEnd() && absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) {
        return Fail("a number must not have a leading zero");
      }
    } else if (!ParseDigits()) {
      return false;
    }
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      if (!ParseDigits()) return false;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (!ParseDigits()) return false;
    }
    return true;
  }

  // Reads the 4 hex digits of a \u escape at pos_ into `unit`.
  bool ParseHex4(int* unit) {
    *unit = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (AtEnd() || !absl::ascii_isxdigit(static_cast<unsigned char>(Peek()))) {
        return Fail("invalid \\u escape, expected 4 hex digits");
      }
      const char c = absl::ascii_tolower(static_cast<unsigned char>(Peek()));
      *unit = *unit * 16 +
              (absl::ascii_isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10);
    }
    return true;
  }

  // Parses a string literal; given `decoded`, stores its text there with the escapes decoded.
  bool ParseString(std::string* decoded) {
    ++pos_;  // '"'
    while (true) {
      if (AtEnd()) return Fail("unexpected end of input in a string");
      const unsigned char c = static_cast<unsigned char>(Peek());
      if (Consume('"')) return true;
      if (c < 0x20) return Fail("unescaped control character in a string");
      if (c >= 0x80) {
        const int length = Utf8SequenceLength(text_.substr(pos_));
        if (length == 0) return Fail("invalid UTF-8 in a string");
        if (decoded != nullptr) decoded->append(text_.data() + pos_, length);
        pos_ += length;
        continue;
      }
      if (c != '\\') {
        if (decoded != nullptr) decoded->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (AtEnd()) return Fail("unexpected end of input in a string");
      const char escape = Peek();
      if (escape == 'u') {
        const size_t escape_start = pos_ - 1;
        ++pos_;
        int unit;
        if (!ParseHex4(&unit)) return false;
        if (unit >= 0xDC00 && unit <= 0xDFFF) {
          pos_ = escape_start;
          return Fail("unpaired low surrogate escape");
        }
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          int low = -1;
          if (text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            if (!ParseHex4(&low)) return false;
          }
          if (low < 0xDC00 || low > 0xDFFF) {
            pos_ = escape_start;
            return Fail("unpaired high surrogate escape");
          }
          unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        if (decoded != nullptr) AppendUtf8(unit, decoded);
        continue;
      }
      constexpr absl::string_view kEscapes = "\"\\/bfnrt";
      constexpr absl::string_view kEscaped = "\"\\/\b\f\n\r\t";
      const size_t which = kEscapes.find(escape);
      if (which == absl::string_view::npos) {
        --pos_;
        return Fail("invalid escape in a string");
      }
      if (decoded != nullptr) decoded->push_back(kEscaped[which]);
      ++pos_;
    }
  }

  // What is at the current position, for messages.
  std::string Describe() const {
    if (AtEnd()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(Peek());
    if (c >= 0x21 && c < 0x7F) return absl::StrCat("'", std::string(1, Peek()), "'");
    return absl::StrCat("byte 0x", absl::Hex(c, absl::kZeroPad2));
  }

  absl::string_view text_;
  size_t pos_ = 0;
  absl::Status error_;
};

}  // namespace

absl::Status CheckJsonSyntax(absl::string_view text) { return JsonChecker(text).Check(); }

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) {
  JsonValue tree;
  if (absl::Status status = JsonChecker(text).Check(&tree); !status.ok()) return status;
  return tree;
}

}  // namespace berth::common
