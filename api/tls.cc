#include "api/tls.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "api/openssl_init.h"

namespace tide {
namespace {

// A file we can open for reading, else the OS's reason.
Status Readable(const std::string& what, const std::string& path) {
  if (path.empty()) return Status::Invalid(what + ": no file given");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::Invalid(what + " " + path + ": " + std::strerror(errno));
  std::fclose(f);
  return Status::Ok();
}

// Never prompt on a terminal for a passphrase: an encrypted key is an error, not a hang.
int NoPassphrase(char*, int, int, void*) { return 0; }

int LogIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int RecordVerify(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* log =
      ssl ? static_cast<TlsVerifyLog*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), LogIndex()))
          : nullptr;
  if (log) {
    const int err = X509_STORE_CTX_get_error(store);
    log->last = X509_verify_cert_error_string(err);
    if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      log->last += " (the certificate does not name the host in the server URL)";
    }
  }
  return 0;
}

void CommonSettings(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_default_passwd_cb(ctx, NoPassphrase);
}

}  // namespace

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason ? reason : buf;
  }
  return out;
}

Status ConfigureServerTls(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file) {
  if (Status st = TlsAvailable(); !st.ok()) return st;
  if (Status st = Readable("certificate file", cert_file); !st.ok()) return st;
  if (Status st = Readable("key file", key_file); !st.ok()) return st;
  ERR_clear_error();
  CommonSettings(ctx);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Status::Invalid("certificate file " + cert_file + ": not a PEM certificate chain (" +
                           OpenSslErrors() + ")");
  }
  // Read apart from the context: a key that is not a key and a key of another certificate
  // are different mistakes (OpenSSL reports both from SSL_CTX_use_PrivateKey_file).
  EVP_PKEY* key = nullptr;
  if (BIO* bio = BIO_new_file(key_file.c_str(), "r")) {
    key = PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr);
    BIO_free(bio);
  }
  OpenSslErrors();  // their detail may describe the key; say only what is wrong
  if (!key) return Status::Invalid("key file " + key_file + ": not an unencrypted PEM private key");
  const bool matches = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  OpenSslErrors();
  if (!matches) {
    return Status::Invalid("key file " + key_file + " does not match the certificate in " +
                           cert_file);
  }
  return Status::Ok();
}

Status CheckServerTlsFiles(const std::string& cert_file, const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::Internal("TLS: cannot make a context: " + OpenSslErrors());
  Status st = ConfigureServerTls(ctx, cert_file, key_file);
  SSL_CTX_free(ctx);
  return st;
}

Status CheckCaFile(const std::string& ca_file) {
  if (Status st = TlsAvailable(); !st.ok()) return st;
  if (Status st = Readable("CA file", ca_file); !st.ok()) return st;
  ERR_clear_error();
  X509_STORE* store = X509_STORE_new();
  const int loaded = X509_STORE_load_file(store, ca_file.c_str());
  X509_STORE_free(store);
  if (loaded != 1) {
    return Status::Invalid("CA file " + ca_file + ": no PEM certificate in it (" + OpenSslErrors() +
                           ")");
  }
  return Status::Ok();
}

Status ConfigureClientTls(SSL_CTX* ctx, const ClientTls& tls, const std::string& host,
                          TlsVerifyLog* log) {
  if (Status st = TlsAvailable(); !st.ok()) return st;
  ERR_clear_error();
  CommonSettings(ctx);
  if (!tls.ca_file.empty()) {
    if (Status st = CheckCaFile(tls.ca_file); !st.ok()) return st;
    // Only this file: a fresh store, so nothing from the system store is trusted as well.
    X509_STORE* store = X509_STORE_new();
    if (X509_STORE_load_file(store, tls.ca_file.c_str()) != 1) {
      X509_STORE_free(store);
      return Status::Invalid("CA file " + tls.ca_file + ": " + OpenSslErrors());
    }
    SSL_CTX_set_cert_store(ctx, store);  // takes ownership
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return Status::Internal("TLS: cannot load the system trust store: " + OpenSslErrors());
  }
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  if (tls.pin) {
    if (tls.ca_file.empty()) return Status::Invalid("TLS: pinning needs the server's certificate");
    // The pinned certificate is a trust anchor even though it is not a CA's.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  } else {
    std::string h = host;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    unsigned char addr[16];
    const bool ip =
        inet_pton(AF_INET, h.c_str(), addr) == 1 || inet_pton(AF_INET6, h.c_str(), addr) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, h.c_str(), h.size());
    if (set != 1 || h.empty()) return Status::Invalid("TLS: cannot check the host '" + h + "'");
  }
  if (log) {
    log->last.clear();
    SSL_CTX_set_ex_data(ctx, LogIndex(), log);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, RecordVerify);
  return Status::Ok();
}

std::string UrlHost(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  std::string authority = url.substr(start, url.find_first_of("/?#", start) - start);
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  if (!authority.empty() && authority.front() == '[')
    return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.rfind(':'));
}

Status TrustServer(httplib::Client* cli, const std::string& url, const ClientTls& tls) {
  if (cli->ssl_context() == nullptr) return Status::Ok();
  cli->enable_server_certificate_verification(false);  // OpenSSL checks, as configured here
  return ConfigureClientTls(cli->ssl_context(), tls, UrlHost(url), nullptr);
}

}  // namespace tide
