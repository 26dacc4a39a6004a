// A real cluster of mindieservice_daemon processes on 127.0.1.x addresses, one per node, each
// with its own install home and the same config.json: the master serves, the slave holds its
// shard and opens no plane, and greedy output equals the single-node server's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/http_client.h"
#include "support/process.h"
#include "support/test_home.h"

namespace mies::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using server::testing::Request;

constexpr const char* kPrompt = R"({"model":"stories260K","prompt":"Once upon a time",)"
                                R"("max_tokens":48,"temperature":0,"ignore_eos":true})";

std::string CompletionText(const std::string& ip, int port) {
  auto reply = Request(ip, port, "POST", "/v1/completions", kPrompt);
  EXPECT_EQ(reply.status, 200) << reply.body;
  auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_discarded() || !body.contains("choices")) return "<no choices: " + reply.body + ">";
  return body["choices"][0]["text"].get<std::string>();
}

// Reads from `fd` until `needle` has arrived, the peer closes, or `timeout` passes.
std::string ReadUntil(int fd, const std::string& needle, std::chrono::milliseconds timeout) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// `nodes` servers with `ranks` devices each; node i listens on 127.0.1.<base + i>.
std::string RankTable(int nodes, int ranks, int base) {
  nlohmann::json t = {
      {"version", "1.0"}, {"status", "completed"}, {"server_count", std::to_string(nodes)}};
  for (int n = 0; n < nodes; ++n) {
    std::string ip = "127.0.1." + std::to_string(base + n);
    nlohmann::json devices = nlohmann::json::array();
    for (int r = 0; r < ranks; ++r) {
      devices.push_back({{"device_id", std::to_string(r)},
                         {"device_ip", ip},
                         {"rank_id", std::to_string(n * ranks + r)}});
    }
    t["server_list"].push_back({{"server_id", ip}, {"container_ip", ip}, {"device", devices}});
  }
  return t.dump(2);
}

class MultiNodeDaemonTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(MultiNodeDaemonTest, ClusterMatchesSingleNodeGreedyText) {
  const auto [nodes, ranks] = GetParam();
  const int base = 20 + 10 * nodes + ranks;  // distinct addresses per shape

  // Reference: one node, one rank.
  std::string reference;
  {
    TestHome home;
    home.WriteConfig();
    ChildProcess single(TestHome::DaemonPath(), {}, {{"MINDIE_LLM_HOME_PATH", home.path()}});
    ASSERT_TRUE(single.WaitForStdout("Daemon start success!", 60s)) << single.Stderr();
    reference = CompletionText(home.config()["ServerConfig"]["ipAddress"],
                               home.config()["ServerConfig"]["port"]);
  }
  ASSERT_FALSE(reference.empty());

  // The same config.json on every node; only MIES_CONTAINER_IP differs.
  std::string master_ip = "127.0.1." + std::to_string(base);
  std::vector<std::unique_ptr<TestHome>> homes;
  nlohmann::json shared_config;
  std::string table_text = RankTable(nodes, ranks, base);
  for (int n = 0; n < nodes; ++n) {
    homes.push_back(std::make_unique<TestHome>());
    if (n == 0) {
      auto& c = homes[0]->config();
      homes[0]->UseFreePorts(master_ip, master_ip);
      c["BackendConfig"]["multiNodesInferEnabled"] = true;
      c["BackendConfig"]["interNodeTLSEnabled"] = false;
      c["BackendConfig"]["multiNodesInferPort"] = TestHome::FreePort(master_ip);
      c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["cpuThreads"] = 1;
      shared_config = c;
    }
    homes[n]->config() = shared_config;
    homes[n]->WriteConfig();
  }
  std::vector<std::unique_ptr<ChildProcess>> daemons;
  // Slaves first: startup works in any order.
  for (int n = nodes - 1; n >= 0; --n) {
    std::string table = homes[n]->WriteFile("conf/ranktable.json", table_text, 0640);
    daemons.push_back(std::make_unique<ChildProcess>(
        TestHome::DaemonPath(), std::vector<std::string>{},
        std::map<std::string, std::string>{
            {"MINDIE_LLM_HOME_PATH", homes[n]->path()},
            {"RANK_TABLE_FILE", table},
            {"MIES_CONTAINER_IP", "127.0.1." + std::to_string(base + n)},
            {"MIES_CONTAINER_MANAGEMENT_IP", "127.0.1." + std::to_string(base + n)}}));
  }
  ChildProcess& master = *daemons.back();
  for (auto& d : daemons) {
    ASSERT_TRUE(d->WaitForStdout("Daemon start success!", 120s))
        << "stdout: " << d->Stdout() << "\nstderr: " << d->Stderr();
  }
  const int port = shared_config["ServerConfig"]["port"];
  EXPECT_EQ(CompletionText(master_ip, port), reference);

