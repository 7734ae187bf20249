#include "tests/webdriver_client.h"

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "testing_support/box_host.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

constexpr char kSetsid[] = "/usr/bin/setsid";

// A field of a JSON object Value; null when absent.
google::protobuf::Value Field(const google::protobuf::Value& object, const std::string& name) {
  const auto& fields = object.struct_value().fields();
  auto it = fields.find(name);
  return it == fields.end() ? google::protobuf::Value() : it->second;
}

}  // namespace

std::string JsonString(const std::string& text) {
  google::protobuf::Value value;
  value.set_string_value(text);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) return "\"\"";
  return json;
}

std::vector<std::string> HeadlessChromiumArgs(const std::string& profile_dir,
                                              const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--headless=new",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-default-apps",
                                   absl::StrCat("--user-data-dir=", profile_dir)};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

absl::StatusOr<std::unique_ptr<WebDriver>> WebDriver::Start(
    const std::vector<std::string>& chromium_args, const std::string& log_path) {
  std::unique_ptr<WebDriver> driver(new WebDriver());
  driver->port_ = FreeTcpPort();
  if (driver->port_ == 0) return absl::UnavailableError("no free TCP port");
  // In a process group of its own (setsid(1) execs it as the group's leader), which the
  // browsers it starts join, so that none outlives the driver.
  absl::StatusOr<std::unique_ptr<DaemonProcess>> process = DaemonProcess::Start(
      {kSetsid, {kChromeDriverBinary, absl::StrCat("--port=", driver->port_)}, {}, log_path});
  if (!process.ok()) return process.status();
  driver->driver_ = *std::move(process);
  bool ready = WaitUntil(
      [&] {
        absl::StatusOr<google::protobuf::Value> status = driver->Command("GET", "/status");
        return status.ok() && Field(*status, "ready").bool_value();
      },
      absl::Seconds(20));
  if (!ready) return absl::UnavailableError("chromedriver did not become ready in 20 s");
  std::vector<std::string> args;
  for (const std::string& arg : chromium_args) args.push_back(JsonString(arg));
  absl::StatusOr<google::protobuf::Value> session = driver->Command(
      "POST", "/session",
      absl::StrCat(R"({"capabilities":{"alwaysMatch":{"goog:chromeOptions":{"binary":)",
                   JsonString(kChromiumBinary), R"(,"args":[)", absl::StrJoin(args, ","), "]}}}}"));
  if (!session.ok()) return session.status();
  driver->session_id_ = Field(*session, "sessionId").string_value();
  if (driver->session_id_.empty()) return absl::InternalError("no sessionId in the answer");
  return driver;
}

WebDriver::~WebDriver() {
  // The session's end quits the browser. Chromedriver leaves a browser it still runs when it
  // ends: what is left of its process group is killed.
  if (!session_id_.empty()) (void)SessionCommand("DELETE", "");
  if (driver_ == nullptr) return;
  const pid_t group = driver_->pid();
  if (!driver_->Terminate(absl::Seconds(10)).ok()) driver_->Kill();
  if (group > 0) kill(-group, SIGKILL);
}

absl::StatusOr<google::protobuf::Value> WebDriver::Command(const std::string& method,
                                                           const std::string& path,
                                                           const std::string& body) {
  HttpCall call;
  call.method = method;
  call.path = path;
  if (!body.empty()) call.body = body;
  HttpResult result = Curl(absl::StrCat("http://127.0.0.1:", port_), call, {}, absl::Seconds(60));
  google::protobuf::Value answer;
  if (result.curl_exit != 0 || !ParseJsonInto(result.body, &answer).ok()) {
    return absl::UnavailableError(
        absl::StrCat("WebDriver ", method, " ", call.path, ": ", result.Describe()));
  }
  google::protobuf::Value value = Field(answer, "value");
  if (result.status != 200) {
    return absl::InternalError(absl::StrCat(
        "WebDriver ", method, " ", call.path, ": ", result.status, " ",
        Field(value, "error").string_value(), ": ", Field(value, "message").string_value()));
  }
  return value;
}

absl::StatusOr<google::protobuf::Value> WebDriver::SessionCommand(const std::string& method,
                                                                  const std::string& path,
                                                                  const std::string& body) {
  return Command(method, absl::StrCat("/session/", session_id_, path), body);
}

absl::Status WebDriver::Navigate(const std::string& url) {
  return SessionCommand("POST", "/url", absl::StrCat(R"({"url":)", JsonString(url), "}")).status();
}

absl::Status WebDriver::Refresh() { return SessionCommand("POST", "/refresh", "{}").status(); }

absl::StatusOr<google::protobuf::Value> WebDriver::Execute(const std::string& script,
                                                           const std::string& args_json) {
  return SessionCommand(
      "POST", "/execute/sync",
      absl::StrCat(R"({"script":)", JsonString(script), R"(,"args":)", args_json, "}"));
}

absl::StatusOr<std::string> WebDriver::FindElement(const std::string& css) {
  absl::StatusOr<google::protobuf::Value> element =
      SessionCommand("POST", "/element",
                     absl::StrCat(R"({"using":"css selector","value":)", JsonString(css), "}"));
  if (!element.ok()) return element.status();
  // The W3C element reference's key.
  std::string id = Field(*element, "element-6066-11e4-a52e-4f735466cecf").string_value();
  if (id.empty()) return absl::NotFoundError(absl::StrCat("no element id for ", css));
  return id;
}

absl::Status WebDriver::SendKeys(const std::string& element, const std::string& text) {
  return SessionCommand("POST", absl::StrCat("/element/", element, "/value"),
                        absl::StrCat(R"({"text":)", JsonString(text), "}"))
      .status();
}

absl::Status WebDriver::Click(const std::string& element) {
  return SessionCommand("POST", absl::StrCat("/element/", element, "/click"), "{}").status();
}

absl::Status WebDriver::SetWindowSize(int width, int height) {
  return SessionCommand("POST", "/window/rect",
                        absl::StrCat(R"({"width":)", width, R"(,"height":)", height, "}"))
      .status();
}

absl::StatusOr<std::string> WebDriver::Screenshot() {
  absl::StatusOr<google::protobuf::Value> shot = SessionCommand("GET", "/screenshot");
  if (!shot.ok()) return shot.status();
  std::string png;
  if (!absl::Base64Unescape(shot->string_value(), &png)) {
    return absl::InternalError("the screenshot is not base64");
  }
  return png;
}

}  // namespace berth::testing
