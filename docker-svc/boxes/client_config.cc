#include "docker-svc/boxes/client_config.h"

#include <openssl/evp.h>
#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/json_syntax.h"

namespace berth::docker {
namespace {

// Inflates gzip data; INVALID_ARGUMENT when it is not complete gzip or inflates too far.
absl::StatusOr<std::string> Gunzip(absl::string_view compressed) {
  z_stream stream{};
  // 16 + MAX_WBITS: a gzip header and trailer, not a raw zlib stream.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("cannot start zlib");
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[16384];
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (out.size() > kMaxClientConfigBytes) {
      inflateEnd(&stream);
      return absl::InvalidArgumentError(
          absl::StrCat("json_data inflates beyond ", kMaxClientConfigBytes, " bytes"));
    }
    if (result == Z_BUF_ERROR && stream.avail_in == 0) break;  // truncated input
  }
  const bool complete = result == Z_STREAM_END && stream.avail_in == 0;
  inflateEnd(&stream);
  if (!complete) return absl::InvalidArgumentError("json_data is not complete gzip data");
  return out;
}

// `text` must be strict RFC 8259 JSON: the box reads it as its config.json with whatever parser
// it has (protobuf's own parser lets control characters in strings through, for one).
absl::Status CheckJson(absl::string_view text, absl::string_view what) {
  if (absl::Status syntax = common::CheckJsonSyntax(text); !syntax.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid JSON: ", syntax.message()));
  }
  return absl::OkStatus();
}

bool LooksLikeJson(absl::string_view text) {
  text = absl::StripLeadingAsciiWhitespace(text);
  return !text.empty() && (text[0] == '{' || text[0] == '[');
}

}  // namespace

absl::StatusOr<std::string> DecodeClientConfig(absl::string_view json_data) {
  if (json_data.empty()) return absl::InvalidArgumentError("json_data is empty");
  if (LooksLikeJson(json_data)) {
    if (json_data.size() > kMaxClientConfigBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("json_data is over ", kMaxClientConfigBytes, " bytes"));
    }
    if (absl::Status json = CheckJson(json_data, "json_data"); !json.ok()) return json;
    return std::string(json_data);
  }
  std::string compressed;
  if (!absl::Base64Unescape(json_data, &compressed)) {
    return absl::InvalidArgumentError("json_data is neither JSON nor base64 of gzip");
  }
  absl::StatusOr<std::string> inflated = Gunzip(compressed);
  if (!inflated.ok()) return inflated.status();
  if (absl::Status json = CheckJson(*inflated, "the inflated json_data"); !json.ok()) return json;
  return inflated;
}

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace berth::docker
