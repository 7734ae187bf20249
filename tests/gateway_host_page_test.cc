// Issue 14: the host page (GET /) in a real browser. Headless Chromium, driven through
// chromedriver, opens the page on the real gateway in front of allocator-svc and docker-svc on
// the real dockerd. Without a token the page asks for one and calls nothing else; once given
// one it shows the boxes and the pools' capacity as the API tells them, and a box created
// meanwhile appears without a reload. Screenshots are saved under the build directory. Fails,
// never skips, without Chromium or chromedriver.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "berth/box/v1/box.pb.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/gateway_test_host.h"
#include "tests/webdriver_client.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A user id that is markup: the page must show it as text, never run it.
constexpr char kMarkupUser[] = "<img/src=x/onerror=window.berthInjected=1>";
constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";

// What the page shows, read in the browser.
constexpr char kReadPage[] = R"js(
const q = (selector) => document.querySelector(selector);
const all = (selector) => [...document.querySelectorAll(selector)];
return {
  asks: !q("#login").hidden,
  shows: !q("#host").hidden,
  resources: performance.getEntriesByType("resource").map((e) => e.name),
  navigations: performance.getEntriesByType("navigation").length,
  rows: all("#boxes tbody tr").map((tr) => [...tr.cells].map((td) => td.textContent)),
  pools: all("#pools .pool").map((p) => p.dataset.pool + " " + p.lastChild.textContent),
  events: all("#events li").map((li) => li.textContent),
  status: q("#status").textContent,
  marked: window.berthTestMarker === 1,
  images: document.images.length,
  injected: window.berthInjected === 1,
  tokenKept: sessionStorage.getItem("berth-token") !== null,
  overflows: document.documentElement.scrollWidth > document.documentElement.clientWidth,
};
)js";

struct PageView {
  google::protobuf::Value raw;
  bool Flag(const std::string& name) const { return Get(name).bool_value(); }
  double Number(const std::string& name) const { return Get(name).number_value(); }
  std::vector<std::string> Strings(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& value : Get(name).list_value().values()) out.push_back(value.string_value());
    return out;
  }
  // The box table: box id -> its cells (id, app, state, user, age, ports).
  std::map<std::string, std::vector<std::string>> Rows() const {
    std::map<std::string, std::vector<std::string>> rows;
    for (const auto& row : Get("rows").list_value().values()) {
      std::vector<std::string> cells;
      for (const auto& cell : row.list_value().values()) cells.push_back(cell.string_value());
      if (!cells.empty()) rows[cells[0]] = cells;
    }
    return rows;
  }
  // A cell of the box table; "" when the page shows no such box.
  std::string Cell(const std::string& box_id, size_t column) const {
    const std::map<std::string, std::vector<std::string>> rows = Rows();
    auto it = rows.find(box_id);
    return it == rows.end() || it->second.size() <= column ? "" : it->second[column];
  }
  const google::protobuf::Value& Get(const std::string& name) const {
    static const google::protobuf::Value* const kNull = new google::protobuf::Value();
    auto it = raw.struct_value().fields().find(name);
    return it == raw.struct_value().fields().end() ? *kNull : it->second;
  }
};

// "running" for BOX_STATE_RUNNING, as the page writes it.
std::string StateName(box::v1::BoxState state) {
  return absl::AsciiStrToLower(absl::StripPrefix(box::v1::BoxState_Name(state), "BOX_STATE_"));
}

// The ports cell the page writes for `box`: "32261/tcp→40001 ...".
std::string PortsCell(const box::v1::Box& box) {
  std::vector<std::string> ports;
  for (const auto& port : box.ports()) {
    ports.push_back(absl::StrCat(port.container_port(), "/",
                                 absl::AsciiStrToLower(absl::StripPrefix(
                                     allocator::v1::Protocol_Name(port.protocol()), "PROTOCOL_")),
                                 "\u2192", port.host_port()));
  }
  return absl::StrJoin(ports, " ");
}

