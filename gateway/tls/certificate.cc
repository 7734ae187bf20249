#include "gateway/tls/certificate.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace berth::gateway {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

constexpr char kCertFile[] = "gateway-cert.pem";
constexpr char kKeyFile[] = "gateway-key.pem";

X509Ptr ParseCertificate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyPtr ParseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<std::string> Fingerprint(X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &size) != 1) {
    return absl::InternalError("cannot hash the certificate");
  }
  std::string text;
  for (unsigned int i = 0; i < size; ++i) {
    absl::StrAppendFormat(&text, "%s%02X", i == 0 ? "" : ":", digest[i]);
  }
  return text;
}

// Checks that the chain and key parse and belong together, and fills in the fingerprint.
absl::StatusOr<Certificate> Validate(Certificate certificate, const std::string& what) {
  X509Ptr leaf = ParseCertificate(certificate.chain_pem);
  if (leaf == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the certificate does not parse"));
  }
  KeyPtr key = ParseKey(certificate.key_pem);
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the private key does not parse"));
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the private key does not belong to the certificate"));
  }
  ASSIGN_OR_RETURN(certificate.fingerprint, Fingerprint(leaf.get()));
  return certificate;
}

absl::StatusOr<Certificate> Generate(const std::string& host_name) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return absl::InternalError("cannot generate an ECDSA P-256 key");
  X509Ptr certificate(X509_new());
  X509_set_version(certificate.get(), 2);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial_number(BN_new(), BN_free);
  BN_rand(serial_number.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial_number.get(), X509_get_serialNumber(certificate.get()));
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(certificate.get(), key.get());
  X509_NAME* name = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Berth gateway"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(host_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(certificate.get(), name);
  const std::string san = absl::StrCat("DNS:", host_name, ",DNS:localhost,IP:127.0.0.1");
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
  X509_EXTENSION* extension =
      X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, san.c_str());
  if (extension == nullptr) return absl::InternalError("cannot build the subjectAltName");
  X509_add_ext(certificate.get(), extension, -1);
  X509_EXTENSION_free(extension);
  if (X509_sign(certificate.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError("cannot sign the certificate");
  }
  BioPtr chain(BIO_new(BIO_s_mem()));
  BioPtr key_out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(chain.get(), certificate.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return absl::InternalError("cannot write the certificate as PEM");
  }
  return Validate({BioText(chain.get()), BioText(key_out.get()), ""}, "generated certificate");
}

}  // namespace

absl::StatusOr<Certificate> LoadCertificate(const std::string& chain_file,
                                            const std::string& key_file) {
  Certificate certificate;
  ASSIGN_OR_RETURN(certificate.chain_pem, common::ReadFile(chain_file));
  ASSIGN_OR_RETURN(certificate.key_pem, common::ReadFile(key_file));
  return Validate(std::move(certificate), chain_file);
}

absl::StatusOr<Certificate> LoadOrCreateSelfSigned(const std::string& state_dir,
                                                   const std::string& host_name) {
  const std::string cert_path = absl::StrCat(state_dir, "/", kCertFile);
  const std::string key_path = absl::StrCat(state_dir, "/", kKeyFile);
  if (access(cert_path.c_str(), F_OK) == 0) {
    // Once made, always the same: a damaged pair is an error, never silently replaced, since
    // clients may pin its fingerprint.
    return LoadCertificate(cert_path, key_path);
  }
  ASSIGN_OR_RETURN(Certificate certificate, Generate(host_name));
  RETURN_IF_ERROR(common::CreateParentDirectories(key_path, "state directory"));
  // The key first, the certificate last: it marks the pair complete (a crash in between leaves
  // a stray key, which the next start replaces).
  RETURN_IF_ERROR(common::WriteFileAtomically(key_path, certificate.key_pem, 0600));
  RETURN_IF_ERROR(common::WriteFileAtomically(cert_path, certificate.chain_pem, 0644));
  return certificate;
}

}  // namespace berth::gateway
