#include "tests/gateway_test_host.h"

#include <arpa/inet.h>
#include <jwt.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/testing/read_file.h"
#include "google/protobuf/struct.pb.h"
#include "testing_support/jwt_signer.h"

namespace berth::testing {
namespace {

namespace v1 = ::berth::box::v1;

std::string Tail(const std::string& text, size_t max_lines) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() <= max_lines) return text;
  return absl::StrJoin(lines.begin() + static_cast<std::ptrdiff_t>(lines.size() - max_lines),
                       lines.end(), "\n");
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

// The absolute path of `program` on $PATH; `program` itself when not found.
std::string FindProgram(const std::string& program) {
  const char* path = getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return program;
}

const std::string& CurlBinary() {
  static const std::string* const curl = new std::string(FindProgram("curl"));
  return *curl;
}

std::string Pem(EVP_PKEY* key, bool is_private) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (is_private) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int): OpenSSL's type.
  std::string text(data, static_cast<size_t>(length));
  BIO_free(bio);
  return text;
}

KeyPair Pair(EVP_PKEY* key) {
  KeyPair pair;
  if (key == nullptr) return pair;
  pair.private_pem = Pem(key, true);
  pair.public_pem = Pem(key, false);
  EVP_PKEY_free(key);
  return pair;
}

// Parses the header block of the final response in a `curl -D` file.
void ParseHeaders(const std::string& text, HttpResult* result) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (std::string& line : lines) {
    absl::StripTrailingAsciiWhitespace(&line);
    if (absl::StartsWith(line, "HTTP/")) {
      result->status_line = line;
      result->headers.clear();
      continue;
    }
    const size_t colon = line.find(':');
    if (line.empty() || colon == std::string::npos) continue;
    result->headers.emplace_back(
        absl::AsciiStrToLower(line.substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1))));
  }
}

constexpr char kResultMarker[] = "@@RESULT ";
constexpr char kCertsEnd[] = "@@CERTS_END";

}  // namespace

// ---------------------------------------------------------------------------------------------
// JWTs

KeyPair GenerateRsaKey(int bits) {
  return Pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
}

