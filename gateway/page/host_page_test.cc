#include "gateway/page/host_page.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gateway/page/host_page_sources.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// How many times `needle` occurs in `text`.
int Count(absl::string_view text, absl::string_view needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != absl::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// The text of the one element `<tag>...</tag>` of `html`.
std::string ElementText(absl::string_view html, absl::string_view tag) {
  const std::string open = absl::StrCat("<", tag, ">");
  const size_t begin = html.find(open);
  const size_t end = html.find(absl::StrCat("</", tag, ">"));
  if (begin == absl::string_view::npos || end == absl::string_view::npos) return "";
  return std::string(html.substr(begin + open.size(), end - begin - open.size()));
}

// The CSP source of `text`'s SHA-256 hash, computed here as a browser does.
std::string Sha256Source(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr), 1);
  return absl::StrCat(
      "'sha256-", absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(digest), length)),
      "'");
}

// The CSP's directives by name: "script-src" -> "'sha256-...'".
std::string Directive(absl::string_view policy, absl::string_view name) {
  for (absl::string_view directive : absl::StrSplit(policy, ';')) {
    directive = absl::StripAsciiWhitespace(directive);
    if (absl::StartsWith(directive, absl::StrCat(name, " "))) {
      return std::string(directive.substr(name.size() + 1));
    }
  }
  return "";
}

TEST(HostPageTest, InlinesTheStyleAndScriptExactlyOnce) {
  const std::string& html = GetHostPage().html;
  EXPECT_EQ(Count(html, "<script>"), 1);
  EXPECT_EQ(Count(html, "<style>"), 1);
  EXPECT_EQ(ElementText(html, "script"), page_sources::kJs);
  EXPECT_EQ(ElementText(html, "style"), page_sources::kCss);
  EXPECT_THAT(html, Not(HasSubstr("{{")));
  EXPECT_THAT(html, HasSubstr(R"(<meta name="viewport" content="width=device-width)"));
}

TEST(HostPageTest, LoadsNothingElse) {
  const std::string& html = GetHostPage().html;
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  // The only link: an empty icon, so that the browser does not ask the gateway for one.
  EXPECT_EQ(Count(html, "href="), 1);
  EXPECT_THAT(html, HasSubstr(R"(<link rel="icon" href="data:,">)"));
}

TEST(HostPageTest, PolicyAllowsOnlyTheInlineStyleAndScriptAndTheOwnOrigin) {
  const std::string& policy = GetHostPage().content_security_policy;
  EXPECT_EQ(Directive(policy, "default-src"), "'none'");
  EXPECT_EQ(Directive(policy, "script-src"), Sha256Source(page_sources::kJs));
  EXPECT_EQ(Directive(policy, "style-src"), Sha256Source(page_sources::kCss));
  EXPECT_EQ(Directive(policy, "connect-src"), "'self'");
  EXPECT_EQ(Directive(policy, "frame-ancestors"), "'none'");
  EXPECT_EQ(Directive(policy, "require-trusted-types-for"), "'script'");
  EXPECT_THAT(policy, Not(HasSubstr("unsafe")));
}

TEST(HostPageTest, ScriptWritesNoMarkup) {
  const std::string script = absl::AsciiStrToLower(page_sources::kJs);
  for (const char* sink : {"innerhtml", "outerhtml", "insertadjacenthtml", "document.write",
                           "eval(", "new function", "</script"}) {
    EXPECT_THAT(script, Not(HasSubstr(sink)));
  }
  EXPECT_EQ(Count(script, "fetch("), 1);  // every request goes through api(), with the token
  EXPECT_THAT(absl::AsciiStrToLower(page_sources::kCss), Not(HasSubstr("</style")));
}

}  // namespace
}  // namespace berth::gateway