// What RowsWithAgesChecked puts in the place of an age the page writes as a box's age does.
constexpr char kAgeChecked[] = "(an age)";

// Whether `text` is an age as the page writes one: "12s", "3m 4s", "2h 5m" or "1d 2h".
bool IsAge(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ' ');
  if (parts.size() > 2) return false;
  for (absl::string_view part : parts) {
    int number;
    if (part.size() < 2 || !absl::SimpleAtoi(part.substr(0, part.size() - 1), &number) ||
        number < 0 || !absl::StrContains("smhd", part.back())) {
      return false;
    }
  }
  return true;
}

// The page's box table with each age cell that IsAge replaced by kAgeChecked.
std::map<std::string, std::vector<std::string>> RowsWithAgesChecked(const PageView& page) {
  std::map<std::string, std::vector<std::string>> rows = page.Rows();
  for (auto& [id, cells] : rows) {
    if (cells.size() > 4 && IsAge(cells[4])) cells[4] = kAgeChecked;
  }
  return rows;
}

// berth_gateway_requests_total summed by route, whatever the order of the labels.
std::map<std::string, double> RequestsByRoute(const std::string& metrics) {
  std::map<std::string, double> requests;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, "berth_gateway_requests_total{")) continue;
    const size_t route = line.find("route=\"");
    const size_t space = line.rfind(' ');
    double value = 0;
    if (route == absl::string_view::npos || space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    const absl::string_view rest = line.substr(route + strlen("route=\""));
    requests[std::string(rest.substr(0, rest.find('"')))] += value;
  }
  requests.erase("GET /metrics");  // the test's own
  return requests;
}

// The base64 SHA-256 of a PEM certificate's public key: what Chromium's
// --ignore-certificate-errors-spki-list trusts.
absl::StatusOr<std::string> SpkiPin(const std::string& cert_pem_file) {
  CommandResult result =
      RunShell(absl::StrCat("openssl x509 -in ", cert_pem_file,
                            " -pubkey -noout | openssl pkey "
                            "-pubin -outform der | openssl dgst -sha256 -binary | base64"));
  std::string pin(absl::StripAsciiWhitespace(result.output));
  if (result.exit_code != 0 || pin.size() != 44) {
    return absl::InternalError(absl::StrCat("no SPKI pin: ", result.output));
  }
  return pin;
}

TEST(GatewayHostPagePrerequisites, ChromiumAndChromeDriverAreInstalled) {
  EXPECT_EQ(access(kChromiumBinary, X_OK), 0)
      << kChromiumBinary << " is missing: scripts/install-deps.sh installs Debian's chromium";
  EXPECT_EQ(access(kChromeDriverBinary, X_OK), 0)
      << kChromeDriverBinary << " is missing: scripts/install-deps.sh installs chromium-driver";
}

class GatewayHostPageTest : public GatewayTest {
 protected:
  // Starts the browser; it trusts the gateway's own certificate, pinned by its public key.
  void StartBrowser() {
    ASSERT_EQ(access(kChromiumBinary, X_OK), 0) << kChromiumBinary << " is missing";
    ASSERT_EQ(access(kChromeDriverBinary, X_OK), 0) << kChromeDriverBinary << " is missing";
    ASSERT_OK_AND_ASSIGN(std::string pin,
                         SpkiPin(absl::StrCat(work_dir(), "/gateway-state/gateway-cert.pem")));
    absl::StatusOr<std::unique_ptr<WebDriver>> driver = WebDriver::Start(
        HeadlessChromiumArgs(absl::StrCat(work_dir(), "/chromium-profile"),
                             {"--window-size=1280,900",
                              absl::StrCat("--ignore-certificate-errors-spki-list=", pin)}),
        absl::StrCat(work_dir(), "/chromedriver.log"));
    ASSERT_TRUE(driver.ok()) << driver.status() << "\nchromedriver's log:\n"
                             << ReadFileOrEmpty(absl::StrCat(work_dir(), "/chromedriver.log"));
    browser_ = *std::move(driver);
  }

