#ifndef BERTH_COMMON_TESTING_HS256_TOKEN_H_
#define BERTH_COMMON_TESTING_HS256_TOKEN_H_

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace berth::testing {

// "<header>.<claims>.<signature>", each base64url, signed with HS256 and `secret` by hand, so
// that the header and claims may be any bytes (libjwt refuses to sign what is not JSON).
// Link OpenSSL::Crypto.
inline std::string SignHs256Raw(absl::string_view secret, absl::string_view header_json,
                                absl::string_view claims_json) {
  std::string header, claims, signature;
  absl::WebSafeBase64Escape(header_json, &header);
  absl::WebSafeBase64Escape(claims_json, &claims);
  const std::string input = absl::StrCat(header, ".", claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size);
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<char*>(mac), mac_size), &signature);
  return absl::StrCat(input, ".", signature);
}

}  // namespace berth::testing

#endif  // BERTH_COMMON_TESTING_HS256_TOKEN_H_