KeyPair GenerateEcKey() { return Pair(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

std::string SignJwt(JwtAlg alg, const std::string& key, const std::string& claims_json) {
  jwt_alg_t jwt_alg = JWT_ALG_NONE;
  switch (alg) {
    case JwtAlg::kRS256:
      jwt_alg = JWT_ALG_RS256;
      break;
    case JwtAlg::kES256:
      jwt_alg = JWT_ALG_ES256;
      break;
    case JwtAlg::kHS256:
      jwt_alg = JWT_ALG_HS256;
      break;
    case JwtAlg::kNone:
      jwt_alg = JWT_ALG_NONE;
      break;
  }
  return SignWithLibjwt(jwt_alg, alg == JwtAlg::kNone ? "" : key, claims_json);
}

std::string JwtClaims::ToJson() const {
  std::vector<std::string> fields;
  if (!sub.empty()) fields.push_back(absl::StrCat("\"sub\":\"", sub, "\""));
  if (!scope.empty()) fields.push_back(absl::StrCat("\"scope\":\"", scope, "\""));
  if (!iss.empty()) fields.push_back(absl::StrCat("\"iss\":\"", iss, "\""));
  if (!aud_json.empty()) fields.push_back(absl::StrCat("\"aud\":", aud_json));
  if (exp_in.has_value()) {
    fields.push_back(absl::StrCat("\"exp\":", absl::ToUnixSeconds(absl::Now() + *exp_in)));
  }
  if (nbf_in.has_value()) {
    fields.push_back(absl::StrCat("\"nbf\":", absl::ToUnixSeconds(absl::Now() + *nbf_in)));
  }
  fields.push_back(absl::StrCat("\"iat\":", absl::ToUnixSeconds(absl::Now())));
  return absl::StrCat("{", absl::StrJoin(fields, ","), "}");
}

JwtClaims UserClaims(const std::string& sub) {
  JwtClaims claims;
  claims.sub = sub;
  return claims;
}

JwtClaims BackendClaims() {
  JwtClaims claims;
  claims.sub = "webserver";
  claims.scope = "backend";
  return claims;
}

const TestKeys& TestKeys::Get() {
  static const TestKeys keys;  // its temp dir is removed at exit
  return keys;
}

TestKeys::TestKeys()
    : rsa_(GenerateRsaKey()), other_rsa_(GenerateRsaKey()), ec_(GenerateEcKey()) {
  rsa_public_file_ = dir_.File("rsa.pub.pem");
  ec_public_file_ = dir_.File("ec.pub.pem");
  secret_file_ = dir_.File("hs256.secret");
  WriteFile(rsa_public_file_, rsa_.public_pem);
  WriteFile(ec_public_file_, ec_.public_pem);
  WriteFile(secret_file_, std::string(kJwtSecret) + "\n");
}

bool TestKeys::ok() const {
  return !rsa_.public_pem.empty() && !other_rsa_.public_pem.empty() && !ec_.public_pem.empty() &&
         !ReadFileOrEmpty(rsa_public_file_).empty() && !ReadFileOrEmpty(secret_file_).empty();
}

std::string TestKeys::Rs256(const JwtClaims& claims) const {
  return SignJwt(JwtAlg::kRS256, rsa_.private_pem, claims.ToJson());
}
std::string TestKeys::Es256(const JwtClaims& claims) const {
  return SignJwt(JwtAlg::kES256, ec_.private_pem, claims.ToJson());
}
std::string TestKeys::Hs256(const JwtClaims& claims) const {
  return SignJwt(JwtAlg::kHS256, kJwtSecret, claims.ToJson());
}
std::string TestKeys::AuthHeader(const std::string& token) {
  return absl::StrCat("Authorization: Bearer ", token);
}

// ---------------------------------------------------------------------------------------------
// curl

HttpCall Get(const std::string& path, const std::string& token) {
  HttpCall call;
  call.path = path;
  if (!token.empty()) call.headers.push_back(TestKeys::AuthHeader(token));
  return call;
}

HttpCall Delete(const std::string& path, const std::string& token) {
  HttpCall call = Get(path, token);
  call.method = "DELETE";
  return call;
}

HttpCall Post(const std::string& path, const std::string& body, const std::string& token) {
  HttpCall call = Get(path, token);
  call.method = "POST";
  call.body = body;
  return call;
}

std::string HttpResult::Header(absl::string_view name) const {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [key, value] : headers) {
    if (key == lower) return value;
  }
  return "";
}

bool HttpResult::HasHeader(absl::string_view name) const {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [key, value] : headers) {
    if (key == lower) return true;
  }
  return false;
}

std::string HttpResult::Describe() const {
  std::string text = absl::StrCat("curl exit ", curl_exit, ", HTTP ", status, " in ", seconds,
                                  " s (", num_connects, " new connection(s))\n");
  if (!status_line.empty()) absl::StrAppend(&text, "  ", status_line, "\n");
  for (const auto& [key, value] : headers) absl::StrAppend(&text, "  ", key, ": ", value, "\n");
  absl::StrAppend(&text, "  body: ", body.size() > 2000 ? body.substr(0, 2000) + "..." : body,
                  "\n");
  if (!curl_stderr.empty()) absl::StrAppend(&text, "  curl stderr: ", curl_stderr, "\n");
  return text;
}