  void TearDown() override {
    browser_.reset();
    GatewayTest::TearDown();
  }

  PageView ReadPage() {
    absl::StatusOr<google::protobuf::Value> value = browser_->Execute(kReadPage);
    EXPECT_TRUE(value.ok()) << value.status();
    return PageView{value.ok() ? *value : google::protobuf::Value()};
  }

  // Whether the page shows the boxes and the capacity the API answers now; why not in `why`.
  bool PageMatchesApi(std::string* why) {
    const PageView page = ReadPage();
    absl::StatusOr<box::v1::ListResponse> list =
        ParseJson<box::v1::ListResponse>(Call(Get("/v1/boxes", BackendToken())).body);
    absl::StatusOr<box::v1::HostResponse> host =
        ParseJson<box::v1::HostResponse>(Call(Get("/v1/host", BackendToken())).body);
    if (!list.ok() || !host.ok()) {
      *why = absl::StrCat("the API: ", list.status().ToString(), " ", host.status().ToString());
      return false;
    }
    std::map<std::string, std::vector<std::string>> expected;
    for (const box::v1::Box& box : list->boxes()) {
      expected[box.box_id()] = {box.box_id(),  box.app(),   StateName(box.state()),
                                box.user_id(), kAgeChecked, PortsCell(box)};
    }
    const auto& capacity = host->capacity();
    const std::vector<std::string> pools = {
        absl::StrCat("boxes ", capacity.boxes().used(), " / ", capacity.boxes().total()),
        absl::StrCat("ttys ", capacity.ttys().used(), " / ", capacity.ttys().total()),
        absl::StrCat("tcpPorts ", capacity.tcp_ports().used(), " / ", capacity.tcp_ports().total()),
        absl::StrCat("udpPorts ", capacity.udp_ports().used(), " / ",
                     capacity.udp_ports().total())};
    *why = absl::StrCat("the API's boxes: ", list->ShortDebugString(),
                        "\nthe API's pools: ", absl::StrJoin(pools, ", "),
                        "\nthe page: ", page.raw.ShortDebugString());
    return RowsWithAgesChecked(page) == expected && page.Strings("pools") == pools;
  }

  // Opens the page without a token (a fresh browser has none) and expects that it asks for one
  // and makes no request but its own GET /: none in the page's resource timings, none more in
  // the gateway's request counts.
  void OpenAskingForAToken() {
    const std::map<std::string, double> before = RequestsByRoute(Call(Get("/metrics")).body);
    ASSERT_OK(browser_->Navigate(absl::StrCat(gateway().base_url(), "/")));
    ASSERT_TRUE(WaitUntil([&] { return ReadPage().Flag("asks"); }, absl::Seconds(10)));
    absl::SleepFor(absl::Seconds(2));  // time for any request the page would make
    PageView asking = ReadPage();
    EXPECT_TRUE(asking.Flag("asks"));
    EXPECT_FALSE(asking.Flag("shows"));
    EXPECT_FALSE(asking.Flag("tokenKept"));
    EXPECT_THAT(asking.Strings("resources"), IsEmpty());
    std::map<std::string, double> expected = before;
    expected["GET /"] += 1;
    EXPECT_EQ(RequestsByRoute(Call(Get("/metrics")).body), expected)
        << "the gateway's requests changed by more than GET /";
  }

  // Types `token` into the page's form and sends it, as a user does.
  void TypeToken(const std::string& token) {
    ASSERT_OK_AND_ASSIGN(std::string field, browser_->FindElement("#token"));
    ASSERT_OK(browser_->SendKeys(field, token));
    ASSERT_OK_AND_ASSIGN(std::string submit, browser_->FindElement("#login button"));
    ASSERT_OK(browser_->Click(submit));
  }

