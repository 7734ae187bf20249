#include "gateway/page/host_page.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "gateway/page/host_page_sources.h"

namespace berth::gateway {
namespace {

// The CSP source that allows an inline element whose text is exactly `text`.
std::string HashSource(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // SHA-256 of a buffer in memory cannot fail short of the process being out of memory; an
  // empty hash then allows nothing, so the page is inert rather than open.
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return "'none'";
  }
  return absl::StrCat(
      "'sha256-",
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), length)), "'");
}

HostPage Assemble() {
  HostPage page;
  page.html = absl::StrReplaceAll(
      page_sources::kHtml, {{"{{style}}", page_sources::kCss}, {"{{script}}", page_sources::kJs}});
  page.content_security_policy = absl::StrCat(
      "default-src 'none'; script-src ", HashSource(page_sources::kJs), "; style-src ",
      HashSource(page_sources::kCss),
      "; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
      "frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'");
  return page;
}

}  // namespace

const HostPage& GetHostPage() {
  static const HostPage* const page = new HostPage(Assemble());
  return *page;
}

}  // namespace berth::gateway
