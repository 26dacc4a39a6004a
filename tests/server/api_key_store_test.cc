// The API key store (server/api_key_store.h): the key file's format, MindIE's key-file rules,
// the Bearer header, and reload without restart (a failed reload keeps the previous keys).
#include "server/api_key_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mies::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Verdict = ApiKeyStore::Verdict;
using namespace std::chrono_literals;

// SHA-256 of "abc" (FIPS 180-2's example).
constexpr char kAbcHex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string Hex(const ApiKeyStore::Hash& h) {
  std::string out;
  char buf[3];
  for (unsigned char b : h) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

std::string ParseError(std::string_view text) {
  auto keys = ApiKeyStore::ParseKeys(text);
  return keys.ok() ? "ok" : std::string(keys.status().message());
}

TEST(ApiKeyParseTest, HashesEveryKeyLineAndSkipsCommentsAndBlanks) {
  auto keys = ApiKeyStore::ParseKeys(
      "# team keys\n\nsk-one\n  sk-two  \r\n\t# indented comment\nsha256:" + std::string(kAbcHex) +
      "\n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0], ApiKeyStore::Sha256("sk-one"));
  EXPECT_EQ((*keys)[1], ApiKeyStore::Sha256("sk-two"));  // blanks and CR around it dropped
  EXPECT_EQ(Hex((*keys)[2]), kAbcHex);
  EXPECT_EQ(Hex(ApiKeyStore::Sha256("abc")), kAbcHex);
}

TEST(ApiKeyParseTest, HashedLinesTakeEitherCase) {
  std::string upper = kAbcHex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto keys = ApiKeyStore::ParseKeys("SHA256:" + upper);  // no final newline
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(Hex((*keys)[0]), kAbcHex);
}

TEST(ApiKeyParseTest, MalformedLinesNameTheLineNotTheKey) {
  EXPECT_EQ(ParseError("k1\nsha256:abcd\n"),
            "line 2: a sha256: line needs exactly 64 hex digits after the prefix");
  EXPECT_EQ(ParseError("sha256:" + std::string(63, 'a') + "g"),
            "line 1: a sha256: line needs exactly 64 hex digits after the prefix");
  EXPECT_EQ(ParseError("sha256:" + std::string(65, 'a')),
            "line 1: a sha256: line needs exactly 64 hex digits after the prefix");
  const std::string bad = ParseError("# c\nsecret with-space\n");
  EXPECT_THAT(bad, HasSubstr("line 2: a key must be printable ASCII without blanks"));
  EXPECT_THAT(bad, Not(HasSubstr("secret")));
  EXPECT_THAT(ParseError("caf\xc3\xa9"), HasSubstr("line 1: a key must be printable ASCII"));
}

TEST(ApiKeyParseTest, NoKeyIsAnError) {
  EXPECT_EQ(ParseError(""), "holds no API key");
  EXPECT_EQ(ParseError("# only a comment\n\n   \n"), "holds no API key");
}

TEST(ApiKeyParseTest, BearerToken) {
  EXPECT_EQ(ApiKeyStore::BearerToken("Bearer sk-1"), "sk-1");
  EXPECT_EQ(ApiKeyStore::BearerToken("bearer   sk-1  "), "sk-1");
  EXPECT_EQ(ApiKeyStore::BearerToken("BEARER\tsk-1"), "sk-1");
  EXPECT_EQ(ApiKeyStore::BearerToken("Basic dXNlcjpwdw=="), std::nullopt);
  EXPECT_EQ(ApiKeyStore::BearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(ApiKeyStore::BearerToken("Bearer   "), std::nullopt);
  EXPECT_EQ(ApiKeyStore::BearerToken("Bearersk-1"), std::nullopt);
  EXPECT_EQ(ApiKeyStore::BearerToken(""), std::nullopt);
}

class ApiKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mies_api_keys_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/api-keys.txt";
    unsetenv("MINDIE_CHECK_INPUTFILES_PERMISSION");
    // Log lines into log_, to check what is (and is not) logged.
    previous_ = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("api_key_store_test", sink));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    std::filesystem::remove_all(dir_);
  }

  // Replaces the file as an editor or `install` would: a new inode, renamed over the old one.
  void Write(const std::string& content, mode_t mode = 0600) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << content;
    ASSERT_EQ(chmod(tmp.c_str(), mode), 0);
    ASSERT_EQ(rename(tmp.c_str(), path_.c_str()), 0);
  }
  // interval 0: every check looks at the file.
  StatusOr<std::unique_ptr<ApiKeyStore>> Create(std::chrono::milliseconds interval = 0ms) {
    return ApiKeyStore::Create(path_, "ServerConfig.apiKeyFile", interval);
  }
  std::string CreateError() {
    auto s = Create();
    return s.ok() ? "ok" : std::string(s.status().message());
  }
  int Count(const std::string& needle) const {
    const std::string text = log_.str();
    int n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }

  std::string dir_, path_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(ApiKeyStoreTest, AcceptsItsKeysAndNothingElse) {
  Write("sk-alpha\nsha256:" + std::string(kAbcHex) + "\n");
  auto store = Create();
  ASSERT_TRUE(store.ok()) << store.status();
  ApiKeyStore& s = **store;
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.Matches("sk-alpha"));
  EXPECT_TRUE(s.Matches("abc"));  // the plaintext behind the sha256: line
  EXPECT_FALSE(s.Matches("sk-alph"));
  EXPECT_FALSE(s.Matches("sk-alpha "));
  EXPECT_FALSE(s.Matches(""));
  EXPECT_FALSE(s.Matches(kAbcHex));  // the hash itself is no key
  EXPECT_EQ(s.Check("Bearer sk-alpha"), Verdict::kAccepted);
  EXPECT_EQ(s.Check("bearer abc"), Verdict::kAccepted);
  EXPECT_EQ(s.Check("Bearer sk-beta"), Verdict::kWrong);
  EXPECT_EQ(s.Check(std::nullopt), Verdict::kMissing);
  EXPECT_EQ(s.Check("Basic c2stYWxwaGE6"), Verdict::kMissing);
  EXPECT_EQ(s.Check("Bearer "), Verdict::kMissing);
  // The count is logged, never a key.
  EXPECT_EQ(Count("ServerConfig.apiKeyFile: 2 API key(s) loaded from " + path_), 1) << log_.str();
  EXPECT_THAT(log_.str(), Not(HasSubstr("sk-alpha")));
}

