// Starts the built mindieservice_daemon as a real process with its own install home and
// checks the startup contract: the success line, clean SIGTERM/SIGINT exits, and one clear
// stderr line per problem with a non-zero exit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "support/process.h"
#include "support/test_home.h"

namespace mies::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::map<std::string, std::string> HomeEnv(const TestHome& home) {
  return {{"MINDIE_LLM_HOME_PATH", home.path()}};
}

TEST(DaemonProcessTest, StartsPrintsSuccessAndStopsOnSigterm) {
  TestHome home;
  home.WriteConfig();
  ChildProcess daemon(TestHome::DaemonPath(), {}, HomeEnv(home));
  ASSERT_TRUE(daemon.WaitForStdout("Daemon start success!", 30s))
      << "stdout: " << daemon.Stdout() << "\nstderr: " << daemon.Stderr();
  // The effective configuration is printed before the success line.
  EXPECT_THAT(daemon.Stdout(), HasSubstr("\"maxBatchSize\": 200"));
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitForExit(15s), 0) << daemon.Stderr();
  EXPECT_THAT(daemon.Stderr(), HasSubstr("received SIGTERM, shutting down"));
}

TEST(DaemonProcessTest, StopsOnSigint) {
  TestHome home;
  home.WriteConfig();
  ChildProcess daemon(TestHome::DaemonPath(), {}, HomeEnv(home));
  ASSERT_TRUE(daemon.WaitForStdout("Daemon start success!", 30s)) << daemon.Stderr();
  daemon.Signal(SIGINT);
  EXPECT_EQ(daemon.WaitForExit(15s), 0);
}

TEST(DaemonProcessTest, ConfigFileFlagWinsOverEnvironment) {
  TestHome home;
  home.config()["ServerConfig"]["maxLinkNum"] = 77;
  home.WriteConfig();
  std::string other = home.WriteFile("elsewhere/config.json", "{broken", 0640);
  auto env = HomeEnv(home);
  env["MIES_CONFIG_JSON_PATH"] = other;
  ChildProcess daemon(TestHome::DaemonPath(), {"--config-file", home.ConfigPath()}, env);
  ASSERT_TRUE(daemon.WaitForStdout("Daemon start success!", 30s)) << daemon.Stderr();
  EXPECT_THAT(daemon.Stdout(), HasSubstr("\"maxLinkNum\": 77"));
}

