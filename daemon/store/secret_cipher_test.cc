#include "daemon/store/secret_cipher.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace tide {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tide-cipher-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::unique_ptr<SecretCipher> Cipher(char fill, const std::string& label = "test.key") {
  std::unique_ptr<SecretCipher> c;
  EXPECT_TRUE(SecretCipher::FromKey(std::string(32, fill), label, &c).ok());
  return c;
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

TEST(SecretCipherTest, SealThenOpenGivesThePlaintextBackAndHidesIt) {
  auto c = Cipher('k');
  std::string sealed, back;
  ASSERT_TRUE(c->Seal("hunter2-correct-horse", "db", &sealed).ok());
  EXPECT_EQ(sealed.find("hunter2"), std::string::npos);
  EXPECT_EQ(SecretCipher::KeyIdOf(sealed), c->key_id());
  ASSERT_TRUE(c->Open(sealed, "db", &back).ok());
  EXPECT_EQ(back, "hunter2-correct-horse");
  std::string empty;
  ASSERT_TRUE(c->Seal("", "db", &sealed).ok());
  ASSERT_TRUE(c->Open(sealed, "db", &empty).ok());
  EXPECT_EQ(empty, "");
}

TEST(SecretCipherTest, EveryFlippedByteIsRefusedWithoutShowingThePlaintext) {
  auto c = Cipher('k');
  std::string sealed;
  ASSERT_TRUE(c->Seal("s3cr3t-value", "db", &sealed).ok());
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    std::string out = "untouched";
    Status s = c->Open(bad, "db", &out);
    ASSERT_FALSE(s.ok()) << "byte " << i;
    EXPECT_EQ(out, "untouched");
    EXPECT_EQ(s.message().find("s3cr3t"), std::string::npos);
  }
  std::string out;
  EXPECT_FALSE(c->Open(sealed.substr(0, sealed.size() - 1), "db", &out).ok());
  EXPECT_FALSE(c->Open("", "db", &out).ok());
  EXPECT_FALSE(c->Open("TS1", "db", &out).ok());
}

TEST(SecretCipherTest, AValueMovedToAnotherSecretDoesNotOpen) {
  auto c = Cipher('k');
  std::string sealed, out;
  ASSERT_TRUE(c->Seal("v", "db", &sealed).ok());
  Status s = c->Open(sealed, "cache", &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("failed authentication"), std::string::npos) << s.message();
}

TEST(SecretCipherTest, WrongKeyNamesTheKeyFileAndBothKeyIds) {
  auto a = Cipher('a', "/etc/tide/old.key");
  auto b = Cipher('b', "/etc/tide/secrets.key");
  ASSERT_NE(a->key_id(), b->key_id());
  std::string sealed, out;
  ASSERT_TRUE(a->Seal("v", "db", &sealed).ok());
  Status s = b->Open(sealed, "db", &out);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/etc/tide/secrets.key"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(a->key_id()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--secrets-rotate-from"), std::string::npos) << s.message();
}

TEST(SecretCipherTest, NoncesAreUniqueAcrossManySeals) {
  auto c = Cipher('k');
  std::set<std::string> nonces;
  std::set<std::string> sealed_values;
  constexpr int kSeals = 20000;
  for (int i = 0; i < kSeals; ++i) {
    std::string sealed;
    ASSERT_TRUE(c->Seal("same plaintext", "db", &sealed).ok());
    nonces.insert(sealed.substr(3 + SecretCipher::kKeyIdBytes, SecretCipher::kNonceBytes));
    sealed_values.insert(sealed);
  }
  EXPECT_EQ(nonces.size(), static_cast<size_t>(kSeals));
  EXPECT_EQ(sealed_values.size(), static_cast<size_t>(kSeals));
}

TEST(SecretCipherTest, LoadOrCreateWritesAPrivateKeyOnceAndReadsItBack) {
  TempDir d;
  const std::string path = d.File("secrets.key");
  bool created = false;
  std::unique_ptr<SecretCipher> first, second;
  ASSERT_TRUE(SecretCipher::LoadOrCreate(path, &created, &first).ok());
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(SecretCipher::LoadOrCreate(path, &created, &second).ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(first->key_id(), second->key_id());
  std::string sealed, out;
  ASSERT_TRUE(first->Seal("v", "db", &sealed).ok());
  ASSERT_TRUE(second->Open(sealed, "db", &out).ok());
  EXPECT_EQ(out, "v");
}

TEST(SecretCipherTest, BadKeyFilesAreRefusedNamingTheFileNeverEchoingIt) {
  TempDir d;
  std::unique_ptr<SecretCipher> c;
  Status missing = SecretCipher::Load(d.File("absent.key"), &c);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("absent.key"), std::string::npos);

  const std::string short_key = d.File("short.key");
  WriteFile(short_key, "deadbeefSECRETISH\n", 0600);
  Status s = SecretCipher::Load(short_key, &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("short.key"), std::string::npos);
  EXPECT_NE(s.message().find("64 hex digits"), std::string::npos);
  EXPECT_EQ(s.message().find("SECRETISH"), std::string::npos);

  const std::string not_hex = d.File("nothex.key");
  WriteFile(not_hex, std::string(63, 'a') + "z\n", 0600);
  EXPECT_FALSE(SecretCipher::Load(not_hex, &c).ok());

  const std::string open_key = d.File("open.key");
  WriteFile(open_key, std::string(64, 'a') + "\n", 0644);
  Status o = SecretCipher::Load(open_key, &c);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.message().find("0644"), std::string::npos) << o.message();
  EXPECT_NE(o.message().find("chmod 600"), std::string::npos) << o.message();

  const std::string good = d.File("good.key");
  WriteFile(good, std::string(64, 'A') + "\r\n", 0600);
  EXPECT_TRUE(SecretCipher::Load(good, &c).ok());
}

}  // namespace
}  // namespace tide
