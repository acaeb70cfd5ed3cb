// Auth: API tokens and roles for tided's REST API (docs/api.md, Authentication).
//
// Two ways to get tokens:
//  - LoadTokensFile(): the `--tokens-file` YAML (`tokens: [{name, token, role}]`, role admin |
//    read | agent). Strict: an unknown key, a missing/empty field, a bad role, a duplicate name
//    or a duplicate token is an error naming the file, line and entry (never the token).
//    The in-process agent then gets a random in-memory agent token (principal "local-agent").
//  - LoadOrGenerate(): no tokens file. On first start generates a random admin token (32 bytes
//    from OpenSSL RAND_bytes, 64 hex chars) into DATA_DIR/admin.token and an agent token into
//    DATA_DIR/agent.token (both mode 0600), reusing them on later starts; (re)writes
//    DATA_DIR/tidectl.yaml (mode 0600: `server: URL` and `token: ADMIN`) for TIDE_CONFIG.
//    External agents on the host can use `--token-file DATA_DIR/agent.token`.
//
// Authorization: `Authorization: Bearer TOKEN`. Route classes: Public (/healthz, /metrics: no
// token), Read (GET/HEAD /v1/...), Write (other methods on /v1/...), Agent (/v1/agent/...).
// admin: everything; read: Read only; agent: Agent only. No/unknown token: Unauthorized (401);
// a known token whose role may not do the call: Forbidden (403). Tokens are kept only as
// SHA-256 digests and compared in constant time; no message ever contains a token.
//
// Thread-safety: immutable after construction; Authorize() may be called from any thread.
#pragma once

#include <array>
#include <memory>
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

class Auth {
 public:
  struct Entry {
    std::string name;
    std::string token;
    Role role = Role::kRead;
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

  // The token the in-process agent sends (role agent).
  const std::string& local_agent_token() const { return local_agent_token_; }
  // True when the credentials were generated in the data dir (no tokens file).
  bool generated() const { return generated_; }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Known {
    std::string name;
    Role role;
    Digest digest;
  };
  Auth() = default;
  static Digest Hash(const std::string& token);
  Status Add(const Entry& e, const std::string& where);
  Status AddLocalAgent();  // random in-memory agent token, principal "local-agent"

  std::vector<Known> known_;
  std::string local_agent_token_;
  bool generated_ = false;
};

}  // namespace tide
