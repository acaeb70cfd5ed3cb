// Test helper: a throwaway CA and certificates signed by it, made at run time with OpenSSL's C
// API (no openssl command, nothing checked in). EC P-256 keys: fast to make, as a real
// deployment would use. Header-only, for tests and benchmarks only.
//
//   TestCert ca = MakeTestCa("test CA");
//   TestCert server = MakeTestCert(ca, "tided", {"IP:127.0.0.1", "DNS:localhost"});
//   WriteTestCert(server, dir + "/tided.crt", dir + "/tided.key");
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tide::testing {

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

namespace tls_detail {

inline void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("tls_testutil: ") + what);
}

inline std::string Pem(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_X509(b, cert) == 1, "write certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

inline std::string Pem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "write key");
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

inline void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  Check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// issuer == nullptr: self-signed with `key`.
inline TestCert Make(const std::string& cn, const std::vector<std::string>& sans, bool ca,
                     const TestCert* issuer, long valid_seconds) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "key");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert), valid_seconds);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = cert;
  EVP_PKEY* issuer_key = key;
  if (issuer) {
    BIO* b = BIO_new_mem_buf(issuer->cert_pem.data(), static_cast<int>(issuer->cert_pem.size()));
    issuer_cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    b = BIO_new_mem_buf(issuer->key_pem.data(), static_cast<int>(issuer->key_pem.size()));
    issuer_key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    Check(issuer_cert && issuer_key, "read issuer");
  }
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  AddExt(cert, issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  AddExt(cert, issuer_cert, NID_key_usage,
         ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  AddExt(cert, issuer_cert, NID_subject_key_identifier, "hash");
  if (issuer) AddExt(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (!ca) AddExt(cert, issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  if (!sans.empty()) {
    std::string list;
    for (const auto& s : sans) list += (list.empty() ? "" : ",") + s;
    AddExt(cert, issuer_cert, NID_subject_alt_name, list);
  }
  Check(X509_sign(cert, issuer_key, EVP_sha256()) > 0, "sign");
  TestCert out{Pem(cert), Pem(key)};
  if (issuer) {
    X509_free(issuer_cert);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace tls_detail

// A self-signed CA, valid for a day.
inline TestCert MakeTestCa(const std::string& cn) {
  return tls_detail::Make(cn, {}, true, nullptr, 86400);
}

// A server/client certificate signed by `ca`; sans like "IP:127.0.0.1", "DNS:localhost".
// valid_seconds < 0 makes one that has already expired.
inline TestCert MakeTestCert(const TestCert& ca, const std::string& cn,
                             const std::vector<std::string>& sans, long valid_seconds = 86400) {
  return tls_detail::Make(cn, sans, false, &ca, valid_seconds);
}

inline void WriteTestFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  tls_detail::Check(static_cast<bool>(f), "write file");
}

// The certificate to cert_path and its key to key_path (either may be "").
inline void WriteTestCert(const TestCert& c, const std::string& cert_path,
                          const std::string& key_path) {
  if (!cert_path.empty()) WriteTestFile(cert_path, c.cert_pem);
  if (!key_path.empty()) WriteTestFile(key_path, c.key_pem);
}

}  // namespace tide::testing
