#include "testing_support/jwt_signer.h"

#include <cstdlib>

namespace berth::testing {

std::string SignWithLibjwt(jwt_alg_t alg, const std::string& key, const std::string& claims_json,
                           const std::string& headers_json) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) return "";
  std::string token;
  if (jwt_add_grants_json(jwt, claims_json.c_str()) == 0 &&
      jwt_add_headers_json(jwt, headers_json.c_str()) == 0 &&
      jwt_set_alg(jwt, alg,
                  key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) == 0) {
    char* encoded = jwt_encode_str(jwt);
    if (encoded != nullptr) token = encoded;
    free(encoded);  // NOLINT: libjwt allocates with malloc.
  }
  jwt_free(jwt);
  return token;
}

}  // namespace berth::testing
