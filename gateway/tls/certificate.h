#ifndef BERTH_GATEWAY_TLS_CERTIFICATE_H_
#define BERTH_GATEWAY_TLS_CERTIFICATE_H_

#include <string>

#include "absl/status/statusor.h"

namespace berth::gateway {

// A TLS certificate chain and its private key, both PEM.
struct Certificate {
  std::string chain_pem;
  std::string key_pem;
  // SHA-256 of the leaf certificate's DER, as colon-separated upper-case hex (what browsers and
  // `openssl x509 -fingerprint -sha256` show).
  std::string fingerprint;
};

// Reads the operator's certificate chain and key. INVALID_ARGUMENT when either does not parse
// or the key does not belong to the certificate; NOT_FOUND names a missing file.
absl::StatusOr<Certificate> LoadCertificate(const std::string& chain_file,
                                            const std::string& key_file);

// The gateway's own certificate in `state_dir` (gateway-cert.pem, gateway-key.pem, key mode
// 0600): generated once — ECDSA P-256, self-signed, valid 10 years, subject and SAN naming
// `host_name`, localhost and 127.0.0.1 — and the same one on every later start.
absl::StatusOr<Certificate> LoadOrCreateSelfSigned(const std::string& state_dir,
                                                   const std::string& host_name);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_TLS_CERTIFICATE_H_
