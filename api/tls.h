// TLS: the one place where Tide sets up OpenSSL contexts, for servers (tided's front door, the
// agent's API) and clients (api/client.h: agents, tidectl, tided proxying logs).
//
// Rules every context gets here:
//  - TLS 1.2 at least; renegotiation off.
//  - Servers: a PEM certificate chain (leaf first) and its PEM private key. Each problem is an
//    error naming the file and what is wrong (missing, unreadable, not PEM, key does not match
//    the certificate); nothing from the key file is ever quoted.
//  - Clients: the peer is verified during the handshake by OpenSSL itself, against the PEM CA
//    file given (only those CAs, not the system store) or, without one, the system trust store;
//    the host the URL names (DNS name or IP address, checked against the certificate's
//    subjectAltName) must match. `pin` trusts exactly the certificate in `ca_file` (the server's
//    own, e.g. the in-process agent talking to its own tided) and needs no name match.
//  - Why a handshake failed verification is kept per context (TlsVerifyFailure) so a client can
//    say "not signed by the CA in FILE" instead of "SSL connection failed".
//
// Thread-safety: configure a context before it is shared. TlsVerifyFailure may be called from
// the thread that ran the handshake.
#pragma once

#include <memory>
#include <string>

#include "api/status.h"

typedef struct ssl_ctx_st SSL_CTX;
namespace httplib {
class Client;
}

namespace tide {

// Loads cert_file (chain, PEM) and key_file (PEM) into the server context `ctx`, TLS >= 1.2.
Status ConfigureServerTls(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file);

// The same checks on a throwaway context: for flags, before anything starts.
Status CheckServerTlsFiles(const std::string& cert_file, const std::string& key_file);

// Checks that ca_file is readable and holds at least one PEM certificate.
Status CheckCaFile(const std::string& ca_file);

struct ClientTls {
  std::string ca_file;  // PEM CA certificates to trust ("" = the system's trust store)
  bool pin = false;     // ca_file is the server's own certificate: trust it alone, any name
};

// Why the last verification on a context failed, recorded by its verify callback.
struct TlsVerifyLog {
  std::string last;  // "" when no verification failed
};

// Configures a client context for a server reached as `host` (a DNS name or an IP address,
// brackets allowed). `log` (may be null) must outlive ctx and receives verification failures.
Status ConfigureClientTls(SSL_CTX* ctx, const ClientTls& tls, const std::string& host,
                          TlsVerifyLog* log);

// The host part of a URL's authority (`https://[::1]:7400/x` -> `[::1]`, `https://h:1` -> `h`).
std::string UrlHost(const std::string& url);

// A bare httplib::Client made from `url` gets the same rules as api/client.h (no-op for http).
Status TrustServer(httplib::Client* cli, const std::string& url, const ClientTls& tls);

// OpenSSL's error queue as one line (and the queue emptied); "" when empty.
std::string OpenSslErrors();

}  // namespace tide
