// The real daemon with API keys on (ServerConfig.apiKeyFile), on real sockets (127.0.1.x): raw
// HTTP answered 401 then 200, the npm `openai` client with the right and a wrong key, the
// management and metrics planes open, keys replaced without a restart, and a bad key file
// refused at startup with the field, the file and the rule.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/daemon_harness.h"
#include "server/http_client.h"
#include "support/process.h"
#include "support/test_home.h"

namespace mies::server::testing {
namespace {

using ::mies::testing::TestHome;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kKeyFile[] = "conf/api-keys.txt";
constexpr char kFirstKey[] = "sk-first-0123456789abcdef";
// The file holds only its hash: sha256("sk-hashed").
constexpr char kHashedKey[] = "sk-hashed";
constexpr char kHashedLine[] =
    "sha256:c291001835042e213221b2f9fca79c9c91d08813d599b717bc695a268edb2ea6";
constexpr char kCompletion[] =
    R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":4,"temperature":0})";

std::string Bearer(const std::string& key) { return "Authorization: Bearer " + key + "\r\n"; }

// Replaces `path` as an operator's tooling would: written aside, then renamed over it.
void ReplaceFile(const std::string& path, const std::string& content, mode_t mode) {
  const std::string tmp = path + ".new";
  std::ofstream(tmp, std::ios::trunc) << content;
  ASSERT_EQ(chmod(tmp.c_str(), mode), 0);
  ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0);
}

class ServerApiKeyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    home_ = new TestHome();
    home_->UseFreePorts("127.0.1.5", "127.0.1.6");
    key_path_ = new std::string(home_->WriteFile(
        kKeyFile, std::string("# mies test keys\n") + kFirstKey + "\n\n" + kHashedLine + "\n",
        0600));
    auto& c = home_->config();
    c["ServerConfig"]["apiKeyFile"] = kKeyFile;  // relative: resolved against the home
    c["BackendConfig"]["ScheduleConfig"]["maxBatchSize"] = 16;
    c["BackendConfig"]["ScheduleConfig"]["maxPrefillBatchSize"] = 16;
    c["BackendConfig"]["ModelDeployConfig"]["maxSeqLen"] = 512;
    c["BackendConfig"]["ModelDeployConfig"]["maxInputTokenLen"] = 256;
    c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["npuMemSize"] = 1;
    home_->WriteConfig();
    daemon_ = new Daemon(*home_);
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete key_path_;
    delete home_;
  }
  void SetUp() override {
    ASSERT_TRUE(daemon_->started) << daemon_->process->Stdout() << daemon_->process->Stderr();
  }

  static Reply Service(const std::string& method, const std::string& path,
                       const std::string& headers = "", const std::string& body = "") {
    return Request(daemon_->ip, daemon_->port, method, path, body, 60s, headers);
  }
  static Reply Complete(const std::string& key) {
    return Service("POST", "/v1/completions", key.empty() ? "" : Bearer(key), kCompletion);
  }
  static std::string NpmDir() { return std::string(MIES_SOURCE_DIR) + "/tests/server"; }
  static bool HaveNpmClient() { return std::filesystem::exists(NpmDir() + "/node_modules/openai"); }
  static std::pair<int, std::string> Node(const std::string& script, const std::string& args) {
    return Shell("cd " + NpmDir() + " && node " + script + " http://" + daemon_->ip + ":" +
                 std::to_string(daemon_->port) + "/v1 stories260K " + args);
  }
  static void Expect401(const Reply& r, const std::string& message) {
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_THAT(r.headers, HasSubstr("WWW-Authenticate: Bearer\r\n")) << r.headers;
    auto body = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.body;
    EXPECT_EQ(body, (json{{"error",
                           {{"message", message},
                            {"type", "invalid_request_error"},
                            {"param", nullptr},
                            {"code", "invalid_api_key"}}}}));
  }

  static TestHome* home_;
  static Daemon* daemon_;
  static std::string* key_path_;
};
TestHome* ServerApiKeyTest::home_ = nullptr;
Daemon* ServerApiKeyTest::daemon_ = nullptr;
std::string* ServerApiKeyTest::key_path_ = nullptr;

constexpr char kMissing[] =
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
constexpr char kIncorrect[] = "Incorrect API key provided.";

TEST_F(ServerApiKeyTest, RawHttpIs401WithoutTheKeyAnd200WithIt) {
  // The number of keys is logged at startup, never a key.
  EXPECT_THAT(daemon_->process->Stderr(),
              HasSubstr("ServerConfig.apiKeyFile: 2 API key(s) loaded from " + *key_path_));
  EXPECT_THAT(daemon_->process->Stderr(), Not(HasSubstr(kFirstKey)));

  Expect401(Complete(""), kMissing);
  Expect401(Complete("sk-wrong"), kIncorrect);
  Expect401(Service("GET", "/v1/models"), kMissing);
  Expect401(Service("GET", "/no/such/route"), kMissing);  // no probing of the route table
  Expect401(Service("POST", "/generate", "Authorization: Basic c2std3Jvbmc=\r\n",
                    R"({"inputs":"Once","parameters":{"max_new_tokens":2}})"),
            kMissing);

  auto ok = Complete(kFirstKey);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["object"], "text_completion");
  EXPECT_EQ(Complete(kHashedKey).status, 200);  // the key behind the sha256: line
  EXPECT_EQ(Service("GET", "/v1/models", Bearer(kFirstKey)).status, 200);
  auto tgi =
      Service("POST", "/generate", "authorization: bearer " + std::string(kHashedKey) + "\r\n",
              R"({"inputs":"Once","parameters":{"max_new_tokens":2}})");
  EXPECT_EQ(tgi.status, 200) << tgi.body;
  EXPECT_EQ(Service("GET", "/no/such/route", Bearer(kFirstKey)).status, 404);

  // The management and metrics planes ask for nothing; the refusals are counted.
  EXPECT_EQ(Request(daemon_->mgmt_ip, daemon_->mgmt_port, "GET", "/health").status, 200);
  EXPECT_EQ(Request(daemon_->mgmt_ip, daemon_->mgmt_port, "GET", "/v1/status").status, 200);
  auto metrics = Request(daemon_->mgmt_ip, daemon_->metrics_port, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr("request_unauthorized_total{model_name=\"stories260K\"} 5\n"));
}