  // Saves a screenshot as <build>/tests/screenshots/<name>.png; fails unless it is a PNG.
  void SaveScreenshot(const std::string& name) {
    ASSERT_OK_AND_ASSIGN(std::string png, browser_->Screenshot());
    const std::string dir = absl::StrCat(BERTH_TEST_OUTPUT_DIR, "/screenshots");
    std::filesystem::create_directories(dir);
    const std::string path = absl::StrCat(dir, "/", name, ".png");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << png;
    const std::string saved = ReadFileOrEmpty(path);
    EXPECT_TRUE(absl::StartsWith(saved, absl::string_view(kPngSignature, 8))) << path;
    EXPECT_GT(saved.size(), 1000u) << path;
  }

  std::unique_ptr<WebDriver> browser_;
};

TEST_F(GatewayHostPageTest, AsksForATokenThenShowsTheHostLive) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  const std::string waiting = BoxId("pool");
  const std::string taken = BoxId("taken");
  ASSERT_OK(
      CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", waiting, R"("})"), BackendToken())
          .status());
  ASSERT_OK(CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", taken, R"(","userId":)",
                                   JsonString(kMarkupUser), R"(,"sessionId":"s-1"})"),
                      BackendToken())
                .status());
  ASSERT_NO_FATAL_FAILURE(StartBrowser());

  // Without a token: the page asks for one, and the gateway sees no request but the page's.
  ASSERT_NO_FATAL_FAILURE(OpenAskingForAToken());

  // The token, typed once: the boxes and the capacity the API tells.
  ASSERT_NO_FATAL_FAILURE(TypeToken(BackendToken()));
  std::string why;
  EXPECT_TRUE(WaitUntil([&] { return PageMatchesApi(&why); }, absl::Seconds(15))) << why;
  PageView shown = ReadPage();
  EXPECT_TRUE(shown.Flag("shows"));
  EXPECT_TRUE(shown.Flag("tokenKept"));
  EXPECT_EQ(shown.Cell(taken, 3), kMarkupUser);  // the markup, as text
  EXPECT_EQ(shown.Number("images"), 0);
  EXPECT_FALSE(shown.Flag("injected"));
  EXPECT_EQ(shown.Cell(waiting, 2), "waiting");
  EXPECT_EQ(shown.Cell(taken, 2), "allocated");
  ASSERT_TRUE(WaitUntil([&] { return ReadPage().Get("status").string_value() == "live"; },
                        absl::Seconds(10)));

  // A box created through the API appears, the page not reloaded (its marker survives).
  ASSERT_OK(browser_->Execute("window.berthTestMarker = 1;").status());
  const std::string late = BoxId("late");
  ASSERT_OK(CreateBox(absl::StrCat(R"({"app":"test-box","boxId":")", late, R"("})"), BackendToken())
                .status());
  EXPECT_TRUE(WaitUntil([&] { return ReadPage().Rows().count(late) == 1; }, absl::Seconds(10)))
      << ReadPage().raw.ShortDebugString();
  EXPECT_TRUE(WaitUntil([&] { return PageMatchesApi(&why); }, absl::Seconds(10))) << why;
  PageView live = ReadPage();
  EXPECT_TRUE(live.Flag("marked"));
  EXPECT_EQ(live.Number("navigations"), 1);
  EXPECT_THAT(absl::StrJoin(live.Strings("events"), "\n"), HasSubstr(late));
  ASSERT_NO_FATAL_FAILURE(SaveScreenshot("host-page"));

  // On a phone's screen: nothing wider than the screen (the table scrolls in its box).
  ASSERT_OK(browser_->SetWindowSize(390, 844));
  EXPECT_TRUE(WaitUntil([&] { return !ReadPage().Flag("overflows"); }, absl::Seconds(5)))
      << ReadPage().raw.ShortDebugString();
  ASSERT_NO_FATAL_FAILURE(SaveScreenshot("host-page-phone"));

  // A reload keeps the token (sessionStorage): the host again, without asking.
  ASSERT_OK(browser_->Refresh());
  EXPECT_TRUE(WaitUntil([&] { return PageMatchesApi(&why); }, absl::Seconds(15))) << why;
  EXPECT_FALSE(ReadPage().Flag("asks"));
}

}  // namespace
}  // namespace berth::testing
