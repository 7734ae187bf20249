#ifndef BERTH_TESTS_GATEWAY_TEST_HOST_H_
#define BERTH_TESTS_GATEWAY_TEST_HOST_H_

// The gateway's integration tests: the real gateway binary in front of a real BoxHost
// (allocator-svc + docker-svc against the real dockerd), driven with the real `curl` CLI.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "berth/box/v1/box.pb.h"
#include "common/testing/temp_dir.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "testing_support/daemon_process.h"
#include "testing_support/notify_socket.h"
#include "tests/boxes_test_client.h"

namespace berth::testing {

// ---------------------------------------------------------------------------------------------
// JWTs, minted with libjwt from keys made at test time with OpenSSL.

// What every gateway of these tests requires of a token (unless a test says otherwise).
inline constexpr char kJwtIssuer[] = "berth-web";
inline constexpr char kJwtAudience[] = "berth";
inline constexpr char kJwtOtherAudience[] = "berth-alt";  // also accepted (--jwt_audience=a,b)
// The HS256 secret (>= 32 bytes).
inline constexpr char kJwtSecret[] = "0123456789abcdef0123456789abcdef-gateway-it";

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};
// RSA of `bits` / EC P-256; empty PEMs when OpenSSL fails.
KeyPair GenerateRsaKey(int bits = 2048);
KeyPair GenerateEcKey();

enum class JwtAlg { kRS256, kES256, kHS256, kNone };

// A token with `claims_json` as payload, signed by libjwt (`key`: the private PEM for RS/ES,
// the secret for HS, ignored for none). Empty when libjwt fails.
std::string SignJwt(JwtAlg alg, const std::string& key, const std::string& claims_json);

// The claims of a token; ToJson() renders them (iss/aud/exp left out when empty/unset).
struct JwtClaims {
  std::string sub = "alice";
  std::string scope;  // "backend": the webserver's token
  std::string iss = kJwtIssuer;
  // A JSON value: "\"berth\"" or "[\"x\",\"berth\"]"; empty: no aud.
  std::string aud_json = "\"berth\"";
  // exp = now + exp_in; nullopt: no exp.
  std::optional<absl::Duration> exp_in = absl::Minutes(10);
  // nbf = now + nbf_in; nullopt: no nbf.
  std::optional<absl::Duration> nbf_in;
  std::string ToJson() const;
};
JwtClaims UserClaims(const std::string& sub);
JwtClaims BackendClaims();

// The keys of one test binary, made once (RSA generation takes a moment), and written to files
// the gateway reads.
class TestKeys {
 public:
  static const TestKeys& Get();

  const KeyPair& rsa() const { return rsa_; }
  const KeyPair& other_rsa() const { return other_rsa_; }  // not configured anywhere
  const KeyPair& ec() const { return ec_; }
  const std::string& rsa_public_file() const { return rsa_public_file_; }
  const std::string& ec_public_file() const { return ec_public_file_; }
  const std::string& secret_file() const { return secret_file_; }
  bool ok() const;

  std::string Rs256(const JwtClaims& claims) const;
  std::string Es256(const JwtClaims& claims) const;
  std::string Hs256(const JwtClaims& claims) const;
  // "Authorization: Bearer <token>" for curl's -H.
  static std::string AuthHeader(const std::string& token);

 private:
  TestKeys();
  TempDir dir_;
  KeyPair rsa_, other_rsa_, ec_;
  std::string rsa_public_file_, ec_public_file_, secret_file_;
};

// ---------------------------------------------------------------------------------------------
// HTTP with the curl CLI.

// One request. The path goes after the gateway's base URL verbatim (curl --path-as-is).
struct HttpCall {
  std::string method = "GET";
  std::string path;
  // Extra request headers, "Name: value".
  std::vector<std::string> headers;
  // Sent with --data-binary when set.
  std::optional<std::string> body;
  // The Content-Type sent with a body; "" sends none.
  std::string content_type = "application/json";
  // Extra curl arguments for this transfer (e.g. TLS options).
  std::vector<std::string> curl_args;
  // Ask curl for the server's certificate chain (%{certs}).
  bool want_certs = false;
};

HttpCall Get(const std::string& path, const std::string& token = "");
HttpCall Delete(const std::string& path, const std::string& token = "");
HttpCall Post(const std::string& path, const std::string& body, const std::string& token = "");

// What curl reported of one transfer.
struct HttpResult {
  int curl_exit = -1;   // curl's exit code of this transfer (0: a response arrived)
  int status = 0;       // HTTP status; 0 when none arrived
  std::string status_line;
  // The final response's headers, names lower-cased, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double seconds = 0;   // time_total
  int num_connects = -1;  // new connections this transfer made (0: reused one)
  std::string certs;    // with want_certs
  std::string curl_stderr;