absl::StatusOr<std::vector<HttpResult>> CurlSequence(const std::string& base_url,
                                                     const std::vector<HttpCall>& calls,
                                                     const std::vector<std::string>& tls_args,
                                                     absl::Duration max_time) {
  TempDir dir;
  if (dir.path().empty()) return absl::InternalError("no temp dir for curl");
  std::vector<std::string> args;
  for (size_t i = 0; i < calls.size(); ++i) {
    const HttpCall& call = calls[i];
    if (i > 0) args.push_back("--next");
    args.insert(args.end(), {"-sS", "--path-as-is", "--max-time",
                             absl::StrCat(absl::ToInt64Seconds(max_time)), "--connect-timeout",
                             "10"});
    args.insert(args.end(), tls_args.begin(), tls_args.end());
    args.insert(args.end(), call.curl_args.begin(), call.curl_args.end());
    args.insert(args.end(), {"-X", call.method});
    for (const std::string& header : call.headers) args.insert(args.end(), {"-H", header});
    if (call.body.has_value()) {
      const std::string body_file = dir.File(absl::StrCat("request-", i));
      if (!WriteFile(body_file, *call.body)) {
        return absl::InternalError(absl::StrCat("cannot write ", body_file));
      }
      args.insert(args.end(), {"--data-binary", absl::StrCat("@", body_file)});
      args.insert(args.end(), {"-H", absl::StrCat("Content-Type:", call.content_type.empty()
                                                                        ? ""
                                                                        : " " + call.content_type)});
    }
    std::string write_out =
        absl::StrCat("\n", kResultMarker, "%{http_code} %{time_total} %{num_connects} %{exitcode}\n");
    if (call.want_certs) absl::StrAppend(&write_out, "%{certs}", kCertsEnd, "\n");
    args.insert(args.end(), {"-D", dir.File(absl::StrCat("headers-", i)), "-o",
                             dir.File(absl::StrCat("body-", i)), "-w", write_out,
                             base_url + call.path});
  }
  DaemonProcess::Options options;
  options.binary = CurlBinary();
  options.args = {"--stderr", dir.File("stderr")};
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.log_path = dir.File("stdout");
  absl::StatusOr<std::unique_ptr<DaemonProcess>> curl = DaemonProcess::Start(options);
  if (!curl.ok()) return curl.status();
  absl::StatusOr<int> exit_code =
      (*curl)->Wait(max_time * static_cast<double>(calls.size()) + absl::Seconds(20));
  if (!exit_code.ok()) return exit_code.status();
  if (*exit_code == 127) return absl::FailedPreconditionError("cannot run " + CurlBinary());

  const std::string out = ReadFileOrEmpty(dir.File("stdout"));
  const std::string err = ReadFileOrEmpty(dir.File("stderr"));
  std::vector<HttpResult> results;
  size_t pos = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    HttpResult result;
    result.curl_stderr = err;
    const size_t marker = out.find(kResultMarker, pos);
    if (marker == std::string::npos) {
      result.curl_exit = *exit_code;
      results.push_back(std::move(result));
      continue;
    }
    const size_t line_end = out.find('\n', marker);
    std::vector<std::string> fields = absl::StrSplit(
        out.substr(marker + strlen(kResultMarker), line_end - marker - strlen(kResultMarker)), ' ');
    pos = line_end == std::string::npos ? out.size() : line_end + 1;
    if (fields.size() == 4) {
      (void)absl::SimpleAtoi(fields[0], &result.status);
      (void)absl::SimpleAtod(fields[1], &result.seconds);
      (void)absl::SimpleAtoi(fields[2], &result.num_connects);
      (void)absl::SimpleAtoi(fields[3], &result.curl_exit);
    }
    if (calls[i].want_certs) {
      const size_t end = out.find(kCertsEnd, pos);
      if (end != std::string::npos) {
        result.certs = out.substr(pos, end - pos);
        pos = end + strlen(kCertsEnd);
      }
    }
    ParseHeaders(ReadFileOrEmpty(dir.File(absl::StrCat("headers-", i))), &result);
    result.body = ReadFileOrEmpty(dir.File(absl::StrCat("body-", i)));
    results.push_back(std::move(result));
  }
  return results;
}

HttpResult Curl(const std::string& base_url, const HttpCall& call,
                const std::vector<std::string>& tls_args, absl::Duration max_time) {
  absl::StatusOr<std::vector<HttpResult>> results =
      CurlSequence(base_url, {call}, tls_args, max_time);
  if (!results.ok() || results->empty()) {
    HttpResult failed;
    failed.curl_stderr = results.ok() ? "no result" : results.status().ToString();
    return failed;
  }
  return std::move(results->front());
}

absl::StatusOr<std::unique_ptr<CurlStream>> CurlStream::Start(
    const std::string& base_url, const std::string& path, const std::vector<std::string>& headers,
    absl::Duration max_time) {
  std::unique_ptr<CurlStream> stream(new CurlStream());
  if (stream->dir_.path().empty()) return absl::InternalError("no temp dir for curl");
  DaemonProcess::Options options;
  options.binary = CurlBinary();
  options.args = {"-sS", "-N", "-k", "--path-as-is", "--max-time",
                  absl::StrCat(absl::ToInt64Seconds(max_time)), "-D", stream->dir_.File("headers"),
                  "-o", stream->dir_.File("body")};
  for (const std::string& header : headers) options.args.insert(options.args.end(), {"-H", header});
  options.args.push_back(base_url + path);
  options.log_path = stream->dir_.File("stderr");
  absl::StatusOr<std::unique_ptr<DaemonProcess>> curl = DaemonProcess::Start(options);
  if (!curl.ok()) return curl.status();
  stream->curl_ = *std::move(curl);
  return stream;
}

