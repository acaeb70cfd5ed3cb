// SecretCipher: encryption at rest of Secret data (docs/security.md "Secrets at rest").
//
// AES-256-GCM through OpenSSL. The key is 32 bytes held in a key file (`tided
// --secrets-key-file`, default DATA_DIR/secrets.key) as 64 hex digits and an optional newline;
// the file must not be readable by group or others. LoadOrCreate writes a fresh random key
// (mode 0600, atomically) when the file does not exist.
//
// Sealed form: "TS1" | key id (8 bytes) | nonce (12 bytes, random per Seal) | ciphertext | tag
// (16 bytes). The key id is the first 8 bytes of SHA-256("tide secrets key" || key): it names
// which key sealed a value without revealing anything about it, so a wrong key file is told apart
// from damaged data. `aad` (the secret's name) is authenticated: a value moved to another row
// does not open.
//
// Errors never contain plaintext or key material; they name the key file. Thread-safe (const).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "api/status.h"

namespace tide {

class SecretCipher {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;
  static constexpr size_t kKeyIdBytes = 8;
  static constexpr size_t kHeaderBytes = 3 + kKeyIdBytes + kNonceBytes;

  // Reads `path` (64 hex digits). Invalid, naming the file, when absent, unreadable, readable
  // by group/others, or not a key.
  static Status Load(const std::string& path, std::unique_ptr<SecretCipher>* out);
  // Like Load, but creates `path` with a new random key first when it does not exist.
  static Status LoadOrCreate(const std::string& path, bool* created,
                             std::unique_ptr<SecretCipher>* out);
  // From raw key bytes (tests); `label` stands for the file in messages.
  static Status FromKey(std::string_view key, const std::string& label,
                        std::unique_ptr<SecretCipher>* out);
  // 64 hex digits of a new random key, the key file's content.
  static Status NewKeyText(std::string* out);

  ~SecretCipher();
  SecretCipher(const SecretCipher&) = delete;
  SecretCipher& operator=(const SecretCipher&) = delete;

  const std::string& key_id() const { return key_id_hex_; }  // 16 hex digits
  const std::string& label() const { return label_; }        // the key file

  Status Seal(std::string_view plaintext, std::string_view aad, std::string* sealed) const;
  // Invalid when `sealed` is not in the sealed form, was sealed with another key (the message
  // names both key ids and this key's file) or fails authentication (altered, or another aad).
  Status Open(std::string_view sealed, std::string_view aad, std::string* plaintext) const;
  // The key id (hex) a sealed value names, "" when it is not in the sealed form.
  static std::string KeyIdOf(std::string_view sealed);

 private:
  SecretCipher(std::string_view key, std::string label);

  unsigned char key_[kKeyBytes];
  std::string key_id_raw_;
  std::string key_id_hex_;
  std::string label_;
};

}  // namespace tide