  // The first header named `name` (any case); "" when absent.
  std::string Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
  // One paragraph for failure messages.
  std::string Describe() const;
};

// Runs `calls` in one curl process, in order (--next between them), so that curl reuses its
// connection when the server keeps it open. `base_url` is "https://host:port". Every transfer
// gets -sS, --path-as-is and `tls_args` (default: -k, i.e. the certificate is not verified).
absl::StatusOr<std::vector<HttpResult>> CurlSequence(
    const std::string& base_url, const std::vector<HttpCall>& calls,
    const std::vector<std::string>& tls_args = {"-k"}, absl::Duration max_time = absl::Seconds(90));
// One call; a curl that could not run is reported in the result (curl_exit -1, curl_stderr).
HttpResult Curl(const std::string& base_url, const HttpCall& call,
                const std::vector<std::string>& tls_args = {"-k"},
                absl::Duration max_time = absl::Seconds(90));

// A `curl -N` reading a stream (GET /v1/events) in the background, into a file.
class CurlStream {
 public:
  // Starts curl on `base_url + path` with `headers`; it gives up after `max_time`.
  static absl::StatusOr<std::unique_ptr<CurlStream>> Start(
      const std::string& base_url, const std::string& path, const std::vector<std::string>& headers,
      absl::Duration max_time = absl::Seconds(60));
  ~CurlStream();  // kills curl when it still runs

  // What arrived so far (the body; the response headers separately).
  std::string Output() const;
  std::string Headers() const;
  // The complete lines of the body so far.
  std::vector<std::string> Lines() const;
  // Waits until a complete line contains every one of `needles`; that line, or nullopt.
  std::optional<std::string> WaitForLine(const std::vector<std::string>& needles,
                                         absl::Duration timeout) const;
  // Hangs up like a user pressing Ctrl-C (SIGINT), and reaps curl.
  void HangUp();
  // Waits for curl to end by itself; its exit code.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  bool running() const { return curl_ != nullptr && curl_->running(); }

 private:
  CurlStream() = default;
  TempDir dir_;
  std::unique_ptr<DaemonProcess> curl_;
};

// Runs a shell command; its stdout and stderr together, and its exit status.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunShell(const std::string& command);

// ---------------------------------------------------------------------------------------------
// JSON answers.

// Parses `json` into `message` with protobuf's JSON mapping, refusing unknown fields.
absl::Status ParseJsonInto(absl::string_view json, google::protobuf::Message* message);
template <typename Message>
absl::StatusOr<Message> ParseJson(absl::string_view json) {
  Message message;
  if (absl::Status parsed = ParseJsonInto(json, &message); !parsed.ok()) return parsed;
  return message;
}

// The gateway's error body {"code":<int>,"message":"..."}.
struct ErrorBody {
  int code = -1;
  std::string message;
  // Other keys the body had.
  std::vector<std::string> other_keys;
};
absl::StatusOr<ErrorBody> ParseErrorBody(absl::string_view json);

// A stream body of NDJSON lines: each {"result":{...BoxEvent}} or {"error":{code,message}}.
struct EventLines {
  std::vector<box::v1::BoxEvent> events;
  std::vector<ErrorBody> errors;
  std::vector<std::string> malformed;  // lines that are neither
};
EventLines ParseEventLines(const std::vector<std::string>& lines);

// ---------------------------------------------------------------------------------------------
// The gateway binary as a child process.

// The gateway binary of this build (<build>/gateway/server/gateway).
std::string GatewayBinary();

// A free TCP port on 127.0.0.1 (from the kernel's ephemeral range, so never in a BoxHost's
// allocator range); 0 when none could be had.
uint16_t FreeTcpPort();

// An RLIMIT_NOFILE to start a process with (as systemd starts daemons: soft 1,024).
struct FileLimit {
  uint64_t soft = 1024;
  uint64_t hard = 1024;
};

class GatewayProcess {
 public:
  // Starts the gateway with `flags` and --http_listen=127.0.0.1:<port> (a free port unless
  // `port` is given), NOTIFY_SOCKET set, output appended to `log_path`, and `file_limit` when
  // given (through prlimit(1)); returns once it sent READY=1 (fails when it exits first or
  // does not within `timeout`).
  static absl::StatusOr<std::unique_ptr<GatewayProcess>> Start(
      std::vector<std::string> flags, const std::string& log_path, uint16_t port = 0,
      absl::Duration timeout = absl::Seconds(30),
      std::optional<FileLimit> file_limit = std::nullopt);
  // Starts it expecting it to refuse: its exit code (fails when it serves instead).
  static absl::StatusOr<int> StartExpectingExit(std::vector<std::string> flags,
                                                const std::string& log_path,
                                                absl::Duration timeout = absl::Seconds(20),
                                                std::optional<FileLimit> file_limit = std::nullopt);
  ~GatewayProcess();

