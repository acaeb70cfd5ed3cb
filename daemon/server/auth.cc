#include "daemon/server/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/private_file.h"

namespace tide {
namespace {

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool IEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

bool ParseRole(const std::string& s, Role* r) {
  if (s == "admin")
    *r = Role::kAdmin;
  else if (s == "read")
    *r = Role::kRead;
  else if (s == "agent")
    *r = Role::kAgent;
  else
    return false;
  return true;
}

const char* RouteClassName(RouteClass c) {
  switch (c) {
    case RouteClass::kPublic:
      return "public";
    case RouteClass::kRead:
      return "read";
    case RouteClass::kWrite:
      return "write";
    case RouteClass::kAgent:
      return "agent";
  }
  return "?";
}

bool IsReadMethod(const std::string& m) { return m == "GET" || m == "HEAD"; }

// Reads the token kept in `path`, or generates and stores a new one when the file is absent.
Status LoadOrCreateToken(const std::string& path, std::string* token) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path);
    if (!in) return Status::Internal("read " + path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    *token = Trim(ss.str());
    if (token->empty() || token->find_first_of(" \t\r\n") != std::string::npos) {
      return Status::Invalid(path + " does not hold a token; delete it to generate a new one");
    }
    // Tighten permissions left loose by hand edits.
    ::chmod(path.c_str(), 0600);
    return Status::Ok();
  }
  Status s = GenerateToken(token);
  if (!s.ok()) return s;
  return WritePrivateFile(path, *token + "\n");
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kAdmin:
      return "admin";
    case Role::kRead:
      return "read";
    case Role::kAgent:
      return "agent";
  }
  return "?";
}

RouteClass ClassifyRoute(const std::string& method, const std::string& path) {
  if (path == "/healthz" || path == "/metrics") return RouteClass::kPublic;
  if (path == "/v1/agent" || path.rfind("/v1/agent/", 0) == 0) return RouteClass::kAgent;
  return IsReadMethod(method) ? RouteClass::kRead : RouteClass::kWrite;
}

Status GenerateToken(std::string* out) {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) return Status::Internal("RAND_bytes failed");
  static const char kHex[] = "0123456789abcdef";
  out->clear();
  for (unsigned char c : buf) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return Status::Ok();
}

Auth::Digest Auth::Hash(const std::string& token) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

Status Auth::Add(const Entry& e, const std::string& where) {
  if (e.name.empty()) return Status::Invalid(where + ": name is missing or empty");
  if (e.token.empty()) return Status::Invalid(where + " (" + e.name + "): token is empty");
  if (e.token.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::Invalid(where + " (" + e.name + "): token contains whitespace");
  }
  if (!e.node.empty() && e.role != Role::kAgent) {
    return Status::Invalid(where + " (" + e.name + "): node is only for role agent, not " +
                           RoleName(e.role));
  }
  if (e.node.size() > 253 || e.node.find_first_of(" \t\r\n/") != std::string::npos) {
    return Status::Invalid(where + " (" + e.name +
                           "): node must be a node name (at most 253 characters, no spaces or /)");
  }
  const Digest d = Hash(e.token);
  for (const auto& k : known_) {
    if (k.name == e.name) {
      return Status::Invalid(where + ": name " + e.name + " is used by another entry");
    }
    if (CRYPTO_memcmp(k.digest.data(), d.data(), d.size()) == 0) {
      return Status::Invalid(where + " (" + e.name + ") has the same token as entry " + k.name);
    }
  }
  known_.push_back({e.name, e.role, d, e.node});
  if (!e.node.empty()) ++claimed_[e.node];
  return Status::Ok();
}

Status Auth::AddLocalAgent() {
  Status s = GenerateToken(&local_agent_token_);
  if (!s.ok()) return s;
  known_.push_back({"local-agent", Role::kAgent, Hash(local_agent_token_), ""});
  return Status::Ok();
}

void Auth::BindLocalAgent(const std::string& node) {
  std::unique_lock<std::shared_mutex> lk(cred_mu_);
  for (auto& k : known_) {
    if (k.name != "local-agent" || k.node == node) continue;
    if (!k.node.empty() && --claimed_[k.node] == 0) claimed_.erase(k.node);
    k.node = node;
    if (!node.empty()) ++claimed_[node];
  }
}

std::string Auth::DigestHex(const std::string& credential) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : Hash(credential)) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

