// Store: Secrets (store.h "secrets"). Each row keeps the names of the keys in clear (for GET)
// and the data sealed by SecretCipher with the secret's name as associated data; values exist
// in clear only in memory.
#include <openssl/crypto.h>

#include <algorithm>

#include "api/json.h"
#include "daemon/store/secret_cipher.h"
#include "daemon/store/store.h"

namespace tide {
namespace {

#define TIDE_RETURN_IF_ERROR(expr) \
  do {                             \
    Status _s = (expr);            \
    if (!_s.ok()) return _s;       \
  } while (0)

constexpr const char* kSecretsTable = R"sql(
CREATE TABLE IF NOT EXISTS secrets (
  name TEXT PRIMARY KEY,
  labels TEXT NOT NULL,          -- JSON object
  keys TEXT NOT NULL,            -- JSON array of the data's keys (names only)
  sealed BLOB NOT NULL,          -- SecretCipher::Seal of the data as JSON, aad = name
  generation INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
)sql";

constexpr const char* kSecretColumns =
    "SELECT name, labels, keys, sealed, generation, created_ms, updated_ms FROM secrets ";

// Wipes the clear text of a data map before it is dropped.
void Wipe(StringMap* data) {
  for (auto& [k, v] : *data) OPENSSL_cleanse(v.data(), v.size());
  data->clear();
}

void Wipe(std::string* s) { OPENSSL_cleanse(s->data(), s->size()); }

void ReadInfo(const SqliteStmt& st, SecretInfo* info) {
  info->name = st.Text(0);
  info->labels = json::parse(st.Text(1), nullptr, false).get<StringMap>();
  info->keys = json::parse(st.Text(2), nullptr, false).get<std::vector<std::string>>();
  info->key_id = SecretCipher::KeyIdOf(st.Text(3));
  info->generation = st.Int(4);
  info->created_ms = st.Int(5);
  info->updated_ms = st.Int(6);
}

Status Unseal(const SecretCipher& cipher, const std::string& name, const std::string& sealed,
              StringMap* data) {
  std::string text;
  Status opened = cipher.Open(sealed, name, &text);
  if (!opened.ok()) return Status::Invalid("secret " + name + ": " + opened.message());
  json j = json::parse(text, nullptr, false);
  Wipe(&text);
  if (!j.is_object()) return Status::Internal("secret " + name + ": sealed data is not a map");
  Status s = Status::Ok();
  for (auto it = j.begin(); it != j.end(); ++it) {
    auto* v = it.value().get_ptr<std::string*>();
    if (v == nullptr) {
      s = Status::Internal("secret " + name + ": a sealed value is not a string");
      continue;
    }
    (*data)[it.key()] = *v;
    Wipe(v);
  }
  return s;
}

Status Seal(const SecretCipher& cipher, const std::string& name, const StringMap& data,
            std::string* sealed) {
  std::string text = json(data).dump();
  Status s = cipher.Seal(text, name, sealed);
  Wipe(&text);
  return s;
}

}  // namespace

void Store::SetSecretCipher(std::shared_ptr<const SecretCipher> cipher) {
  std::lock_guard<std::mutex> lock(mu_);
  cipher_ = std::move(cipher);
}

Status Store::CreateSecretsTableLocked() { return db_.Exec(kSecretsTable); }

Status Store::ReadSecretLocked(const std::string& name, SecretInfo* info, StringMap* data,
                               bool* found) {
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare(std::string(kSecretColumns) + "WHERE name = ?1", &st));
  st.Bind(1, name);
  TIDE_RETURN_IF_ERROR(st.Step(found));
  if (!*found) return Status::Ok();
  ReadInfo(st, info);
  if (data == nullptr) return Status::Ok();
  if (!cipher_) return Status::Invalid("tided has no secrets key");
  return Unseal(*cipher_, name, st.Text(3), data);
}

Status Store::ApplySecretLocked(const Object& o, int64_t now, std::vector<ApplyResult>* out,
                                std::set<std::string>* changed_secrets, bool* changed) {
  const std::string& name = o.metadata.name;
  if (!cipher_) {
    return Status::Invalid("Secret " + name + ": tided has no secrets key (--secrets-key-file)");
  }
  SecretInfo old;
  StringMap old_data;
  bool found = false;
  Status rs = ReadSecretLocked(name, &old, &old_data, &found);
  const bool same_data = found && old_data == o.secret.data;
  Wipe(&old_data);
  TIDE_RETURN_IF_ERROR(rs);
  ApplyResult r{Kind::kSecret, name, "unchanged", old.generation};
  if (same_data && old.labels == o.metadata.labels) {
    out->push_back(std::move(r));
    return Status::Ok();
  }
  std::string sealed;
  TIDE_RETURN_IF_ERROR(Seal(*cipher_, name, o.secret.data, &sealed));
  json keys = json::array();
  for (const auto& [k, v] : o.secret.data) keys.push_back(k);
  r.generation = found ? old.generation + (same_data ? 0 : 1) : 1;
  SqliteStmt up;
  TIDE_RETURN_IF_ERROR(db_.Prepare(
      "INSERT INTO secrets (name, labels, keys, sealed, generation, created_ms, updated_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (name) DO UPDATE SET "
      "labels = excluded.labels, keys = excluded.keys, sealed = excluded.sealed, "
      "generation = excluded.generation, updated_ms = excluded.updated_ms",
      &up));
  up.Bind(1, name);
  up.Bind(2, json(o.metadata.labels).dump());
  up.Bind(3, keys.dump());
  up.BindBlob(4, sealed);
  up.Bind(5, r.generation);
  up.Bind(6, now);
  TIDE_RETURN_IF_ERROR(up.Run());
  r.action = found ? "configured" : "created";
  if (!same_data) changed_secrets->insert(name);
  *changed = true;
  out->push_back(std::move(r));
  return Status::Ok();
}

