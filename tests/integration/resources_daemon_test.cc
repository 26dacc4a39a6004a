// What a real deployment's limits do to the daemon: started under `taskset` with the default
// cpuThreads (0) it runs one compute thread per allowed CPU, not per host CPU; the KV pool is
// reserved at startup (kvCacheReserve "touch", the default); /v1/status reports both.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "server/http_client.h"
#include "support/process.h"
#include "support/shared_data.h"
#include "support/test_home.h"

namespace mies::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using server::testing::Request;
using ::testing::HasSubstr;
using ::testing::StartsWith;

int64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 12, '\n');
  }
  return -1;
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

TEST(ResourcesDaemonTest, TasksetLimitsThreadsAndThePoolIsReservedAtStartup) {
  MIES_REQUIRE_SHARED_DATA(
      std::filesystem::exists(std::filesystem::path(MIES_SHARED_DIR) / "models" / "stories260K"),
      "shared/models/stories260K");
  const std::vector<int> cpus = AllowedCpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 allowed CPUs to restrict the daemon to 1";
  TestHome home;
  auto& mc = home.config()["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0];
  mc.erase("kvCacheReserve");  // the shipped default
  mc["cpuThreads"] = 0;
  home.WriteConfig();
  const auto& s = home.config()["ServerConfig"];
  ChildProcess daemon("/usr/bin/taskset",
                      {"-c", std::to_string(cpus.back()), TestHome::DaemonPath()},
                      {{"MINDIE_LLM_HOME_PATH", home.path()}});
  ASSERT_TRUE(daemon.WaitForStdout("Daemon start success!", 60s))
      << daemon.Stdout() << daemon.Stderr();

  auto status = Request(s["managementIpAddress"], s["managementPort"], "GET", "/v1/status");
  ASSERT_EQ(status.status, 200) << status.body;
  const json res = json::parse(status.body)["resources"];
  EXPECT_THAT(res["cpuBudget"].get<std::string>(), StartsWith("1 CPU (affinity "));
  EXPECT_EQ(res["threadsPerRank"], 1);
  EXPECT_EQ(res["localRanks"], 1);
  EXPECT_EQ(res["kvCacheReserve"], "touch");
  const int64_t pool = res["kvPoolBytesPerRank"];
  EXPECT_GE(pool, int64_t{1} << 29);  // npuMemSize 1: a pool of up to 1 GiB
  // Reserved means resident now, before any request wrote a block.
  EXPECT_GE(RssBytes(daemon.pid()), pool);
  // The choice is in the log too.
  EXPECT_THAT(daemon.Stdout() + daemon.Stderr(), HasSubstr("CPU budget: 1 CPU"));
}

}  // namespace
}  // namespace mies::testing
