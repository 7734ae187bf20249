#ifndef BERTH_TESTING_SUPPORT_JWT_SIGNER_H_
#define BERTH_TESTING_SUPPORT_JWT_SIGNER_H_

#include <jwt.h>

#include <string>

namespace berth::testing {

// A JWT with `claims_json` as its payload, signed by libjwt with `alg` and `key` (the private
// PEM for RS/ES, the secret for HS, empty for none), with `headers_json` added to its JOSE
// header. Empty when libjwt refuses (bad JSON, a key that does not fit the algorithm).
std::string SignWithLibjwt(jwt_alg_t alg, const std::string& key, const std::string& claims_json,
                           const std::string& headers_json = "{}");

}  // namespace berth::testing

#endif  // BERTH_TESTING_SUPPORT_JWT_SIGNER_H_
