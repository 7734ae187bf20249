#include "common/logging.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/utf8.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/sinks/systemd_sink.h"

namespace berth::common {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool IsPrintableAscii(unsigned char byte) { return byte >= 0x20 && byte < 0x7f; }

// Code points that are well-formed but act on how a line is shown or split: the C1 controls
// (U+009B is a terminal's CSI), the line and paragraph separators, and the bidirectional
// controls that reorder what a reader sees.
bool IsControlCodePoint(uint32_t code_point) {
  return (code_point >= 0x80 && code_point <= 0x9f) || code_point == 0x061c ||
         code_point == 0x200e || code_point == 0x200f ||
         (code_point >= 0x2028 && code_point <= 0x202e) ||
         (code_point >= 0x2066 && code_point <= 0x2069);
}

void AppendHexByte(unsigned char byte, std::string* out) {
  out->append("\\x");
  out->push_back(kHex[byte >> 4]);
  out->push_back(kHex[byte & 0xf]);
}

void AppendCodePoint(uint32_t code_point, std::string* out) {
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(code_point >> shift) & 0xf]);
}

bool AllPrintableAscii(absl::string_view text) {
  for (char c : text) {
    if (!IsPrintableAscii(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

class EscapingSink final : public spdlog::sinks::sink {
 public:
  explicit EscapingSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    if (AllPrintableAscii(payload)) {
      inner_->log(msg);
      return;
    }
    const std::string escaped = EscapeLogText(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  const std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

std::string EscapeLogText(absl::string_view text) {
  if (AllPrintableAscii(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (IsPrintableAscii(byte)) {
      out.push_back(static_cast<char>(byte));
      ++i;
      continue;
    }
    if (byte < 0x80) {
      switch (byte) {
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:  // The other C0 controls (ESC among them) and DEL.
          AppendHexByte(byte, &out);
      }
      ++i;
      continue;
    }
    uint32_t code_point = 0;
    const int length = DecodeUtf8(text.substr(i), &code_point);
    if (length == 0) {
      AppendHexByte(byte, &out);  // Not UTF-8: one byte at a time.
      ++i;
    } else if (IsControlCodePoint(code_point)) {
      AppendCodePoint(code_point, &out);
      i += length;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

std::shared_ptr<spdlog::sinks::sink> MakeEscapingSink(std::shared_ptr<spdlog::sinks::sink> inner) {
  return std::make_shared<EscapingSink>(std::move(inner));
}

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  std::pair<absl::string_view, absl::string_view> dev_ino = absl::StrSplit(stream, ':');
  uint64_t dev = 0;
  uint64_t ino = 0;
  if (!absl::SimpleAtoi(dev_ino.first, &dev) || !absl::SimpleAtoi(dev_ino.second, &ino)) {
    return false;
  }
  struct stat st {};
  if (fstat(fileno(stderr), &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

absl::Status InitLogging(absl::string_view name, absl::string_view level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str answers `off` for anything it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level: unknown level \"", level, "\"; use trace, debug, info, warn, error, critical or off"));
  }
  // Every sink sits behind the escaping one: the journal's sink sends the raw message text
  // (no pattern), so escaping in a formatter would miss it.
  std::shared_ptr<spdlog::logger> logger;
  if (StderrIsJournal()) {
    logger = std::make_shared<spdlog::logger>(
        std::string(name),
        MakeEscapingSink(std::make_shared<spdlog::sinks::systemd_sink_mt>(std::string(name))));
    logger->set_pattern("%v");
  } else {
    logger = std::make_shared<spdlog::logger>(
        std::string(name), MakeEscapingSink(std::make_shared<spdlog::sinks::stderr_sink_mt>()));
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L %n[%P]: %v");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace berth::common
