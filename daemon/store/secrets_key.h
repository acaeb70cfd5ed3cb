// SetUpSecretsKey: tided's start-up step for encryption at rest (docs/security.md "Secrets at
// rest", docs/operations.md `--secrets-key-file`, `--secrets-rotate-from`).
//
//  - key_file "" means DATA_DIR/secrets.key, created (0600, a new random key) when absent;
//    a key_file given explicitly must exist (a typo must not silently start a new key).
//  - rotate_from (optional): the previous key file; every secret it sealed is re-sealed with
//    the current key, in one transaction, before anything else runs.
//  - then every stored secret must open with the current key, else tided does not start: the
//    error names the secret, both key ids and the key file.
// *notes gets the lines to log (key created, secrets rotated): never key material.
#pragma once

#include <string>
#include <vector>

#include "api/status.h"
#include "daemon/store/store.h"

namespace tide {

Status SetUpSecretsKey(ObjectStore& store, const std::string& data_dir, const std::string& key_file,
                       const std::string& rotate_from, std::vector<std::string>* notes);

}  // namespace tide