TEST_F(ServerApiKeyTest, OpenAiNpmClientWithTheRightKeyAndAWrongOne) {
  if (!HaveNpmClient()) {
    GTEST_SKIP() << "run `npm ci` in tests/server (scripts/test.sh does) to install the client";
  }
  auto [rc, out] = Node("openai_api_key.mjs", std::string(kFirstKey) + " ok");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("openai api key: accepted"));
  std::tie(rc, out) = Node("openai_api_key.mjs", std::string(kHashedKey) + " ok");
  EXPECT_EQ(rc, 0) << out;
  std::tie(rc, out) = Node("openai_api_key.mjs", "sk-not-a-key 401");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("openai api key: refused with 401"));
  // The whole client suite (streams, tools, structured output) through the key check.
  std::tie(rc, out) = Node("openai_client.mjs", kFirstKey);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("openai client: all checks passed"));
}

TEST_F(ServerApiKeyTest, ReplacedKeysTakeEffectWithoutRestart) {
  ASSERT_EQ(Complete(kFirstKey).status, 200);
  ReplaceFile(*key_path_, "# rotated\nsk-second-key\n", 0600);
  // Checked at most once a second: wait until the old key is refused.
  int old_status = 200;
  for (auto until = Clock::now() + 5s; Clock::now() < until;) {
    old_status = Complete(kFirstKey).status;
    if (old_status != 200) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(old_status, 401);
  Expect401(Complete(kFirstKey), kIncorrect);
  Expect401(Complete(kHashedKey), kIncorrect);
  EXPECT_EQ(Complete("sk-second-key").status, 200);
  EXPECT_THAT(daemon_->process->Stderr(),
              HasSubstr("ServerConfig.apiKeyFile: reloaded " + *key_path_ + ": 1 API key(s)"));

  // A replacement that breaks the rules is not taken: the keys in force stay, and it is logged.
  ReplaceFile(*key_path_, "sk-third-key\n", 0644);
  bool logged = false;
  for (auto until = Clock::now() + 5s; Clock::now() < until && !logged;) {
    EXPECT_EQ(Complete("sk-second-key").status, 200);
    logged = daemon_->process->Stderr().find("the changed API key file was not loaded") !=
             std::string::npos;
    if (!logged) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(logged) << daemon_->process->Stderr();
  EXPECT_THAT(daemon_->process->Stderr(), HasSubstr("mode 0644 is wider than 0600"));
  Expect401(Complete("sk-third-key"), kIncorrect);
  EXPECT_EQ(Complete("sk-second-key").status, 200);
  EXPECT_THAT(daemon_->process->Stderr(), Not(HasSubstr("sk-second-key")));
  EXPECT_THAT(daemon_->process->Stderr(), Not(HasSubstr("sk-third-key")));
  EXPECT_FALSE(daemon_->process->WaitForExit(0ms).has_value()) << "the daemon restarted or exited";
}

// A keys-on config whose file is missing, breaks the rules or holds no key does not start; the
// error names the field, the file and the rule.
TEST(ServerApiKeyStartupTest, BadKeyFilesFailTheStart) {
  struct Case {
    const char* name;
    const char* content;  // null: no file
    mode_t mode;
    const char* expected;
  };
  const Case cases[] = {
      {"missing", nullptr, 0600, ": cannot stat"},
      {"world-readable", "sk-1\n", 0644,
       ": mode 0644 is wider than 0600 (rule: permissions no greater than 0600"},
      {"no key", "# none yet\n\n", 0600, ": holds no API key (rule: one key per line"},
      {"bad hash", "sha256:1234\n", 0600, ": line 1: a sha256: line needs exactly 64 hex digits"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TestHome home;
    home.UseFreePorts("127.0.1.5", "127.0.1.6");
    home.config()["ServerConfig"]["apiKeyFile"] = kKeyFile;
    home.WriteConfig();
    if (c.content != nullptr) home.WriteFile(kKeyFile, c.content, c.mode);
    Daemon d(home);
    EXPECT_FALSE(d.started);
    EXPECT_NE(d.process->WaitForExit(30s).value_or(0), 0);
    EXPECT_THAT(d.process->Stderr(),
                HasSubstr("ServerConfig.apiKeyFile " + home.path() + "/" + kKeyFile + c.expected));
  }
}

}  // namespace
}  // namespace mies::server::testing
