#include "server/api_key_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "common/file_check.h"
#include "common/logging.h"

namespace mies::server {

namespace {

constexpr std::string_view kHashPrefix = "sha256:";
constexpr char kFileRule[] =
    "rule: one key per line of printable ASCII without blanks, or sha256:<64 hex digits>; "
    "blank lines and lines starting with # are ignored";

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view StripLeadingBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view StripBlanks(std::string_view s) {
  s = StripLeadingBlanks(s);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// ASCII case-insensitive prefix test.
bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

ApiKeyStore::Hash ApiKeyStore::Sha256(std::string_view data) {
  Hash out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    // Cannot happen with a working libcrypto; a hash no key has keeps the check closed.
    MIES_LOG_ERROR("SHA-256 failed in libcrypto");
    out.fill(0);
  }
  return out;
}

StatusOr<std::vector<ApiKeyStore::Hash>> ApiKeyStore::ParseKeys(std::string_view text) {
  std::vector<Hash> keys;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    line = StripBlanks(line);  // also a CRLF file's '\r'
    if (line.empty() || line.front() == '#') continue;
    if (StartsWithNoCase(line, kHashPrefix)) {
      std::string_view hex = line.substr(kHashPrefix.size());
      Hash h{};
      bool ok = hex.size() == 2 * h.size();
      for (size_t i = 0; ok && i < h.size(); ++i) {
        const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        h[i] = static_cast<unsigned char>(hi * 16 + lo);
      }
      if (!ok) {
        return InvalidArgument("line ", line_no,
                               ": a sha256: line needs exactly 64 hex digits after the prefix");
      }
      keys.push_back(h);
      continue;
    }
    for (char c : line) {
      if (c <= ' ' || c >= 0x7f) {
        return InvalidArgument("line ", line_no,
                               ": a key must be printable ASCII without blanks (what a client "
                               "can send after \"Bearer \")");
      }
    }
    keys.push_back(Sha256(line));
  }
  if (keys.empty()) return InvalidArgument("holds no API key");
  return keys;
}

std::optional<std::string_view> ApiKeyStore::BearerToken(std::string_view authorization) {
  std::string_view v = StripBlanks(authorization);
  constexpr std::string_view kScheme = "Bearer";
  if (v.size() <= kScheme.size() || !StartsWithNoCase(v, kScheme) ||
      (v[kScheme.size()] != ' ' && v[kScheme.size()] != '\t')) {
    return std::nullopt;
  }
  std::string_view token = StripLeadingBlanks(v.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return token;
}

StatusOr<std::unique_ptr<ApiKeyStore>> ApiKeyStore::Create(std::string path, std::string field,
                                                           std::chrono::milliseconds interval) {
  std::unique_ptr<ApiKeyStore> s(new ApiKeyStore());
  s->path_ = std::move(path);
  s->field_ = std::move(field);
  s->interval_ = interval;
  // The stamp first: a file replaced while it is read is seen as changed at the next check.
  s->stamp_ = s->TakeStamp();
  MIES_ASSIGN_OR_RETURN(s->keys_, s->Load());
  s->next_check_ = std::chrono::steady_clock::now() + s->interval_;
  MIES_LOG_INFO("{}: {} API key(s) loaded from {}; the service plane requires one", s->field_,
                s->keys_->size(), s->path_);
  return s;
}

ApiKeyStore::Stamp ApiKeyStore::TakeStamp() const {
  Stamp st;
  struct stat sb {};
  // lstat: a file replaced by a link is a change (and then fails the rules).
  if (::lstat(path_.c_str(), &sb) == 0) {
    st.exists = true;
    st.dev = sb.st_dev;
    st.ino = sb.st_ino;
    st.size = static_cast<unsigned long long>(sb.st_size);
    st.mtime_ns = sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    st.ctime_ns = sb.st_ctim.tv_sec * 1000000000LL + sb.st_ctim.tv_nsec;
    st.mode = sb.st_mode;
    st.uid = sb.st_uid;
  }
  return st;
}

StatusOr<ApiKeyStore::Keys> ApiKeyStore::Load() const {
  // The file's messages name the field, the path and the rule broken.
  MIES_ASSIGN_OR_RETURN(std::string text,
                        ReadCheckedFile(path_, RuleFromEnv(kPrivateKeyMode), field_));
  auto keys = ParseKeys(text);
  // The text may hold plaintext keys: clear it before it is freed.
  OPENSSL_cleanse(text.data(), text.size());
  if (!keys.ok()) {
    return FailedPrecondition(field_, " ", path_, ": ", keys.status().message(), " (", kFileRule,
                              ")");
  }
  return std::make_shared<const std::vector<Hash>>(std::move(*keys));
}

ApiKeyStore::Keys ApiKeyStore::Current() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return keys_;
  next_check_ = now + interval_;
  Stamp stamp = TakeStamp();
  if (stamp == stamp_) return keys_;
  stamp_ = stamp;
  auto loaded = Load();
  if (!loaded.ok()) {
    MIES_LOG_ERROR(
        "{}: the changed API key file was not loaded, the previous {} key(s) stay in "
        "force: {}",
        field_, keys_->size(), std::string(loaded.status().message()));
    return keys_;
  }
  keys_ = std::move(*loaded);
  ++reloads_;
  MIES_LOG_INFO("{}: reloaded {}: {} API key(s)", field_, path_, keys_->size());
  return keys_;
}

bool ApiKeyStore::Matches(std::string_view key) {
  const Keys keys = Current();
  const Hash h = Sha256(key);
  // Every stored hash is compared, whatever matched before.
  unsigned found = 0;
  for (const Hash& k : *keys) {
    found |= static_cast<unsigned>(CRYPTO_memcmp(k.data(), h.data(), h.size()) == 0);
  }
  return found != 0;
}

ApiKeyStore::Verdict ApiKeyStore::Check(std::optional<std::string_view> authorization) {
  std::optional<std::string_view> token;
  if (authorization) token = BearerToken(*authorization);
  if (!token) return Verdict::kMissing;
  return Matches(*token) ? Verdict::kAccepted : Verdict::kWrong;
}

size_t ApiKeyStore::size() const {
  std::lock_guard lock(mu_);
  return keys_->size();
}

int ApiKeyStore::reloads() const {
  std::lock_guard lock(mu_);
  return reloads_;
}

}  // namespace mies::server
