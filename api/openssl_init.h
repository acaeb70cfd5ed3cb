// OpenSSL's start-up cost in a program that does not speak TLS, and how tide-agent avoids it.
//
// Debian ships cpp-httplib as a shared library built with TLS support. Its constructor calls
// OPENSSL_init_ssl in every process that links it, before main: it reads the system openssl.cnf,
// loads the error strings of every OpenSSL library and fills the legacy cipher and digest name
// tables. That is 1.7 MiB of resident pages (a program that only links libcpp-httplib: 7.2 MiB
// RSS; with those steps skipped: 5.5 MiB), for nothing in a process that speaks no TLS.
//
// Each of those steps runs once per process, and OpenSSL lets a caller mark one as done without
// doing it (the OPENSSL_INIT_NO_* options); a later request for it is then a no-op, for good. So
// a program may skip them, provided it asks before httplib's constructor runs. The only code that
// runs before the constructors of shared libraries is the executable's own ELF preinit array;
// TIDE_OPENSSL_INIT_ON_DEMAND puts a function there.
//
// The rule (ArgsAskForTls): the steps are skipped unless the command line asks for TLS, with an
// argument holding "https://" or a flag naming TLS files (--tls-*, --ca-file). tide-agent speaks
// TLS only when its flags say so (an https --server, --tls-cert), so the rule decides exactly.
// A process that skipped them cannot verify certificates (the digest table is gone), so every TLS
// setup in api/tls.h first asks TlsAvailable(), which then says why in plain words, instead of a
// handshake failing as "ca md too weak".
//
// Thread-safety: SkipOpenSslInitUnlessTls runs before main, on the only thread; TlsAvailable
// only reads what it set.
#pragma once

#include "api/status.h"

namespace tide {

// True if the command line asks for TLS (see above). Pure.
bool ArgsAskForTls(int argc, char* const* argv);

// Marks OpenSSL's config, error-string and name-table steps as done unless ArgsAskForTls.
// Meant for the ELF preinit array (an OpenSSL call there precedes every library constructor).
void SkipOpenSslInitUnlessTls(int argc, char** argv, char** envp);

// Ok unless this process skipped OpenSSL's start (then Invalid, saying which arguments enable it).
Status TlsAvailable();

}  // namespace tide

// In the executable's main file, at namespace scope: runs SkipOpenSslInitUnlessTls before any
// shared library is initialized. (A preinit array entry is ignored in a shared library.)
#define TIDE_OPENSSL_INIT_ON_DEMAND()                                                         \
  __attribute__((section(".preinit_array"), used)) static void (*const tide_openssl_preinit)( \
      int, char**, char**) = ::tide::SkipOpenSslInitUnlessTls
