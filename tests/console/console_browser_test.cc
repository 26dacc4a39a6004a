// The console in a real browser: a 2-node cluster of mindieservice_daemon processes on
// 127.0.1.80 (master) and 127.0.1.81 (slave), headless Chromium driven by console_check.mjs
// (npm puppeteer-core, pinned in package-lock.json; `npm ci` here, scripts/test.sh does it).
// The page must show both nodes healthy and stream a playground completion from the service
// plane (CORS); after the slave is killed it must show the slave lost and the event naming it.
// Any browser console error or failed request fails the test. Screenshots are kept under
// <build>/tests/console/screenshots/.
//
// Without node_modules or chromium the test skips, visibly; with MIES_REQUIRE_SHARED=1 (CI,
// scripts/test.sh) it fails instead, since setup.sh installs chromium and test.sh runs npm ci.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/process.h"
#include "support/shared_data.h"
#include "support/test_home.h"

namespace mies::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path p = fs::path(dir) / name;
    if (!dir.empty() && access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

std::string RankTable(const std::string& master, const std::string& slave) {
  nlohmann::json t = {{"version", "1.0"}, {"status", "completed"}, {"server_count", "2"}};
  int rank = 0;
  for (const std::string& ip : {master, slave}) {
    t["server_list"].push_back(
        {{"server_id", ip},
         {"container_ip", ip},
         {"device",
          {{{"device_id", "0"}, {"device_ip", ip}, {"rank_id", std::to_string(rank++)}}}}});
  }
  return t.dump(2);
}

class ConsoleBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::string(MIES_SOURCE_DIR) + "/tests/console";
    node_ = FindInPath("node");
    chromium_ = std::getenv("CHROMIUM") ? std::getenv("CHROMIUM") : "/usr/bin/chromium";
    std::string missing;
    if (node_.empty())
      missing = "node (Node.js)";
    else if (!fs::exists(dir_ + "/node_modules/puppeteer-core"))
      missing = "tests/console/node_modules (run `npm ci` there; scripts/test.sh does)";
    else if (!fs::exists(chromium_))
      missing = chromium_ + " (apt-get install chromium; scripts/setup.sh does)";
    if (!missing.empty()) {
      if (SharedRequired()) FAIL() << missing << " is missing and MIES_REQUIRE_SHARED=1";
      GTEST_SKIP() << missing << " is missing";
    }
    MIES_REQUIRE_SHARED_DATA(fs::exists(std::string(MIES_SHARED_DIR) + "/models/stories260K"),
                             "shared/models/stories260K");
  }

  // Runs console_check.mjs with `args`; its output goes to the test log.
  int Check(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {dir_ + "/console_check.mjs"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess node(node_, argv, {{"CHROMIUM", chromium_}});
    auto rc = node.WaitForExit(90s);
    std::cout << node.Stdout() << node.Stderr();
    if (!rc) {
      node.Signal(SIGKILL);
      ADD_FAILURE() << "console_check.mjs did not finish in 90 s";
      return -1;
    }
    EXPECT_EQ(*rc, 0) << node.Stderr();
    return *rc;
  }

  std::string dir_, node_, chromium_;
};

TEST_F(ConsoleBrowserTest, ShowsTheClusterStreamsACompletionThenShowsTheLostSlave) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string master_ip = "127.0.1.80", slave_ip = "127.0.1.81";
  TestHome master_home, slave_home;
  auto& c = master_home.config();
  master_home.UseFreePorts(master_ip, master_ip);
  c["BackendConfig"]["multiNodesInferEnabled"] = true;
  c["BackendConfig"]["interNodeTLSEnabled"] = false;
  c["BackendConfig"]["multiNodesInferPort"] = TestHome::FreePort(master_ip);
  c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["cpuThreads"] = 1;
  slave_home.config() = c;
  master_home.WriteConfig();
  slave_home.WriteConfig();
  const std::string table_text = RankTable(master_ip, slave_ip);
  auto start = [&](TestHome& home, const std::string& ip) {
    const std::string table = home.WriteFile("conf/ranktable.json", table_text, 0640);
    return std::make_unique<ChildProcess>(
        TestHome::DaemonPath(), std::vector<std::string>{},
        std::map<std::string, std::string>{{"MINDIE_LLM_HOME_PATH", home.path()},
                                           {"RANK_TABLE_FILE", table},
                                           {"MIES_CONTAINER_IP", ip},
                                           {"MIES_CONTAINER_MANAGEMENT_IP", ip}});
  };
  auto slave = start(slave_home, slave_ip);
  auto master = start(master_home, master_ip);
  ASSERT_TRUE(master->WaitForStdout("Daemon start success!", 120s)) << master->Stderr();
  ASSERT_TRUE(slave->WaitForStdout("Daemon start success!", 30s)) << slave->Stderr();

  const std::string url = "http://" + master_ip + ":" +
                          std::to_string(c["ServerConfig"]["managementPort"].get<int>()) +
                          "/console";
  const std::string shots = std::string(MIES_BINARY_DIR) + "/tests/console/screenshots";
  ASSERT_EQ(Check({"--url", url, "--expect", "healthy", "--nodes", master_ip + "," + slave_ip,
                   "--out", shots, "--play"}),
            0);

  // Kill the slave by its pid: the master declares it lost after the heartbeat timeout.
  std::cout << "killing the slave (pid " << slave->pid() << ")\n";
  slave->Signal(SIGKILL);
  slave->WaitForExit(10s);
  EXPECT_EQ(Check({"--url", url, "--expect", "lost", "--lost", slave_ip, "--out", shots}), 0);
  std::cout << "screenshots: " << shots << "\n";

  master->Signal(SIGTERM);
  EXPECT_TRUE(master->WaitForExit(30s).has_value());
  std::cout << "browser test took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms\n";
}

}  // namespace
}  // namespace mies::testing