CurlStream::~CurlStream() {
  if (curl_ != nullptr) curl_->Kill();
}

std::string CurlStream::Output() const { return ReadFileOrEmpty(dir_.File("body")); }
std::string CurlStream::Headers() const { return ReadFileOrEmpty(dir_.File("headers")); }

std::vector<std::string> CurlStream::Lines() const {
  const std::string output = Output();
  std::vector<std::string> lines;
  size_t start = 0;
  while (true) {
    const size_t end = output.find('\n', start);
    if (end == std::string::npos) break;
    lines.push_back(output.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::optional<std::string> CurlStream::WaitForLine(const std::vector<std::string>& needles,
                                                   absl::Duration timeout) const {
  std::optional<std::string> found;
  WaitUntil(
      [&] {
        for (const std::string& line : Lines()) {
          bool all = true;
          for (const std::string& needle : needles) all = all && absl::StrContains(line, needle);
          if (all) {
            found = line;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

void CurlStream::HangUp() {
  if (curl_ == nullptr || !curl_->running()) return;
  kill(curl_->pid(), SIGINT);
  if (!curl_->Wait(absl::Seconds(5)).ok()) curl_->Kill();
}

absl::StatusOr<int> CurlStream::Wait(absl::Duration timeout) { return curl_->Wait(timeout); }

CommandResult RunShell(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(absl::StrCat("(", command, ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// ---------------------------------------------------------------------------------------------
// JSON

absl::Status ParseJsonInto(absl::string_view json, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", message->GetTypeName(), " (",
                                                   std::string(status.message()), "): ", json));
  }
  return absl::OkStatus();
}

absl::StatusOr<ErrorBody> ParseErrorBody(absl::string_view json) {
  google::protobuf::Struct object;
  if (absl::Status parsed = ParseJsonInto(json, &object); !parsed.ok()) return parsed;
  ErrorBody error;
  for (const auto& [key, value] : object.fields()) {
    if (key == "code" && value.kind_case() == google::protobuf::Value::kNumberValue) {
      error.code = static_cast<int>(value.number_value());
    } else if (key == "message" && value.kind_case() == google::protobuf::Value::kStringValue) {
      error.message = value.string_value();
    } else {
      error.other_keys.push_back(key);
    }
  }
  if (error.code < 0 || !object.fields().contains("message")) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an error body {\"code\":<number>,\"message\":<string>}: ", json));
  }
  return error;
}

EventLines ParseEventLines(const std::vector<std::string>& lines) {
  EventLines parsed;
  for (const std::string& line : lines) {
    google::protobuf::Struct object;
    if (!ParseJsonInto(line, &object).ok() || object.fields_size() != 1) {
      parsed.malformed.push_back(line);
      continue;
    }
    const auto& [key, value] = *object.fields().begin();
    std::string inner;
    google::protobuf::util::JsonPrintOptions print;
    if (!google::protobuf::util::MessageToJsonString(value, &inner, print).ok()) {
      parsed.malformed.push_back(line);
      continue;
    }
    if (key == "result") {
      v1::BoxEvent event;
      if (ParseJsonInto(inner, &event).ok()) {
        parsed.events.push_back(std::move(event));
        continue;
      }
    } else if (key == "error") {
      absl::StatusOr<ErrorBody> error = ParseErrorBody(inner);
      if (error.ok()) {
        parsed.errors.push_back(*std::move(error));
        continue;
      }
    }
    parsed.malformed.push_back(line);
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// The gateway process

std::string GatewayBinary() { return BERTH_GATEWAY_BINARY; }

uint16_t FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof(addr);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

namespace {

// The binary and first arguments that run the gateway, under `file_limit` when given.
DaemonProcess::Options GatewayCommand(const std::optional<FileLimit>& file_limit) {
  DaemonProcess::Options options;
  options.binary = GatewayBinary();
  if (file_limit.has_value()) {
    options.binary = FindProgram("prlimit");
    options.args = {absl::StrCat("--nofile=", file_limit->soft, ":", file_limit->hard), "--",
                    GatewayBinary()};
  }
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayProcess>> GatewayProcess::Start(
    std::vector<std::string> flags, const std::string& log_path, uint16_t port,
    absl::Duration timeout, std::optional<FileLimit> file_limit) {
  std::unique_ptr<GatewayProcess> gateway(new GatewayProcess());
  gateway->port_ = port != 0 ? port : FreeTcpPort();
  if (gateway->port_ == 0) return absl::UnavailableError("no free TCP port");
  gateway->log_path_ = log_path;
  if (gateway->notify_dir_.path().empty()) return absl::InternalError("no temp dir");
  gateway->notify_ = std::make_unique<NotifySocket>(gateway->notify_dir_.File("notify"));
  if (!gateway->notify_->ok()) return absl::InternalError("cannot bind a notify socket");
  std::ofstream(log_path, std::ios::app) << "==== test: starting gateway on port " << gateway->port_
                                         << "\n";
  DaemonProcess::Options options = GatewayCommand(file_limit);
  options.args.push_back(absl::StrCat("--http_listen=127.0.0.1:", gateway->port_));
  options.args.insert(options.args.end(), flags.begin(), flags.end());
  options.env = {absl::StrCat("NOTIFY_SOCKET=", gateway->notify_->path())};
  options.log_path = log_path;
  absl::StatusOr<std::unique_ptr<DaemonProcess>> process = DaemonProcess::Start(options);
  if (!process.ok()) return process.status();
  gateway->process_ = *std::move(process);
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (gateway->notify_->WaitFor("READY=1", absl::Now() + absl::Milliseconds(100)).has_value()) {
      return gateway;
    }
    absl::StatusOr<int> exited = gateway->process_->Wait(absl::ZeroDuration());
    if (exited.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the gateway exited with code ", *exited, " before READY=1; log:\n",
          Tail(ReadFileOrEmpty(log_path), 30)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no READY=1 from the gateway after ", absl::FormatDuration(timeout), "; log:\n",
          Tail(ReadFileOrEmpty(log_path), 30)));
    }
  }
}

absl::StatusOr<int> GatewayProcess::StartExpectingExit(std::vector<std::string> flags,
                                                       const std::string& log_path,
                                                       absl::Duration timeout,
                                                       std::optional<FileLimit> file_limit) {
  DaemonProcess::Options options = GatewayCommand(file_limit);
  options.args.push_back(absl::StrCat("--http_listen=127.0.0.1:", FreeTcpPort()));
  options.args.insert(options.args.end(), flags.begin(), flags.end());
  options.log_path = log_path;
  absl::StatusOr<std::unique_ptr<DaemonProcess>> process = DaemonProcess::Start(options);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> exit_code = (*process)->Wait(timeout);
  if (!exit_code.ok()) {
    (*process)->Kill();
    return absl::FailedPreconditionError(absl::StrCat(
        "the gateway still runs after ", absl::FormatDuration(timeout), "; log:\n",
        Tail(ReadFileOrEmpty(log_path), 30)));
  }
  return *exit_code;
}

GatewayProcess::~GatewayProcess() {
  if (process_ != nullptr) process_->Kill();
}

std::string GatewayProcess::base_url() const { return absl::StrCat("https://127.0.0.1:", port_); }

std::string GatewayProcess::Log() const { return ReadFileOrEmpty(log_path_); }

std::string GatewayProcess::LoggedFingerprint() const {
  constexpr absl::string_view kPrefix = "TLS certificate SHA-256 fingerprint ";
  std::string fingerprint;
  for (absl::string_view line : absl::StrSplit(Log(), '\n')) {
    const size_t at = line.find(kPrefix);
    if (at == absl::string_view::npos) continue;
    fingerprint = std::string(absl::StripAsciiWhitespace(line.substr(at + kPrefix.size())));
  }
  return fingerprint;
}

absl::StatusOr<int> GatewayProcess::Terminate() { return process_->Terminate(); }

void GatewayProcess::Kill() { process_->Kill(); }

std::vector<std::string> StandardGatewayFlags(const BoxHost& host, const std::string& state_dir) {
  const TestKeys& keys = TestKeys::Get();
  return {absl::StrCat("--boxes=", host.boxes_address()),
          absl::StrCat("--state_dir=", state_dir),
          absl::StrCat("--jwt_public_key=", keys.rsa_public_file()),
          absl::StrCat("--jwt_hs256_secret_file=", keys.secret_file()),
          absl::StrCat("--jwt_issuer=", kJwtIssuer),
          absl::StrCat("--jwt_audience=", kJwtAudience, ",", kJwtOtherAudience),
          "--log_level=debug"};
}

namespace {

absl::StatusOr<std::string> FingerprintFromOpenssl(const CommandResult& result) {
  // "sha256 Fingerprint=AB:CD:..." (the label's case differs between OpenSSL versions).
  const size_t equals = result.output.find("Fingerprint=");
  if (result.exit_code != 0 || equals == std::string::npos) {
    return absl::InternalError(absl::StrCat("openssl: exit ", result.exit_code, ": ",
                                            result.output));
  }
  std::string rest = result.output.substr(equals + strlen("Fingerprint="));
  return std::string(absl::StripAsciiWhitespace(rest.substr(0, rest.find('\n'))));
}

}  // namespace

absl::StatusOr<std::string> ServedFingerprint(uint16_t port, const std::string& sni) {
  return FingerprintFromOpenssl(RunShell(absl::StrCat(
      "openssl s_client -connect 127.0.0.1:", port, sni.empty() ? "" : " -servername " + sni,
      " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256")));
}

absl::StatusOr<std::string> FileFingerprint(const std::string& pem_file) {
  return FingerprintFromOpenssl(
      RunShell(absl::StrCat("openssl x509 -noout -fingerprint -sha256 -in ", pem_file)));
}

namespace {

// A series of the text format: its name and labels ("" and none when `text` is not one).
struct Series {
  std::string name;
  std::map<std::string, std::string> labels;
  bool operator==(const Series& other) const {
    return name == other.name && labels == other.labels;
  }
};

// Parses the series at the start of `*text` ("name" or "name{k=\"v\",...}", label values
// with the format's escapes) and consumes it; nullopt when it is not one.
std::optional<Series> ConsumeSeries(absl::string_view* text) {
  Series series;
  size_t end = 0;
  while (end < text->size() && (*text)[end] != '{' && (*text)[end] != ' ') ++end;
  series.name = std::string(text->substr(0, end));
  text->remove_prefix(end);
  if (series.name.empty()) return std::nullopt;
  if (!absl::ConsumePrefix(text, "{")) return series;
  while (!absl::ConsumePrefix(text, "}")) {
    const size_t equals = text->find("=\"");
    if (equals == absl::string_view::npos) return std::nullopt;
    std::string key(text->substr(0, equals));
    text->remove_prefix(equals + 2);
    std::string value;
    while (!text->empty() && text->front() != '"') {
      if (text->front() == '\\' && text->size() > 1) {
        value.push_back((*text)[1] == 'n' ? '\n' : (*text)[1]);
        text->remove_prefix(2);
      } else {
        value.push_back(text->front());
        text->remove_prefix(1);
      }
    }
    if (!absl::ConsumePrefix(text, "\"")) return std::nullopt;
    absl::ConsumePrefix(text, ",");
    series.labels[key] = value;
  }
  return series;
}

}  // namespace

std::optional<double> MetricValue(const std::string& metrics_text, const std::string& series) {
  absl::string_view wanted_text = series;
  const std::optional<Series> wanted = ConsumeSeries(&wanted_text);
  if (!wanted.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(metrics_text, '\n')) {
    if (absl::StartsWith(line, "#")) continue;
    std::optional<Series> sample = ConsumeSeries(&line);
    if (!sample.has_value() || !(*sample == *wanted)) continue;
    if (line.empty() || line[0] != ' ') continue;
    double value;
    if (absl::SimpleAtod(absl::StripAsciiWhitespace(line), &value)) return value;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// GatewayTest

void GatewayTest::SetUp() {
  BoxTest::SetUp();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(TestKeys::Get().ok()) << "cannot make the test keys";
  ASSERT_FALSE(work_.path().empty());
}

void GatewayTest::TearDown() {
  if (HasFailure()) {
    for (const auto& gateway : gateways_) {
      std::cerr << "---- gateway log (" << gateway->log_path() << "), last lines:\n"
                << Tail(gateway->Log(), 60) << "\n";
    }
  }
  for (auto& gateway : gateways_) gateway->Kill();
  // Every box of this test's own host is this test's, whatever its id (e.g. a generated one of
  // a request the gateway should have refused): track them all for BoxTest's cleanup.
  if (host_ != nullptr && host_->docker_svc() != nullptr && host_->docker_svc()->running()) {
    absl::StatusOr<std::vector<box::v1::Box>> boxes = host_->boxes().List();
    if (boxes.ok()) {
      for (const box::v1::Box& box : *boxes) Track(box.box_id());
    }
  }
  BoxTest::TearDown();
  gateways_.clear();
}

void GatewayTest::StartGateway(const std::vector<std::string>& extra_flags) {
  std::vector<std::string> flags =
      StandardGatewayFlags(host(), absl::StrCat(work_dir(), "/gateway-state"));
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  const std::string log = absl::StrCat(work_dir(), "/gateway-", gateway_count_++, ".log");
  absl::StatusOr<std::unique_ptr<GatewayProcess>> gateway = GatewayProcess::Start(flags, log);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  gateways_.push_back(*std::move(gateway));
}

void GatewayTest::StartAll(BoxHostOptions options, const std::vector<std::string>& extra_flags) {
  ASSERT_NO_FATAL_FAILURE(StartHost(std::move(options)));
  ASSERT_NO_FATAL_FAILURE(StartGateway(extra_flags));
}

std::vector<HttpResult> GatewayTest::Calls(const std::vector<HttpCall>& calls) {
  absl::StatusOr<std::vector<HttpResult>> results = CurlSequence(gateway().base_url(), calls);
  EXPECT_TRUE(results.ok()) << results.status();
  if (!results.ok()) return std::vector<HttpResult>(calls.size());
  return *std::move(results);
}

::testing::AssertionResult GatewayTest::RequestsInFlightReach(double count) {
  std::string metrics;
  if (WaitUntil(
          [&] {
            metrics = Call(Get("/metrics")).body;
            return MetricValue(metrics, "berth_gateway_requests_in_flight").value_or(0) >= count;
          },
          absl::Seconds(5))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "fewer than " << count << " requests in flight:\n"
                                       << metrics;
}

absl::StatusOr<box::v1::CreateResponse> GatewayTest::CreateBox(const std::string& body,
                                                               const std::string& token) {
  // Track the id the body names, so that the cleanup finds the container even when the test
  // fails before reading the answer.
  absl::StatusOr<box::v1::CreateRequest> request = ParseJson<box::v1::CreateRequest>(body);
  if (request.ok() && !request->box_id().empty()) Track(request->box_id());
  HttpResult result = Call(Post("/v1/boxes", body, token));
  if (result.status != 201) {
    return absl::InternalError(absl::StrCat("POST /v1/boxes ", body, ": ", result.Describe()));
  }
  absl::StatusOr<box::v1::CreateResponse> response =
      ParseJson<box::v1::CreateResponse>(result.body);
  if (response.ok()) Track(response->box().box_id());
  return response;
}

void GatewayTest::ExpectError(const HttpResult& result, int status, int grpc_code,
                              const std::string& message_part) {
  EXPECT_EQ(result.status, status) << result.Describe();
  EXPECT_TRUE(absl::StartsWith(result.Header("content-type"), "application/json"))
      << result.Describe();
  absl::StatusOr<ErrorBody> error = ParseErrorBody(result.body);
  ASSERT_TRUE(error.ok()) << error.status() << "\n" << result.Describe();
  EXPECT_EQ(error->code, grpc_code) << result.Describe();
  EXPECT_TRUE(error->other_keys.empty())
      << absl::StrJoin(error->other_keys, ", ") << "\n" << result.Describe();
  if (!message_part.empty()) {
    EXPECT_TRUE(absl::StrContains(error->message, message_part))
        << "message \"" << error->message << "\" lacks \"" << message_part << "\"\n"
        << result.Describe();
  }
}

}  // namespace berth::testing