  uint16_t port() const { return port_; }
  std::string base_url() const;
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;
  // The fingerprint of the last "TLS certificate SHA-256 fingerprint XX:.." line of the log.
  std::string LoggedFingerprint() const;
  DaemonProcess& process() { return *process_; }
  // The sd_notify messages it sent (READY=1 consumed by Start()).
  NotifySocket& notify() { return *notify_; }

  // SIGTERM; the exit code.
  absl::StatusOr<int> Terminate();
  void Kill();

 private:
  GatewayProcess() = default;
  uint16_t port_ = 0;
  std::string log_path_;
  TempDir notify_dir_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<DaemonProcess> process_;
};

// The flags of a gateway that verifies tokens with TestKeys' RSA public key and HS256 secret
// (only the secret's may carry the backend scope), iss kJwtIssuer, aud kJwtAudience or
// kJwtOtherAudience, in front of `host`'s docker-svc (no --allocator: the gateway knows the
// allocator only through docker-svc), keeping its own certificate in `state_dir`.
std::vector<std::string> StandardGatewayFlags(const BoxHost& host, const std::string& state_dir);

// The SHA-256 fingerprint ("AB:CD:...") of the certificate a TLS server on 127.0.0.1:`port`
// presents (openssl s_client), or of a PEM file (openssl x509).
absl::StatusOr<std::string> ServedFingerprint(uint16_t port, const std::string& sni = "");
absl::StatusOr<std::string> FileFingerprint(const std::string& pem_file);

// A metric's value from Prometheus text: the sample line of `series` ("name" or
// "name{label=\"value\",...}", its labels in any order); nullopt when absent.
std::optional<double> MetricValue(const std::string& metrics_text, const std::string& series);

// ---------------------------------------------------------------------------------------------
// The fixture of the gateway tests: a BoxTest (fails, never skips, without dockerd or the test
// image) plus gateways in front of its host. TearDown prints the gateways' logs when the test
// failed.

class GatewayTest : public BoxTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts a gateway in front of host() with StandardGatewayFlags plus `extra_flags`
  // (later flags win); fails the test when it does not serve (call under
  // ASSERT_NO_FATAL_FAILURE). gateway() is the last one started.
  void StartGateway(const std::vector<std::string>& extra_flags = {});
  // Starts host and gateway (call under ASSERT_NO_FATAL_FAILURE).
  void StartAll(BoxHostOptions options = {}, const std::vector<std::string>& extra_flags = {});
  GatewayProcess& gateway() { return *gateways_.back(); }

  // A directory of this test for gateway state and logs.
  const std::string& work_dir() const { return work_.path(); }

  const TestKeys& keys() const { return TestKeys::Get(); }
  // The webserver's token: HS256, the gateway's own key, the only one that grants the backend
  // scope without --jwt_backend_issuer.
  std::string BackendToken() const { return keys().Hs256(BackendClaims()); }
  std::string UserToken(const std::string& sub) const { return keys().Rs256(UserClaims(sub)); }

  // curl against gateway(); the result is printed on failure by the callers' << Describe().
  HttpResult Call(const HttpCall& call) { return Curl(gateway().base_url(), call); }
  std::vector<HttpResult> Calls(const std::vector<HttpCall>& calls);
  // Waits up to 5 s until gateway() counts `count` requests in flight, the /metrics request
  // that asks included (so 2 means one other); the last metrics text read when it does not.
  ::testing::AssertionResult RequestsInFlightReach(double count);

  // POST /v1/boxes with `body` (a CreateRequest as JSON) and `token`; tracks the box id for the
  // cleanup. The parsed response, or a failure with the HTTP result.
  absl::StatusOr<box::v1::CreateResponse> CreateBox(const std::string& body,
                                                    const std::string& token);
  // Expects a JSON error answer: `status`, Content-Type application/json, the body's code
  // `grpc_code` and its message containing `message_part`.
  void ExpectError(const HttpResult& result, int status, int grpc_code,
                   const std::string& message_part = "");

  std::vector<std::unique_ptr<GatewayProcess>> gateways_;

 private:
  TempDir work_;
  int gateway_count_ = 0;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_GATEWAY_TEST_HOST_H_
