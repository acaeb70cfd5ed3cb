#include "daemon/store/secrets_key.h"

#include "daemon/store/secret_cipher.h"

namespace tide {

Status SetUpSecretsKey(ObjectStore& store, const std::string& data_dir, const std::string& key_file,
                       const std::string& rotate_from, std::vector<std::string>* notes) {
  std::unique_ptr<SecretCipher> cipher;
  Status s;
  if (key_file.empty()) {
    const std::string path = data_dir + "/secrets.key";
    bool created = false;
    s = SecretCipher::LoadOrCreate(path, &created, &cipher);
    if (s.ok() && created) {
      notes->push_back("secrets: generated a new secrets key in " + path + " (mode 0600, key id " +
                       cipher->key_id() +
                       "); back it up: stored Secrets cannot be read without it");
    }
  } else {
    s = SecretCipher::Load(key_file, &cipher);
  }
  if (!s.ok()) return s;
  std::unique_ptr<SecretCipher> old;
  if (!rotate_from.empty()) {
    s = SecretCipher::Load(rotate_from, &old);
    if (!s.ok()) return Status::Invalid("--secrets-rotate-from: " + s.message());
  }
  const std::string id = cipher->key_id();
  store.SetSecretCipher(std::shared_ptr<const SecretCipher>(std::move(cipher)));
  int rotated = 0;
  s = store.OpenSecrets(old.get(), &rotated);
  if (!s.ok()) return s;
  if (old) {
    notes->push_back("secrets: re-sealed " + std::to_string(rotated) + " secret(s) from key id " +
                     old->key_id() + " to key id " + id + "; the old key file is no longer needed");
  }
  return Status::Ok();
}

}  // namespace tide
