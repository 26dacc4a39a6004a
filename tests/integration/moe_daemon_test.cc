// A Mixture-of-Experts model through the real daemon: every API family serves it on one node,
// and /infer_token's greedy ids equal the numpy reference's (tools/reference/ref_decoder.py) on
// one node, on a 2-node cluster with expert parallelism (the default) and with MoE tensor
// parallelism (--expert-parallel false).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "make_model/synthetic_model.h"
#include "server/http_client.h"
#include "support/process.h"
#include "support/shared_data.h"
#include "support/test_home.h"

namespace mies::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using server::testing::Request;

// tiny-qwen3-moe with stories260K's vocabulary and tokenizer, in `dir` (modes as MindIE wants).
void WriteMoeModel(const std::string& dir) {
  auto spec = tools::PresetSpec("tiny-qwen3-moe");
  ASSERT_TRUE(spec.ok());
  spec->vocab_size = 512;
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir).ok());
  const fs::path stories = fs::path(MIES_SHARED_DIR) / "models" / "stories260K";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(stories / f, fs::path(dir) / f, fs::copy_options::overwrite_existing);
    ::chmod((fs::path(dir) / f).c_str(), 0640);
  }
  ::chmod(dir.c_str(), 0750);
}

std::vector<int32_t> ReferenceGreedy(const std::string& dir, const std::vector<int32_t>& ids,
                                     int steps) {
  std::string list;
  for (int32_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  const std::string cmd = "/usr/bin/python3 " + std::string(MIES_SOURCE_DIR) +
                          "/tests/model/ref_dump.py " + MIES_SHARED_DIR + " " + dir + " --ids " +
                          list + " --out /dev/null --greedy " + std::to_string(steps) +
                          " --ref decoder";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (p == nullptr || ::pclose(p) != 0) {
    ADD_FAILURE() << "reference failed: " << cmd;
    return {};
  }
  return json::parse(out)["generated"].get<std::vector<int32_t>>();
}

class MoeDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MIES_REQUIRE_SHARED_DATA(fs::exists(fs::path(MIES_SHARED_DIR) / "models" / "stories260K"),
                             "stories260K's tokenizer");
  }
  // /infer_token's generated_token_ids for `ids`, greedy.
  static std::vector<int32_t> InferTokens(const std::string& ip, int port,
                                          const std::vector<int32_t>& ids, int steps) {
    auto r = Request(
        ip, port, "POST", "/infer_token",
        json{{"input_id", ids},
             {"parameters", {{"max_new_tokens", steps}, {"do_sample", false}, {"details", true}}}}
            .dump());
    EXPECT_EQ(r.status, 200) << r.body;
    auto body = json::parse(r.body, nullptr, false);
    if (body.is_discarded() || !body.contains("details")) return {};
    return body["details"]["generated_token_ids"].get<std::vector<int32_t>>();
  }
};

TEST_F(MoeDaemonTest, EveryApiServesItAndGreedyIdsEqualTheReferenceOnOneAndTwoNodes) {
  TestHome home;
  const std::string model = home.path() + "/models/moe";
  WriteMoeModel(model);
  auto& mc = home.config()["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0];
  mc["modelWeightPath"] = model;
  mc["modelName"] = "moe";
  mc["cpuThreads"] = 1;
  home.WriteConfig();
  const std::string ip = home.config()["ServerConfig"]["ipAddress"];
  const int port = home.config()["ServerConfig"]["port"];
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378, 29, 110, 6, 40, 71};
  const std::vector<int32_t> want = ReferenceGreedy(model, ids, 12);
  ASSERT_EQ(want.size(), 12u);
  {
    ChildProcess single(TestHome::DaemonPath(), {}, {{"MINDIE_LLM_HOME_PATH", home.path()}});
    ASSERT_TRUE(single.WaitForStdout("Daemon start success!", 60s)) << single.Stderr();
    EXPECT_EQ(InferTokens(ip, port, ids, 12), want);
    struct Call {
      const char* path;
      std::string body;
    };
    const std::vector<Call> calls = {
        {"/v1/completions", R"({"model":"moe","prompt":"Once upon","max_tokens":6})"},
        {"/v1/chat/completions",
         R"({"model":"moe","messages":[{"role":"user","content":"Hi"}],"max_tokens":6})"},
        {"/generate", R"({"inputs":"Once upon","parameters":{"max_new_tokens":6}})"},
        {"/generate", R"({"prompt":"Once upon","max_tokens":6})"},
        {"/infer", R"({"inputs":"Once upon","stream":false,"parameters":{"max_new_tokens":6}})"},
        {"/v2/models/moe/generate", R"({"text_input":"Once","parameters":{"max_new_tokens":6}})"},
    };
    for (const Call& c : calls) {
      auto r = Request(ip, port, "POST", c.path, c.body);
      EXPECT_EQ(r.status, 200) << c.path << ": " << r.body;
    }
  }

  // Two nodes, each with its own home and the same config.json.
  for (const bool expert_parallel : {true, false}) {
    SCOPED_TRACE(expert_parallel ? "expert parallel" : "MoE tensor parallel");
    const std::string master_ip = expert_parallel ? "127.0.1.61" : "127.0.1.71";
    const std::string slave_ip = expert_parallel ? "127.0.1.62" : "127.0.1.72";
    auto& c = home.config();
    home.UseFreePorts(master_ip, master_ip);
    c["BackendConfig"]["multiNodesInferEnabled"] = true;
    c["BackendConfig"]["interNodeTLSEnabled"] = false;
    c["BackendConfig"]["multiNodesInferPort"] = TestHome::FreePort(master_ip);
    home.WriteConfig();
    json table = {{"version", "1.0"}, {"status", "completed"}, {"server_count", "2"}};
    int rank = 0;
    for (const std::string& node : {master_ip, slave_ip}) {
      table["server_list"].push_back(
          {{"server_id", node},
           {"container_ip", node},
           {"device",
            {{{"device_id", "0"}, {"device_ip", node}, {"rank_id", std::to_string(rank++)}}}}});
    }
    const std::string rt = home.WriteFile("conf/ranktable.json", table.dump(), 0640);
    const std::vector<std::string> args = {"--expert-parallel", expert_parallel ? "true" : "false"};
    // Both nodes read the same home here: the same files, as every node of a cluster has.
    ChildProcess slave(TestHome::DaemonPath(), args,
                       {{"MINDIE_LLM_HOME_PATH", home.path()},
                        {"RANK_TABLE_FILE", rt},
                        {"MIES_CONTAINER_IP", slave_ip},
                        {"MIES_CONTAINER_MANAGEMENT_IP", slave_ip}});
    ChildProcess master(TestHome::DaemonPath(), args,
                        {{"MINDIE_LLM_HOME_PATH", home.path()},
                         {"RANK_TABLE_FILE", rt},
                         {"MIES_CONTAINER_IP", master_ip},
                         {"MIES_CONTAINER_MANAGEMENT_IP", master_ip}});
    ASSERT_TRUE(master.WaitForStdout("Daemon start success!", 120s)) << master.Stderr();
    EXPECT_EQ(InferTokens(master_ip, c["ServerConfig"]["port"], ids, 12), want);
    master.Signal(SIGTERM);
    EXPECT_EQ(master.WaitForExit(30s), 0) << master.Stderr();
    EXPECT_EQ(slave.WaitForExit(30s), 0) << slave.Stderr();
  }
}

}  // namespace
}  // namespace mies::testing