TEST_F(ApiKeyStoreTest, KeyFileRulesNameFieldPathAndRule) {
  EXPECT_THAT(CreateError(), HasSubstr("ServerConfig.apiKeyFile " + path_ + ": cannot stat"));

  Write("sk-1\n", 0644);
  EXPECT_THAT(CreateError(), HasSubstr("ServerConfig.apiKeyFile " + path_ +
                                       ": mode 0644 is wider than 0600 (rule: permissions no "
                                       "greater than 0600"));
  Write("sk-1\n", 0640);
  EXPECT_THAT(CreateError(), HasSubstr("mode 0640 is wider than 0600"));
  Write("sk-1\n", 0400);
  EXPECT_EQ(CreateError(), "ok");

  Write("", 0600);
  EXPECT_THAT(CreateError(), HasSubstr(path_ + ": is empty (rule: size in (0, "));
  Write("# nobody yet\n", 0600);
  EXPECT_EQ(CreateError(), "ServerConfig.apiKeyFile " + path_ +
                               ": holds no API key (rule: one key per line of printable ASCII "
                               "without blanks, or sha256:<64 hex digits>; blank lines and lines "
                               "starting with # are ignored)");
  Write("sk-1\nsha256:00\n", 0600);
  EXPECT_THAT(CreateError(), HasSubstr(path_ + ": line 2: a sha256: line needs exactly 64 hex"));
}

TEST_F(ApiKeyStoreTest, RefusesASymlink) {
  const std::string target = dir_ + "/real-keys.txt";
  std::ofstream(target) << "sk-1\n";
  ASSERT_EQ(chmod(target.c_str(), 0600), 0);
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  EXPECT_THAT(CreateError(),
              HasSubstr("ServerConfig.apiKeyFile " + path_ + ": must not be a symbolic link"));
}

TEST_F(ApiKeyStoreTest, RefusesAFileOfAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a file owned by another uid";
  Write("sk-1\n");
  ASSERT_EQ(chown(path_.c_str(), 65534, 65534), 0);
  EXPECT_THAT(CreateError(), HasSubstr("ServerConfig.apiKeyFile " + path_ +
                                       ": owner uid 65534 differs from the running user uid 0"));
}

