#include "gateway/routing/json_syntax.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/routing/text_codec.h"

namespace berth::gateway::routing {
namespace {

// A recursive-descent recogniser over the bytes of one JSON text. Each Parse* method either
// consumes its production and returns true, or records the first error and returns false.
class JsonChecker {
 public:
  explicit JsonChecker(absl::string_view text) : text_(text) {}

  absl::Status Check() {
    SkipWhitespace();
    if (!ParseValue(0)) return error_;
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

  bool ParseValue(int depth) {
    if (AtEnd()) return Fail("unexpected end of input, expected a value");
    switch (Peek()) {
      case '{':
        return ParseObject(depth + 1);
      case '[':
        return ParseArray(depth + 1);
      case '"':
        return ParseString();
      case 't':
        return ParseLiteral("true");
      case 'f':
        return ParseLiteral("false");
      case 'n':
        return ParseLiteral("null");
      default:
        if (Peek() == '-' || absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) {
          return ParseNumber();
        }
        return Fail(absl::StrCat("unexpected ", Describe(), ", expected a value"));
    }
  }

  bool ParseObject(int depth) {
    if (depth > kMaxJsonDepth) return Fail("nested too deeply");
    ++pos_;  // '{'
    SkipWhitespace();
    if (Consume('}')) return true;
    while (true) {
      if (AtEnd() || Peek() != '"') {
        return Fail(absl::StrCat("unexpected ", Describe(), ", expected a string key"));
      }
      if (!ParseString()) return false;
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') {
        return Fail(absl::StrCat("unexpected ", Describe(), ", expected ':'"));
      }
      ++pos_;
      SkipWhitespace();
      if (!ParseValue(depth)) return false;
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

  bool ParseArray(int depth) {
    if (depth > kMaxJsonDepth) return Fail("nested too deeply");
    ++pos_;  // '['
    SkipWhitespace();
    if (Consume(']')) return true;
    while (true) {
      if (!ParseValue(depth)) return false;
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

  bool ParseString() {
    ++pos_;  // '"'
    while (true) {
      if (AtEnd()) return Fail("unexpected end of input in a string");
      const unsigned char c = static_cast<unsigned char>(Peek());
      if (Consume('"')) return true;
      if (c < 0x20) return Fail("unescaped control character in a string");
      if (c >= 0x80) {
        const int length = Utf8SequenceLength(text_.substr(pos_));
        if (length == 0) return Fail("invalid UTF-8 in a string");
        pos_ += length;
        continue;
      }
      if (c != '\\') {
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
        }
        continue;
      }
      if (absl::string_view("\"\\/bfnrt").find(escape) == absl::string_view::npos) {
        --pos_;
        return Fail("invalid escape in a string");
      }
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

}  // namespace berth::gateway::routing
