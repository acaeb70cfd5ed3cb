#include "daemon/store/secret_cipher.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "api/private_file.h"

namespace tide {
namespace {

constexpr char kMagic[] = "TS1";
constexpr size_t kMaxKeyFileBytes = 4096;

std::string Hex(const unsigned char* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// Reads a small key file after checking that it is a regular file only its owner can use.
Status ReadKeyFile(const std::string& path, std::string* text) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Invalid("secrets key file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Invalid("secrets key file " + path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Invalid("secrets key file " + path +
                           " is readable or writable by others (mode " + mode +
                           "); make it 0600 (chmod 600 " + path + ")");
  }
  text->clear();
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::Invalid("secrets key file " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    text->append(buf, static_cast<size_t>(n));
    if (text->size() > kMaxKeyFileBytes) break;
  }
  ::close(fd);
  return Status::Ok();
}

}  // namespace

SecretCipher::SecretCipher(std::string_view key, std::string label) : label_(std::move(label)) {
  std::memcpy(key_, key.data(), kKeyBytes);
  static const char kIdPrefix[] = "tide secrets key";
  unsigned char buf[sizeof kIdPrefix - 1 + kKeyBytes];
  std::memcpy(buf, kIdPrefix, sizeof kIdPrefix - 1);
  std::memcpy(buf + sizeof kIdPrefix - 1, key_, kKeyBytes);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(buf, sizeof buf, digest, &digest_len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(buf, sizeof buf);
  key_id_raw_.assign(reinterpret_cast<const char*>(digest), kKeyIdBytes);
  key_id_hex_ = Hex(digest, kKeyIdBytes);
}

SecretCipher::~SecretCipher() { OPENSSL_cleanse(key_, sizeof key_); }

Status SecretCipher::FromKey(std::string_view key, const std::string& label,
                             std::unique_ptr<SecretCipher>* out) {
  if (key.size() != kKeyBytes) {
    return Status::Invalid("secrets key " + label + ": want " + std::to_string(kKeyBytes) +
                           " bytes, got " + std::to_string(key.size()));
  }
  out->reset(new SecretCipher(key, label));
  return Status::Ok();
}

Status SecretCipher::NewKeyText(std::string* out) {
  unsigned char key[kKeyBytes];
  if (RAND_bytes(key, sizeof key) != 1) return Status::Internal("RAND_bytes failed");
  *out = Hex(key, sizeof key) + "\n";
  OPENSSL_cleanse(key, sizeof key);
  return Status::Ok();
}

Status SecretCipher::Load(const std::string& path, std::unique_ptr<SecretCipher>* out) {
  std::string text;
  Status s = ReadKeyFile(path, &text);
  if (!s.ok()) return s;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::string key;
  bool ok = text.size() == 2 * kKeyBytes;
  for (size_t i = 0; ok && i < text.size(); i += 2) {
    int hi = HexValue(text[i]), lo = HexValue(text[i + 1]);
    ok = hi >= 0 && lo >= 0;
    if (ok) key += static_cast<char>(hi * 16 + lo);
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (!ok) {
    OPENSSL_cleanse(key.data(), key.size());
    return Status::Invalid("secrets key file " + path +
                           " does not hold a key: want 64 hex digits (32 bytes), e.g. from "
                           "`openssl rand -hex 32`");
  }
  s = FromKey(key, path, out);
  OPENSSL_cleanse(key.data(), key.size());
  return s;
}

Status SecretCipher::LoadOrCreate(const std::string& path, bool* created,
                                  std::unique_ptr<SecretCipher>* out) {
  *created = false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    std::string text;
    Status s = NewKeyText(&text);
    if (s.ok()) s = WritePrivateFile(path, text);
    OPENSSL_cleanse(text.data(), text.size());
    if (!s.ok()) return Status::Invalid("secrets key file " + path + ": " + s.message());
    *created = true;
  }
  return Load(path, out);
}

Status SecretCipher::Seal(std::string_view plaintext, std::string_view aad,
                          std::string* sealed) const {
  unsigned char nonce[kNonceBytes];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return Status::Internal("RAND_bytes failed");
  Ctx ctx(EVP_CIPHER_CTX_new());
  std::string out(kMagic, 3);
  out += key_id_raw_;
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const size_t body = out.size();
  out.resize(body + plaintext.size() + kTagBytes);
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + body);
  int len = 0, fin = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_, nonce) &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) &&
            EVP_EncryptUpdate(ctx.get(), dst, &len,
                              reinterpret_cast<const unsigned char*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) &&
            EVP_EncryptFinal_ex(ctx.get(), dst + len, &fin) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, dst + plaintext.size());
  if (!ok) return Status::Internal("secrets: AES-256-GCM encryption failed");
  *sealed = std::move(out);
  return Status::Ok();
}

std::string SecretCipher::KeyIdOf(std::string_view sealed) {
  if (sealed.size() < kHeaderBytes + kTagBytes || sealed.substr(0, 3) != kMagic) return "";
  return Hex(reinterpret_cast<const unsigned char*>(sealed.data() + 3), kKeyIdBytes);
}

Status SecretCipher::Open(std::string_view sealed, std::string_view aad,
                          std::string* plaintext) const {
  const std::string id = KeyIdOf(sealed);
  if (id.empty()) return Status::Invalid("secrets: stored value is not in the sealed form");
  if (id != key_id_hex_) {
    return Status::Invalid("secrets: value was sealed with key id " + id + ", but the key in " +
                           label_ + " has id " + key_id_hex_ +
                           "; start tided with the key file that sealed it (after a key change, "
                           "once with --secrets-rotate-from OLD_KEY_FILE)");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + 3 + kKeyIdBytes);
  const size_t n = sealed.size() - kHeaderBytes - kTagBytes;
  const auto* ct = reinterpret_cast<const unsigned char*>(sealed.data() + kHeaderBytes);
  unsigned char tag[kTagBytes];
  std::memcpy(tag, ct + n, kTagBytes);
  std::string out(n, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0, fin = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_, nonce) &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, ct,
                              static_cast<int>(n)) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag);
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len,
                                 &fin) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return Status::Invalid("secrets: a stored value failed authentication with the key in " +
                           label_ + " (the ciphertext was altered, or belongs to another secret)");
  }
  *plaintext = std::move(out);
  return Status::Ok();
}

}  // namespace tide
