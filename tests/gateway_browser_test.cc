// Issue 5, acceptance 5: a real browser. Headless Chromium opens a page served from another
// origin (busybox httpd on plain HTTP) whose script calls PUT /json_transport on the gateway
// with fetch, an Authorization header and a JSON body: the CORS preflight and the request
// succeed and the page sees the box's ports. Fails, never skips, without Chromium.
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "berth/box/v1/box.pb.h"
#include "common/testing/read_file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing_support/daemon_process.h"
#include "tests/gateway_test_host.h"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kChromium[] = "/usr/bin/chromium";

// The page: the fetch, its outcome written into <pre id="out">. A network error is retried a few
// times, as a real client does: Chromium fails in-flight requests with ERR_NETWORK_CHANGED when
// an interface comes or goes on the host, and every box start adds a veth interface.
constexpr char kPage[] = R"html(<!doctype html>
<html><body><pre id="out">pending</pre><script>
const out = document.getElementById("out");
async function attempt(left) {
  try {
    const r = await fetch("GATEWAY/json_transport", {
      method: "PUT",
      headers: {"Authorization": "Bearer TOKEN", "Content-Type": "application/json"},
      body: JSON.stringify({mandelbox_id: "BOX", json_data: JSON.stringify({browser: true})})
    });
    out.textContent = "status " + r.status + " " + JSON.stringify(await r.json());
  } catch (e) {
    if (left > 1) { setTimeout(() => attempt(left - 1), 500); return; }
    out.textContent = "error " + e;
  }
}
attempt(5);
</script></body></html>
)html";

TEST(GatewayBrowserPrerequisites, ChromiumIsInstalled) {
  EXPECT_EQ(access(kChromium, X_OK), 0)
      << kChromium << " is missing: scripts/install-deps.sh installs Debian's chromium";
}

class GatewayBrowserTest : public GatewayTest {};

TEST_F(GatewayBrowserTest, PageFromAnotherOriginCallsJsonTransport) {
  ASSERT_EQ(access(kChromium, X_OK), 0) << kChromium << " is missing";
  BoxHostOptions options;
  options.profiles["whist-box"] = absl::StrCat(
      TestBoxProfileAs("whist-box"), "\nenv { key: \"BERTH_WAIT_FOR_CONFIG\" value: \"1\" }\n");
  ASSERT_NO_FATAL_FAILURE(StartAll(options));
  const std::string box_id = BoxId("browser");
  Track(box_id);
  ASSERT_TRUE(CreateBox(absl::StrCat(R"({"app":"whist-box","boxId":")", box_id,
                                     R"(","userId":"alice","sessionId":"s-1"})"),
                        BackendToken())
                  .ok());

  TempDir site;
  std::ofstream(site.File("page.html"))
      << absl::StrReplaceAll(kPage, {{"GATEWAY", gateway().base_url()},
                                     {"TOKEN", UserToken("alice")},
                                     {"BOX", box_id}});
  const uint16_t site_port = FreeTcpPort();
  absl::StatusOr<std::unique_ptr<DaemonProcess>> httpd = DaemonProcess::Start(
      {"/bin/busybox",
       {"httpd", "-f", "-p", absl::StrCat("127.0.0.1:", site_port), "-h", site.path()},
       {},
       site.File("httpd.log")});
  ASSERT_TRUE(httpd.ok()) << httpd.status();
  ASSERT_TRUE(WaitUntil([&] { return Curl(absl::StrCat("http://127.0.0.1:", site_port),
                                          Get("/page.html")).status == 200; },
                        absl::Seconds(10)));

  // Root in a container: no sandbox. The gateway's certificate is its own self-signed one.
  absl::StatusOr<std::string> dom = RunCommand(absl::StrCat(
      kChromium, " --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors ",
      "--user-data-dir=", site.File("profile"), " --virtual-time-budget=30000 --dump-dom ",
      "http://127.0.0.1:", site_port, "/page.html 2>", site.File("chromium.log")));
  ASSERT_TRUE(dom.ok()) << dom.status();
  EXPECT_THAT(*dom, HasSubstr("status 200"))
      << "chromium's log:\n" << ReadFileOrEmpty(site.File("chromium.log"));
  EXPECT_THAT(*dom, HasSubstr(R"("port_32262":)"));
  EXPECT_THAT(*dom, HasSubstr(R"("aes_key":")"));

  // The browser asked first (a preflight), then made the request; the box is RUNNING.
  const std::string metrics = Call(Get("/metrics")).body;
  EXPECT_GE(MetricValue(metrics, "berth_gateway_requests_total{route=\"OPTIONS (CORS preflight)\","
                                 "code=\"204\"}")
                .value_or(0),
            1.0)
      << metrics;
  EXPECT_GE(MetricValue(metrics,
                        "berth_gateway_requests_total{route=\"PUT /json_transport\",code=\"200\"}")
                .value_or(0),
            1.0)
      << metrics;
  ASSERT_OK_AND_ASSIGN(box::v1::Box box, host().boxes().Get(box_id));
  EXPECT_EQ(box.state(), box::v1::BOX_STATE_RUNNING);
}

}  // namespace
}  // namespace berth::testing
