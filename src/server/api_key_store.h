// The service plane's optional API keys (ServerConfig.apiKeyFile), sent as OpenAI clients send
// them: `Authorization: Bearer <key>`. The file follows MindIE's key-file rules (mode 0600 or
// stricter, owned by the running user, not a symlink) and holds one key per line; blank lines
// and lines starting with `#` are ignored, and a line `sha256:<64 hex digits>` is a key already
// hashed, so operators need not keep plaintext keys on disk. Only SHA-256 hashes are held; a
// presented key is hashed and compared with every stored hash in constant time, without an
// early exit.
//
// Keys change without a restart, as the CRLs of client_verify_store.h do: on a check, at most
// once per `check_interval`, the file's stat stamp (inode, size, mtime, ctime) is compared with
// the one the current keys were read from; when it changed the file is read again. A read that
// fails (file rules, a malformed line, no key) keeps the previous keys and logs an error once
// per change of the file.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mies::server {

class ApiKeyStore {
 public:
  using Hash = std::array<unsigned char, 32>;  // SHA-256

  enum class Verdict {
    kAccepted,
    kMissing,  // no Authorization header, or not a Bearer one, or an empty token
    kWrong,    // a Bearer token that matches no key
  };

  // Reads `path` (absolute) under the key-file rules; `field` names the config field in errors
  // and logs ("ServerConfig.apiKeyFile"). Fails, naming the field, the path and the rule, when
  // the file is missing, breaks a rule, has a malformed line or holds no key. Logs how many keys
  // were loaded (never the keys).
  static StatusOr<std::unique_ptr<ApiKeyStore>> Create(
      std::string path, std::string field,
      std::chrono::milliseconds check_interval = std::chrono::seconds(1));
  ApiKeyStore(const ApiKeyStore&) = delete;
  ApiKeyStore& operator=(const ApiKeyStore&) = delete;

  // The verdict on a request's Authorization header value (nullopt: no such header). Reloads
  // first when due and the file changed. Thread-safe.
  Verdict Check(std::optional<std::string_view> authorization);
  // Whether `key` is one of the keys (reloads as Check does).
  bool Matches(std::string_view key);

  size_t size() const;  // keys in force
  int reloads() const;  // successful re-reads since start (not counting the first)

  // The file's text as hashes: one per key line (plaintext hashed, sha256: lines decoded).
  // Errors name the line number, never its content; no key at all is an error.
  static StatusOr<std::vector<Hash>> ParseKeys(std::string_view text);
  static Hash Sha256(std::string_view data);
  // The token of "Bearer <token>" (scheme case-insensitive, surrounding blanks dropped);
  // nullopt for any other scheme or an empty token.
  static std::optional<std::string_view> BearerToken(std::string_view authorization);

 private:
  struct Stamp {
    bool exists = false;
    unsigned long long dev = 0, ino = 0, size = 0;
    long long mtime_ns = 0, ctime_ns = 0;
    unsigned mode = 0, uid = 0;
    bool operator==(const Stamp&) const = default;
  };
  using Keys = std::shared_ptr<const std::vector<Hash>>;

  ApiKeyStore() = default;
  Stamp TakeStamp() const;
  StatusOr<Keys> Load() const;
  Keys Current();  // reloads when due and changed

  std::string path_, field_;
  std::chrono::milliseconds interval_{1000};

  mutable std::mutex mu_;
  Keys keys_;
  Stamp stamp_;  // of the last read attempt, good or bad
  std::chrono::steady_clock::time_point next_check_;
  int reloads_ = 0;
};

}  // namespace mies::server
