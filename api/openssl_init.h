// OpenSSL's start-up cost in a program that does not speak TLS, and how tide-agent avoids it.
//
// Debian ships cpp-httplib as a shared library built with TLS support. Its constructor calls
// OPENSSL_init_ssl in every process that links it, before main: it reads the system openssl.cnf,
// loads the error strings of every OpenSSL library and fills the legacy cipher and digest name
// tables. Without TLS, all but the digest table are for nothing, and they cost 1.3 MiB of
// resident pages (a program that only links libcpp-httplib: 7.2 MiB RSS; with the three steps
// below skipped: 5.9 MiB). The digest table stays: certificate checks look digests up in it.
//
// Each of those steps runs once per process, and OpenSSL lets a caller mark a step as done
// without doing it (the OPENSSL_INIT_NO_* options); a later request for that step is then a no-op.
// So a program may skip them, provided it asks before httplib's constructor runs. The only code
// that runs before the constructors of shared libraries is the executable's own ELF preinit
// array; TIDE_OPENSSL_INIT_ON_DEMAND puts a function there.
//
// The rule (ArgsAskForTls): steps are skipped unless the command line asks for TLS: an argument
// holding "https://", or a flag naming TLS files (--tls-*, --ca-file). A process that skipped
// them and still speaks TLS works (openssl_init_test makes a verified https round trip): the TLS
// code (api/tls.h) needs none of the three (providers load on first use, TLS ciphers are fetched
// by name, Tide's contexts set their own TLS floor). Only OpenSSL's error texts would be codes
// ("error:0A000086:lib(20)::reason(134)") and openssl.cnf would not apply.
//
// Thread-safety: SkipOpenSslInitUnlessTls runs before main, on the only thread.
#pragma once

namespace tide {

// True if the command line asks for TLS (see above). Pure.
bool ArgsAskForTls(int argc, char* const* argv);

// Marks OpenSSL's config, error-string and cipher-table steps as done unless ArgsAskForTls.
// Meant for the ELF preinit array (an OpenSSL call there precedes every library constructor).
void SkipOpenSslInitUnlessTls(int argc, char** argv, char** envp);

}  // namespace tide

// In the executable's main file, at namespace scope: runs SkipOpenSslInitUnlessTls before any
// shared library is initialized. (A preinit array entry is ignored in a shared library.)
#define TIDE_OPENSSL_INIT_ON_DEMAND()                                                         \
  __attribute__((section(".preinit_array"), used)) static void (*const tide_openssl_preinit)( \
      int, char**, char**) = ::tide::SkipOpenSslInitUnlessTls