  // A slave serves no inference API: its service address refuses connections.
  EXPECT_EQ(
      Request("127.0.1." + std::to_string(base + 1), port, "GET", "/v1/models", "", 5s).status, 0);
  EXPECT_THAT(daemons[0]->Stderr(), HasSubstr("need not init TokenizerProcessPool"));

  // Kill -9 the last slave during a streaming request: the stream ends with an error within
  // 10 s, health on the master names the node (MindIE's shape), and a restarted slave rejoins
  // and the master serves again without a restart.
  const int mgmt_port = shared_config["ServerConfig"]["managementPort"];
  const std::string dead_ip = "127.0.1." + std::to_string(base + nodes - 1);
  {
    // Several streams in flight at once (the engine batches them into the same steps).
    constexpr int kStreams = 6;
    const std::string body = R"({"model":"stories260K","prompt":"Once upon a time",)"
                             R"("max_tokens":400,"temperature":0,"ignore_eos":true,"stream":true})";
    std::vector<int> fds;
    std::vector<std::string> firsts;
    for (int i = 0; i < kStreams; ++i) {
      const int fd = server::testing::Connect(master_ip, port);
      ASSERT_GE(fd, 0);
      ASSERT_TRUE(server::testing::SendAll(
          fd,
          "POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
          "Connection: close\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body));
      fds.push_back(fd);
    }
    for (int fd : fds) {
      firsts.push_back(ReadUntil(fd, "\"text\"", 60s));
      ASSERT_THAT(firsts.back(), HasSubstr("\"text\"")) << "no token streamed before the kill";
    }
    daemons[0]->Signal(SIGKILL);
    const auto killed = std::chrono::steady_clock::now();
    std::vector<std::string> rests(kStreams);
    std::vector<std::chrono::steady_clock::duration> ended(kStreams);
    std::vector<std::thread> readers;
    for (int i = 0; i < kStreams; ++i) {
      readers.emplace_back([&, i] {
        rests[i] = server::testing::ReadAll(fds[i], 30s);
        ended[i] = std::chrono::steady_clock::now() - killed;
        ::close(fds[i]);
      });
    }
    for (auto& t : readers) t.join();
    for (int i = 0; i < kStreams; ++i) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ended[i]).count();
      std::cout << "stream " << i << " ended " << ms << " ms after the kill\n";
      EXPECT_LT(ended[i], 10s) << "stream " << i << " outlived the slave by " << ms << " ms";
      EXPECT_THAT(rests[i], HasSubstr("\"code\":503")) << firsts[i] << rests[i];
    }
    std::cout << "last bytes of stream 0: " << rests[0] << "\n";
  }
  daemons[0]->WaitForExit(10s);
  bool reported = false;
  for (int i = 0; i < 100 && !reported; ++i) {
    auto health = Request(master_ip, mgmt_port, "GET", "/health", "", 5s);
    reported = health.status == 500 &&
               health.body.find("\"no_contact_node\"") != std::string::npos &&
               health.body.find("node(" + dead_ip + ") is abnormal.") != std::string::npos;
    if (!reported) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(reported) << "health never reported node " << dead_ip;
  std::string table = homes[nodes - 1]->path() + "/conf/ranktable.json";
  daemons[0] = std::make_unique<ChildProcess>(
      TestHome::DaemonPath(), std::vector<std::string>{},
      std::map<std::string, std::string>{{"MINDIE_LLM_HOME_PATH", homes[nodes - 1]->path()},
                                         {"RANK_TABLE_FILE", table},
                                         {"MIES_CONTAINER_IP", dead_ip},
                                         {"MIES_CONTAINER_MANAGEMENT_IP", dead_ip}});
  ASSERT_TRUE(daemons[0]->WaitForStdout("Daemon start success!", 120s)) << daemons[0]->Stderr();
  bool healthy = false;
  for (int i = 0; i < 300 && !healthy; ++i) {
    healthy = Request(master_ip, mgmt_port, "GET", "/health", "", 5s).status == 200;
    if (!healthy) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(healthy) << "the master did not recover after the slave rejoined";
  EXPECT_EQ(CompletionText(master_ip, port), reference);

  // Orderly shutdown from the master stops every slave.
  master.Signal(SIGTERM);
  EXPECT_EQ(master.WaitForExit(30s), 0) << master.Stderr();
  for (size_t i = 0; i + 1 < daemons.size(); ++i) {
    EXPECT_EQ(daemons[i]->WaitForExit(30s), 0) << daemons[i]->Stderr();
  }
}

// weightSource "master": the slave's home has no model at all; it fetches the master's at start
// into its weight cache, and the cluster answers as one node does. A second start of the slave
// loads the cache without a transfer.
TEST(MultiNodeDaemonWeightsTest, SlaveWithoutModelFetchesItFromTheMaster) {
  std::string reference;
  {
    TestHome home;
    home.WriteConfig();
    ChildProcess single(TestHome::DaemonPath(), {}, {{"MINDIE_LLM_HOME_PATH", home.path()}});
    ASSERT_TRUE(single.WaitForStdout("Daemon start success!", 60s)) << single.Stderr();
    reference = CompletionText(home.config()["ServerConfig"]["ipAddress"],
                               home.config()["ServerConfig"]["port"]);
  }
  const int base = 60;
  const std::string master_ip = "127.0.1." + std::to_string(base);
  const std::string slave_ip = "127.0.1." + std::to_string(base + 1);
  TestHome master_home, slave_home;
  auto& c = master_home.config();
  master_home.UseFreePorts(master_ip, master_ip);
  c["BackendConfig"]["multiNodesInferEnabled"] = true;
  c["BackendConfig"]["interNodeTLSEnabled"] = false;
  c["BackendConfig"]["multiNodesInferPort"] = TestHome::FreePort(master_ip);
  c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["cpuThreads"] = 1;
  c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["weightSource"] = "master";
  slave_home.config() = c;
  master_home.WriteConfig();
  slave_home.WriteConfig();
  std::filesystem::remove_all(slave_home.path() + "/models");
  const std::string table_text = RankTable(2, 1, base);
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
  ASSERT_TRUE(slave->WaitForStdout("Daemon start success!", 120s)) << slave->Stderr();
  ASSERT_TRUE(master->WaitForStdout("Daemon start success!", 120s)) << master->Stderr();
  EXPECT_THAT(slave->Stderr(), HasSubstr("weight cache: fetched"));
  const int port = c["ServerConfig"]["port"];
  EXPECT_EQ(CompletionText(master_ip, port), reference);
  EXPECT_TRUE(std::filesystem::is_directory(slave_home.path() + "/cache/weights"));

  // The slave restarts: its cache is verified and loaded, nothing is fetched.
  slave->Signal(SIGKILL);
  slave->WaitForExit(10s);
  slave = start(slave_home, slave_ip);
  ASSERT_TRUE(slave->WaitForStdout("Daemon start success!", 120s)) << slave->Stderr();
  EXPECT_THAT(slave->Stderr(), HasSubstr("nothing fetched"));
  bool healthy = false;
  const int mgmt_port = c["ServerConfig"]["managementPort"];
  for (int i = 0; i < 300 && !healthy; ++i) {
    healthy = Request(master_ip, mgmt_port, "GET", "/health", "", 5s).status == 200;
    if (!healthy) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(healthy);
  EXPECT_EQ(CompletionText(master_ip, port), reference);
  master->Signal(SIGTERM);
  EXPECT_EQ(master->WaitForExit(30s), 0) << master->Stderr();
  EXPECT_EQ(slave->WaitForExit(30s), 0) << slave->Stderr();
}

INSTANTIATE_TEST_SUITE_P(Shapes, MultiNodeDaemonTest,
                         ::testing::Values(std::pair{2, 1}, std::pair{2, 2}), [](const auto& info) {
                           return std::to_string(info.param.first) + "x" +
                                  std::to_string(info.param.second);
                         });

}  // namespace
}  // namespace mies::testing
