#include "api/openssl_init.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <cstring>
#include <string_view>

namespace tide {

bool ArgsAskForTls(int argc, char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == nullptr) break;
    const std::string_view a = argv[i];
    if (a.find("https://") != std::string_view::npos) return true;
    if (a.starts_with("--tls-") || a.starts_with("--ca-file")) return true;
  }
  return false;
}

void SkipOpenSslInitUnlessTls(int argc, char** argv, char**) {
  if (ArgsAskForTls(argc, argv)) return;
  // Not OPENSSL_INIT_NO_ADD_ALL_DIGESTS: verifying a certificate's signature looks its digest up
  // in that table, and a chain would be refused as "ca md too weak" (openssl_init_test).
  OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_SSL_STRINGS |
                       OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_NO_ADD_ALL_CIPHERS,
                   nullptr);
}

}  // namespace tide