Status Store::BumpSecretUsersLocked(const std::set<std::string>& changed,
                                    const std::vector<ApplyResult>& applied, int64_t now) {
  if (changed.empty()) return Status::Ok();
  std::set<std::string> skip;
  for (const auto& r : applied) {
    if (r.kind != Kind::kSecret && r.kind != Kind::kLayer && r.action != "unchanged") {
      skip.insert(r.name);
    }
  }
  std::vector<StoredObject> workloads;
  TIDE_RETURN_IF_ERROR(ListLocked("workload", &workloads));
  for (const auto& w : workloads) {
    const std::string& name = w.object.metadata.name;
    if (skip.count(name)) continue;
    const auto& refs = w.object.spec.secret_env;
    if (std::none_of(refs.begin(), refs.end(),
                     [&](const auto& e) { return changed.count(e.second.name) > 0; })) {
      continue;
    }
    SqliteStmt up;
    TIDE_RETURN_IF_ERROR(
        db_.Prepare("UPDATE objects SET generation = generation + 1, updated_ms = ?2 "
                    "WHERE ns = 'workload' AND name = ?1",
                    &up));
    up.Bind(1, name);
    up.Bind(2, now);
    TIDE_RETURN_IF_ERROR(up.Run());
  }
  return Status::Ok();
}

Status Store::OpenSecrets(const SecretCipher* rotate_from, int* rotated) {
  *rotated = 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (!cipher_) return Status::Invalid("tided has no secrets key");
  TIDE_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  Status result = [&]() -> Status {
    std::vector<std::pair<std::string, std::string>> rows;
    {
      SqliteStmt st;
      TIDE_RETURN_IF_ERROR(db_.Prepare("SELECT name, sealed FROM secrets ORDER BY name", &st));
      for (bool row = true;;) {
        TIDE_RETURN_IF_ERROR(st.Step(&row));
        if (!row) break;
        rows.emplace_back(st.Text(0), st.Text(1));
      }
    }
    for (const auto& [name, sealed] : rows) {
      const std::string id = SecretCipher::KeyIdOf(sealed);
      StringMap data;
      if (rotate_from != nullptr && id == rotate_from->key_id() && id != cipher_->key_id()) {
        TIDE_RETURN_IF_ERROR(Unseal(*rotate_from, name, sealed, &data));
        std::string resealed;
        Status s = Seal(*cipher_, name, data, &resealed);
        Wipe(&data);
        TIDE_RETURN_IF_ERROR(s);
        SqliteStmt up;
        TIDE_RETURN_IF_ERROR(db_.Prepare("UPDATE secrets SET sealed = ?2 WHERE name = ?1", &up));
        up.Bind(1, name);
        up.BindBlob(2, resealed);
        TIDE_RETURN_IF_ERROR(up.Run());
        ++*rotated;
        continue;
      }
      Status s = Unseal(*cipher_, name, sealed, &data);
      Wipe(&data);
      TIDE_RETURN_IF_ERROR(s);
    }
    return Status::Ok();
  }();
  if (!result.ok()) {
    db_.Exec("ROLLBACK");
    *rotated = 0;
    return result;
  }
  return db_.Exec("COMMIT");
}

Status Store::ListSecrets(std::vector<SecretInfo>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare(std::string(kSecretColumns) + "ORDER BY name", &st));
  for (bool row = true;;) {
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row) break;
    SecretInfo info;
    ReadInfo(st, &info);
    out->push_back(std::move(info));
  }
  return Status::Ok();
}

Status Store::GetSecret(const std::string& name, SecretInfo* out) {
  std::lock_guard<std::mutex> lock(mu_);
  bool found = false;
  TIDE_RETURN_IF_ERROR(ReadSecretLocked(name, out, nullptr, &found));
  if (!found) return Status::NotFound("secret " + name + " not found");
  return Status::Ok();
}

Status Store::SecretValues(std::map<std::string, StringMap>* out) {
  for (auto& [n, d] : *out) Wipe(&d);
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  if (!cipher_) return Status::Ok();
  SqliteStmt st;
  TIDE_RETURN_IF_ERROR(db_.Prepare("SELECT name, sealed FROM secrets", &st));
  for (bool row = true;;) {
    TIDE_RETURN_IF_ERROR(st.Step(&row));
    if (!row) break;
    const std::string name = st.Text(0);
    TIDE_RETURN_IF_ERROR(Unseal(*cipher_, name, st.Text(1), &(*out)[name]));
  }
  return Status::Ok();
}

Status Store::DeleteSecret(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<StoredObject> workloads;
    TIDE_RETURN_IF_ERROR(ListLocked("workload", &workloads));
    for (const auto& w : workloads) {
      for (const auto& [env, ref] : w.object.spec.secret_env) {
        if (ref.name == name) {
          return Status::Conflict("secret " + name + " is still used by workload " +
                                  w.object.metadata.name + " (env " + env +
                                  "); delete or change the workload first");
        }
      }
    }
    SqliteStmt del;
    TIDE_RETURN_IF_ERROR(db_.Prepare("DELETE FROM secrets WHERE name = ?1", &del));
    del.Bind(1, name);
    TIDE_RETURN_IF_ERROR(del.Run());
    if (db_.Changes() == 0) return Status::NotFound("secret " + name + " not found");
    ++revision_;
  }
  NotifyChanged();
  return Status::Ok();
}

}  // namespace tide
