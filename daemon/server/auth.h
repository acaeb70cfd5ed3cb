// Auth: API tokens and roles for tided's REST API (docs/api.md, Authentication).
//
// Two ways to get tokens:
//  - LoadTokensFile(): the `--tokens-file` YAML (`tokens: [{name, token, role, node}]`, role
//    admin | read | agent; `node` only for role agent: the one node that token may act as).
//    Strict: an unknown key, a missing/empty field, a bad role, `node` on a non-agent token, a
//    duplicate name or a duplicate token is an error naming the file, line and entry (never the
//    token). The in-process agent then gets a random in-memory agent token (principal
//    "local-agent"), bound to its node by BindLocalAgent().
//  - LoadOrGenerate(): no tokens file. On first start generates a random admin token (32 bytes
//    from OpenSSL RAND_bytes, 64 hex chars) into DATA_DIR/admin.token and an agent join token
//    into DATA_DIR/agent.token (both mode 0600), reusing them on later starts; (re)writes
//    DATA_DIR/tidectl.yaml (mode 0600: `server: URL` and `token: ADMIN`) for TIDE_CONFIG.
//    External agents on the host can join with `--token-file DATA_DIR/agent.token`; the local
//    agent gets its own random in-memory token like above.
//
// Node identity (docs/api.md "Node identity", docs/security.md): an agent token with a node is that
// node's credential; an agent token without one is a join token. Join() issues a node credential
// (32 random bytes, hex) for a name no token or credential is bound to yet; only its SHA-256 digest
// is kept (here and, through the persist callback, in the store), and AddNodeCredential() loads the
// stored digests at start. Whether a principal may act as a node is decided by DecideNodeAccess
// (daemon/server/node_identity.h).
//
// Authorization: `Authorization: Bearer TOKEN`. Route classes: Public (/healthz, /metrics: no
// token), Read (GET/HEAD /v1/...), Write (other methods on /v1/...), Agent (/v1/agent/...).
// admin: Read and Write (not Agent: an admin is not a node, as with Kubernetes'
// NodeRestriction); read: Read only; agent: Agent only. No/unknown token: Unauthorized (401);
// a known token whose role may not do the call: Forbidden (403). Tokens are kept only as
// SHA-256 digests and compared in constant time; no message ever contains a token.
//
// Thread-safety: the tokens of the file are fixed after construction; node credentials
// (BindLocalAgent, AddNodeCredential, Join) are guarded by an internal mutex. Every method may
// be called from any thread.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "api/status.h"

namespace tide {

enum class Role { kAdmin, kRead, kAgent };
const char* RoleName(Role r);  // "admin" | "read" | "agent"

enum class RouteClass { kPublic, kRead, kWrite, kAgent };

// Classifies a request path (without query) and method as described above.
RouteClass ClassifyRoute(const std::string& method, const std::string& path);

// 32 random bytes (OpenSSL RAND_bytes) as 64 lowercase hex characters.
Status GenerateToken(std::string* out);

// Who made a request (Auth::Authorize).
struct Principal {
  std::string name;  // the token's name, "local-agent", or "node:NAME" for a node credential
  Role role = Role::kRead;
  std::string node;  // agents: the node this token is bound to; "" = a join token
};

class Auth {
 public:
  struct Entry {
    std::string name;
    std::string token;
    Role role = Role::kRead;
    std::string node;  // role agent only: the node this token may act as ("" = join token)
  };

  // Builds from explicit entries, validated like a tokens file (errors name tokens[i]).
  static Status FromEntries(const std::vector<Entry>& entries, std::unique_ptr<Auth>* out);
  // Parses tokens-file YAML text; `source` (the file name) prefixes error messages.
  static Status ParseTokens(const std::string& yaml_text, const std::string& source,
                            std::unique_ptr<Auth>* out);
  static Status LoadTokensFile(const std::string& path, std::unique_ptr<Auth>* out);
  // Generated credentials in data_dir (created if missing); server_url goes into tidectl.yaml.
  static Status LoadOrGenerate(const std::string& data_dir, const std::string& server_url,
                               std::unique_ptr<Auth>* out);

  // Checks the Authorization header for a call of `method` on a route of class `cls`.
  // *principal (optional) gets the token's name ("" for Public routes).
  Status Authorize(const std::string& authorization_header, const std::string& method,
                   RouteClass cls, std::string* principal) const;
  // The same, with the whole principal (*who is set only when the result is Ok).
  Status AuthorizeAs(const std::string& authorization_header, const std::string& method,
                     RouteClass cls, Principal* who) const;

  // The token the in-process agent sends (role agent).
  const std::string& local_agent_token() const { return local_agent_token_; }
  // Binds the in-process agent's token to its node (call before it registers).
  void BindLocalAgent(const std::string& node);

  // ---- node credentials ----
  // Hex SHA-256 digest of a credential: what the store keeps.
  static std::string DigestHex(const std::string& credential);
  // Loads a stored credential digest (hex) for `node`. Invalid when the hex is malformed.
  Status AddNodeCredential(const std::string& node, const std::string& digest_hex);
  // True when some token, credential or the local agent is bound to `node`: a join token may
  // no longer register it.
  bool NodeClaimed(const std::string& node) const;
  // Issues a credential bound to `node` when nothing is bound to it yet: calls persist(node,
  // digest hex) (which must make it durable, e.g. Store::PutNodeCredential) and only when that
  // succeeds adds it and returns the credential in *credential. Forbidden when the node is
  // already claimed (also when two joins race for one name: exactly one wins).
  Status Join(const std::string& node,
              const std::function<Status(const std::string&, const std::string&)>& persist,
              std::string* credential);
  // True when the credentials were generated in the data dir (no tokens file).
  bool generated() const { return generated_; }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Known {
    std::string name;
    Role role;
    Digest digest;
    std::string node;  // agents: bound node, "" = join token
  };
  Auth() = default;
  static Digest Hash(const std::string& token);
  Status Add(const Entry& e, const std::string& where);
  Status AddLocalAgent();  // random in-memory agent token, principal "local-agent"

  std::vector<Known> known_;  // fixed after construction but for local-agent's node (cred_mu_)
  mutable std::shared_mutex cred_mu_;
  std::map<Digest, std::string> credentials_;  // node credential digest -> node (cred_mu_)
  std::map<std::string, int> claimed_;         // node -> how many tokens/credentials bind it
  std::string local_agent_token_;
  bool generated_ = false;
};

}  // namespace tide
