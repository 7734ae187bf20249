#ifndef BERTH_TESTS_WEBDRIVER_CLIENT_H_
#define BERTH_TESTS_WEBDRIVER_CLIENT_H_

// A real browser for the tests: Debian's chromedriver driving headless Chromium, spoken to over
// W3C WebDriver (plain JSON over HTTP on loopback, with the curl CLI).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "testing_support/daemon_process.h"

namespace berth::testing {

inline constexpr char kChromiumBinary[] = "/usr/bin/chromium";
inline constexpr char kChromeDriverBinary[] = "/usr/bin/chromedriver";

// The arguments headless Chromium needs as root in a container, with a fresh profile in
// `profile_dir` and no traffic of its own (updates, sync, QUIC); plus `extra`.
std::vector<std::string> HeadlessChromiumArgs(const std::string& profile_dir,
                                              const std::vector<std::string>& extra = {});

// One chromedriver process and one browser session of it. The destructor ends the session
// (the browser quits), then chromedriver, and kills whatever is left of the browser.
class WebDriver {
 public:
  // Starts chromedriver on a free loopback port (its log in `log_path`) and a session of
  // kChromiumBinary with `chromium_args`.
  static absl::StatusOr<std::unique_ptr<WebDriver>> Start(
      const std::vector<std::string>& chromium_args, const std::string& log_path);
  ~WebDriver();
  WebDriver(const WebDriver&) = delete;
  WebDriver& operator=(const WebDriver&) = delete;

  // Loads `url` in the session's window (returns once the document has loaded).
  absl::Status Navigate(const std::string& url);
  absl::Status Refresh();
  // Runs `script`, the body of a function called with the JSON array `args_json`; its return
  // value.
  absl::StatusOr<google::protobuf::Value> Execute(const std::string& script,
                                                  const std::string& args_json = "[]");
  // The WebDriver id of the first element matching a CSS selector.
  absl::StatusOr<std::string> FindElement(const std::string& css);
  // Types `text` into an element, as keystrokes.
  absl::Status SendKeys(const std::string& element, const std::string& text);
  absl::Status Click(const std::string& element);
  absl::Status SetWindowSize(int width, int height);
  // The viewport as a PNG.
  absl::StatusOr<std::string> Screenshot();

 private:
  WebDriver() = default;
  // Sends `method` `path` with `body` (JSON, or none when empty); the answer's "value", or the
  // WebDriver error it names.
  absl::StatusOr<google::protobuf::Value> Command(const std::string& method,
                                                  const std::string& path,
                                                  const std::string& body = "");
  // Command() on the session's `path` ("/url": /session/<id>/url).
  absl::StatusOr<google::protobuf::Value> SessionCommand(const std::string& method,
                                                         const std::string& path,
                                                         const std::string& body = "");

  uint16_t port_ = 0;
  std::string session_id_;
  std::unique_ptr<DaemonProcess> driver_;
};

// `text` as a JSON string literal.
std::string JsonString(const std::string& text);

}  // namespace berth::testing

#endif  // BERTH_TESTS_WEBDRIVER_CLIENT_H_