Status Auth::AddNodeCredential(const std::string& node, const std::string& digest_hex) {
  Digest d{};
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (node.empty() || digest_hex.size() != 2 * d.size()) {
    return Status::Invalid("node credential of '" + node + "': want a node and 64 hex digits");
  }
  for (size_t i = 0; i < d.size(); ++i) {
    const int hi = nibble(digest_hex[2 * i]), lo = nibble(digest_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::Invalid("node credential of " + node + ": not hex");
    d[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  std::unique_lock<std::shared_mutex> lk(cred_mu_);
  if (credentials_.emplace(d, node).second) ++claimed_[node];
  return Status::Ok();
}

bool Auth::NodeClaimed(const std::string& node) const {
  std::shared_lock<std::shared_mutex> lk(cred_mu_);
  return claimed_.count(node) > 0;
}

Status Auth::Join(const std::string& node,
                  const std::function<Status(const std::string&, const std::string&)>& persist,
                  std::string* credential) {
  if (node.empty()) return Status::Invalid("node name is empty");
  std::unique_lock<std::shared_mutex> lk(cred_mu_);
  if (claimed_.count(node)) {
    return Status::Forbidden("node " + node +
                             " is already registered; re-registering it needs its own credential");
  }
  std::string cred;
  Status s = GenerateToken(&cred);
  if (!s.ok()) return s;
  const Digest d = Hash(cred);
  s = persist(node, DigestHex(cred));
  if (!s.ok()) return s;
  credentials_.emplace(d, node);
  ++claimed_[node];
  *credential = std::move(cred);
  return Status::Ok();
}

Status Auth::FromEntries(const std::vector<Entry>& entries, std::unique_ptr<Auth>* out) {
  std::unique_ptr<Auth> a(new Auth());
  for (size_t i = 0; i < entries.size(); ++i) {
    Status s = a->Add(entries[i], "tokens[" + std::to_string(i) + "]");
    if (!s.ok()) return s;
  }
  Status s = a->AddLocalAgent();
  if (!s.ok()) return s;
  *out = std::move(a);
  return Status::Ok();
}

Status Auth::ParseTokens(const std::string& yaml_text, const std::string& source,
                         std::unique_ptr<Auth>* out) {
  auto at = [&](const YAML::Node& n) {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return source;
    return source + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  };
  std::unique_ptr<Auth> a(new Auth());
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) return Status::Invalid(source + ": want a map with a `tokens` list");
    for (const auto& kv : root) {
      if (kv.first.as<std::string>() != "tokens") {
        return Status::Invalid(at(kv.first) + ": unknown field " + kv.first.as<std::string>() +
                               " (want tokens)");
      }
    }
    YAML::Node list = root["tokens"];
    if (!list || !list.IsSequence() || list.size() == 0) {
      return Status::Invalid(source + ": `tokens` must be a non-empty list");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node item = list[i];
      std::string where = at(item) + ": tokens[" + std::to_string(i) + "]";
      if (!item.IsMap()) return Status::Invalid(where + ": want {name, token, role[, node]}");
      Entry e;
      std::string role;
      bool has_role = false;
      for (const auto& kv : item) {
        const std::string key = kv.first.as<std::string>();
        if (!kv.second.IsScalar()) {
          return Status::Invalid(where + ": " + key + " must be a string");
        }
        if (key == "name") {
          e.name = kv.second.as<std::string>();
        } else if (key == "token") {
          e.token = kv.second.as<std::string>();
        } else if (key == "role") {
          role = kv.second.as<std::string>();
          has_role = true;
        } else if (key == "node") {
          e.node = kv.second.as<std::string>();
          if (e.node.empty()) return Status::Invalid(where + ": node is empty");
        } else {
          return Status::Invalid(where + ": unknown field " + key +
                                 " (want name, token, role, node)");
        }
      }
      const std::string who = e.name.empty() ? where : where + " (" + e.name + ")";
      if (!has_role) return Status::Invalid(who + ": role is missing (admin, read or agent)");
      if (!ParseRole(role, &e.role)) {
        return Status::Invalid(who + ": unknown role \"" + role + "\" (want admin, read or agent)");
      }
      Status s = a->Add(e, where);
      if (!s.ok()) return s;
    }
  } catch (const YAML::Exception& ex) {
    return Status::Invalid(source + ": " + ex.what());
  }
  Status s = a->AddLocalAgent();
  if (!s.ok()) return s;
  *out = std::move(a);
  return Status::Ok();
}

Status Auth::LoadTokensFile(const std::string& path, std::unique_ptr<Auth>* out) {
  std::ifstream in(path);
  if (!in) return Status::Invalid("tokens file " + path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseTokens(ss.str(), path, out);
}

Status Auth::LoadOrGenerate(const std::string& data_dir, const std::string& server_url,
                            std::unique_ptr<Auth>* out) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::Internal("create data dir " + data_dir + ": " + ec.message());
  const std::filesystem::path dir(data_dir);
  std::string admin, agent;
  Status s = LoadOrCreateToken((dir / "admin.token").string(), &admin);
  if (!s.ok()) return s;
  s = LoadOrCreateToken((dir / "agent.token").string(), &agent);
  if (!s.ok()) return s;
  if (admin == agent) return Status::Invalid(data_dir + ": admin.token and agent.token are equal");
  s = WritePrivateFile((dir / "tidectl.yaml").string(),
                       "# Written by tided at start: tidectl credentials (TIDE_CONFIG=this file).\n"
                       "server: " +
                           server_url + "\ntoken: " + admin + "\n");
  if (!s.ok()) return s;
  std::unique_ptr<Auth> a(new Auth());
  a->known_.push_back({"admin", Role::kAdmin, Hash(admin), ""});
  a->known_.push_back({"agent", Role::kAgent, Hash(agent), ""});  // join token
  s = a->AddLocalAgent();
  if (!s.ok()) return s;
  a->generated_ = true;
  *out = std::move(a);
  return Status::Ok();
}

Status Auth::Authorize(const std::string& authorization_header, const std::string& method,
                       RouteClass cls, std::string* principal) const {
  if (principal != nullptr) principal->clear();
  Principal who;
  Status s = AuthorizeAs(authorization_header, method, cls, &who);
  if (s.ok() && principal != nullptr) *principal = who.name;
  return s;
}

Status Auth::AuthorizeAs(const std::string& authorization_header, const std::string& method,
                         RouteClass cls, Principal* who) const {
  if (cls == RouteClass::kPublic) {
    *who = Principal{};
    return Status::Ok();
  }
  if (cls == RouteClass::kRead && !IsReadMethod(method)) cls = RouteClass::kWrite;

  const std::string h = Trim(authorization_header);
  if (h.empty()) {
    return Status::Unauthorized("missing token: send Authorization: Bearer TOKEN");
  }
  size_t sp = h.find_first_of(" \t");
  if (sp == std::string::npos || !IEquals(h.substr(0, sp), "Bearer")) {
    return Status::Unauthorized(
        "unsupported authorization scheme: send Authorization: Bearer TOKEN");
  }
  const std::string token = Trim(h.substr(sp + 1));
  const Digest d = Hash(token);
  // Look at every entry, without an early exit, so timing does not reveal which one matched.
  std::shared_lock<std::shared_mutex> lk(cred_mu_);
  const Known* match = nullptr;
  for (const auto& k : known_) {
    if (CRYPTO_memcmp(k.digest.data(), d.data(), d.size()) == 0) match = &k;
  }
  Known node_cred;
  if (match == nullptr) {
    // A lookup by the digest of what was sent reveals nothing about any stored credential.
    auto it = credentials_.find(d);
    if (it != credentials_.end()) {
      node_cred = {"node:" + it->second, Role::kAgent, d, it->second};
      match = &node_cred;
    }
  }
  if (match == nullptr || token.empty()) return Status::Unauthorized("unknown token");

  bool allowed = false;
  switch (match->role) {
    case Role::kAdmin:
      allowed = cls != RouteClass::kAgent;  // an admin is not a node
      break;
    case Role::kRead:
      allowed = cls == RouteClass::kRead;
      break;
    case Role::kAgent:
      allowed = cls == RouteClass::kAgent;
      break;
  }
  if (!allowed) {
    std::string why = "token " + match->name + " (role " + RoleName(match->role) +
                      ") may not call " + method + " on " + RouteClassName(cls) + " routes";
    if (cls == RouteClass::kAgent) why += " (agent routes are for node agents only)";
    return Status::Forbidden(why);
  }
  *who = Principal{match->name, match->role, match->node};
  return Status::Ok();
}

}  // namespace tide