TEST(DaemonProcessTest, BrokenConfigExitsNonZeroNamingEveryField) {
  TestHome home;
  home.config()["ServerConfig"]["port"] = 80;
  home.config()["BackendConfig"]["ScheduleConfig"]["maxBatchSize"] = 900000;
  home.WriteConfig();
  ChildProcess daemon(TestHome::DaemonPath(), {}, HomeEnv(home));
  auto code = daemon.WaitForExit(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_THAT(daemon.Stderr(),
              HasSubstr("mindieservice_daemon: ServerConfig.port: value 80 is out of range "
                        "[1024, 65535]\n"));
  EXPECT_THAT(daemon.Stderr(),
              HasSubstr("mindieservice_daemon: BackendConfig.ScheduleConfig.maxBatchSize: value "
                        "900000 is out of range [1, 819200]\n"));
  EXPECT_THAT(daemon.Stdout(), ::testing::Not(HasSubstr("Daemon start success!")));
}

TEST(DaemonProcessTest, InvalidJsonIsOneClearLine) {
  TestHome home;
  home.WriteFile("conf/config.json", "{\"ServerConfig\": ", 0640);
  ChildProcess daemon(TestHome::DaemonPath(), {}, HomeEnv(home));
  EXPECT_NE(daemon.WaitForExit(30s).value_or(0), 0);
  EXPECT_THAT(daemon.Stderr(), HasSubstr("is not valid JSON"));
}

TEST(DaemonProcessTest, WorldReadableConfigIsRefused) {
  TestHome home;
  home.WriteConfig();
  home.WriteFile("conf/config.json", home.config().dump(), 0644);
  ChildProcess daemon(TestHome::DaemonPath(), {}, HomeEnv(home));
  EXPECT_NE(daemon.WaitForExit(30s).value_or(0), 0);
  EXPECT_THAT(daemon.Stderr(), HasSubstr("conf/config.json: mode 0644 is wider than 0640"));
}

TEST(DaemonProcessTest, MissingModelDirectoryIsRefused) {
  TestHome home;
  home.config()["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["modelWeightPath"] =
      "models/nowhere";
  home.WriteConfig();
  ChildProcess daemon(TestHome::DaemonPath(), {}, HomeEnv(home));
  EXPECT_NE(daemon.WaitForExit(30s).value_or(0), 0);
  EXPECT_THAT(daemon.Stderr(),
              HasSubstr("BackendConfig.ModelDeployConfig.ModelConfig[0].modelWeightPath: \"" +
                        home.path() + "/models/nowhere\" is not an existing directory"));
}

TEST(DaemonProcessTest, UnknownArgumentIsAnError) {
  ChildProcess daemon(TestHome::DaemonPath(), {"--frobnicate"});
  EXPECT_EQ(daemon.WaitForExit(15s), 2);
  EXPECT_THAT(daemon.Stderr(), HasSubstr("--frobnicate"));
}

TEST(DaemonProcessTest, HelpAndVersion) {
  ChildProcess help(TestHome::DaemonPath(), {"--help"});
  EXPECT_EQ(help.WaitForExit(15s), 0);
  EXPECT_THAT(help.Stdout(), HasSubstr("--config-file"));
  ChildProcess version(TestHome::DaemonPath(), {"--version"});
  EXPECT_EQ(version.WaitForExit(15s), 0);
  EXPECT_THAT(version.Stdout(), HasSubstr("mies "));
}

TEST(DaemonProcessTest, MultiNodeSlaveWaitsForItsMasterAndStopsOnSigterm) {
  TestHome home;
  home.config()["BackendConfig"]["multiNodesInferEnabled"] = true;
  home.config()["BackendConfig"]["interNodeTLSEnabled"] = false;
  home.WriteConfig();
  std::string table = home.WriteFile("conf/ranktable.json", R"({
    "version": "1.0", "status": "completed", "server_count": "2",
    "server_list": [
      {"server_id": "127.0.1.1", "container_ip": "127.0.1.1",
       "device": [{"device_id": "0", "device_ip": "127.0.1.1", "rank_id": "0"}]},
      {"server_id": "127.0.1.2", "container_ip": "127.0.1.2",
       "device": [{"device_id": "3", "device_ip": "127.0.1.2", "rank_id": "1"}]}]})",
                                     0640);
  auto env = HomeEnv(home);
  env["RANK_TABLE_FILE"] = table;
  env["MIES_CONTAINER_IP"] = "127.0.1.2";
  ChildProcess daemon(TestHome::DaemonPath(), {}, env);
  // No master listens: the slave keeps retrying the join and is not ready.
  EXPECT_FALSE(daemon.WaitForStdout("Daemon start success!", 3s));
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.WaitForExit(15s), 0) << daemon.Stderr();
  // Checked after exit: stderr is read by another thread and may lag behind.
  EXPECT_THAT(daemon.Stderr(), HasSubstr("this node is 127.0.1.2 (slave), world size 2"));
  EXPECT_THAT(daemon.Stderr(), HasSubstr("need not init TokenizerProcessPool and HttpWrapper"));
}

TEST(DaemonProcessTest, MultiNodeWithoutRankTableIsRefused) {
  TestHome home;
  home.config()["BackendConfig"]["multiNodesInferEnabled"] = true;
  home.config()["BackendConfig"]["interNodeTLSEnabled"] = false;
  home.WriteConfig();
  auto env = HomeEnv(home);
  env["RANK_TABLE_FILE"] = "";
  ChildProcess daemon(TestHome::DaemonPath(), {}, env);
  EXPECT_NE(daemon.WaitForExit(30s).value_or(0), 0);
  EXPECT_THAT(daemon.Stderr(), HasSubstr("$RANK_TABLE_FILE is not set"));
}

}  // namespace
}  // namespace mies::testing