TEST_F(ApiKeyStoreTest, ReloadsWhenTheFileChanges) {
  Write("sk-old\n");
  auto store = Create();
  ASSERT_TRUE(store.ok()) << store.status();
  ApiKeyStore& s = **store;
  EXPECT_TRUE(s.Matches("sk-old"));
  EXPECT_EQ(s.reloads(), 0);
  EXPECT_TRUE(s.Matches("sk-old"));
  EXPECT_EQ(s.reloads(), 0);  // unchanged: not read again

  Write("sk-new\n# second key\nsk-other\n");
  EXPECT_FALSE(s.Matches("sk-old"));
  EXPECT_TRUE(s.Matches("sk-new"));
  EXPECT_TRUE(s.Matches("sk-other"));
  EXPECT_EQ(s.reloads(), 1);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(Count("reloaded " + path_ + ": 2 API key(s)"), 1) << log_.str();

  // Rewritten in place (same inode), to a key of the same length.
  { std::ofstream(path_, std::ios::trunc) << "sk-NEW\n# second key\nsk-other\n"; }
  // The same size and, on a coarse clock, maybe the same mtime: make the change visible.
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path_.c_str(), times, 0), 0);
  EXPECT_TRUE(s.Matches("sk-NEW"));
  EXPECT_FALSE(s.Matches("sk-new"));
  EXPECT_EQ(s.reloads(), 2);
  EXPECT_THAT(log_.str(), Not(HasSubstr("sk-NEW")));
}

TEST_F(ApiKeyStoreTest, AFailedReloadKeepsThePreviousKeysAndLogsOncePerChange) {
  Write("sk-good\n");
  auto store = Create();
  ASSERT_TRUE(store.ok()) << store.status();
  ApiKeyStore& s = **store;
  const std::string failed = "the changed API key file was not loaded";

  Write("sk-leaked\n", 0644);  // breaks the mode rule
  EXPECT_TRUE(s.Matches("sk-good"));
  EXPECT_FALSE(s.Matches("sk-leaked"));
  EXPECT_TRUE(s.Matches("sk-good"));
  EXPECT_EQ(Count(failed), 1) << log_.str();
  EXPECT_THAT(log_.str(), HasSubstr("mode 0644 is wider than 0600"));

  Write("# keys removed by mistake\n");  // no key
  EXPECT_TRUE(s.Matches("sk-good"));
  EXPECT_TRUE(s.Matches("sk-good"));
  EXPECT_EQ(Count(failed), 2) << log_.str();
  EXPECT_THAT(log_.str(), HasSubstr("holds no API key"));

  Write("sk-1\nsha256:beef\n");  // malformed
  EXPECT_TRUE(s.Matches("sk-good"));
  EXPECT_FALSE(s.Matches("sk-1"));
  EXPECT_EQ(Count(failed), 3) << log_.str();

  ASSERT_EQ(unlink(path_.c_str()), 0);  // gone
  EXPECT_TRUE(s.Matches("sk-good"));
  EXPECT_EQ(Count(failed), 4) << log_.str();
  EXPECT_EQ(s.reloads(), 0);

  Write("sk-fixed\n");  // fixed: taken at once
  EXPECT_TRUE(s.Matches("sk-fixed"));
  EXPECT_FALSE(s.Matches("sk-good"));
  EXPECT_EQ(s.reloads(), 1);
  EXPECT_EQ(Count(failed), 4);
  EXPECT_THAT(log_.str(), Not(HasSubstr("sk-leaked")));
  EXPECT_THAT(log_.str(), Not(HasSubstr("sk-1")));
}

TEST_F(ApiKeyStoreTest, ChecksTheFileAtMostOncePerInterval) {
  Write("sk-old\n");
  auto store = Create(/*interval=*/1h);
  ASSERT_TRUE(store.ok()) << store.status();
  Write("sk-new\n");
  EXPECT_TRUE((*store)->Matches("sk-old"));  // not looked at before the interval passed
  EXPECT_FALSE((*store)->Matches("sk-new"));
  EXPECT_EQ((*store)->reloads(), 0);
}

}  // namespace
}  // namespace mies::server
