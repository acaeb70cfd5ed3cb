#include "api/openssl_init.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <string_view>

namespace tide {
namespace {

// Set before main, on the only thread, and never after: constant-initialized (no constructor of
// its own that could run after the preinit array and reset it).
bool g_skipped = false;

}  // namespace

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
  OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_SSL_STRINGS |
                       OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                       OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                   nullptr);
  g_skipped = true;
}

Status TlsAvailable() {
  if (!g_skipped) return Status::Ok();
  return Status::Invalid(
      "TLS is off in this process: it was started without an https:// URL, --tls-cert or "
      "--ca-file, so OpenSSL was not initialized for it; give one of them on the command line");
}

}  // namespace tide
