// The single-node path from config.json: LocalExecutor::FromConfig sizes the pool from
// ModelConfig and serves an engine built by engine::EngineFromConfig.
#include "executor/local_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace mies::executor {
namespace {

using namespace mies::engine::testing;
using ::testing::HasSubstr;

config::Config StoriesConfig() {
  config::Config c;
  c.home = "/";
  config::ModelConfig mc;
  mc.model_name = "stories";
  mc.model_weight_path = ModelCopy();
  mc.npu_mem_size_gb = 1;
  mc.cpu_threads = 1;
  c.backend.model_deploy.model_config.push_back(mc);
  c.backend.model_deploy.max_seq_len = 256;
  c.backend.model_deploy.max_input_token_len = 200;
  c.backend.schedule.cache_block_size = 16;
  c.backend.schedule.max_queue_delay_us = 500;
  return c;
}

TEST(LocalExecutorTest, FromConfigServesGreedyRequests) {
  const config::Config c = StoriesConfig();
  auto local = LocalExecutor::FromConfig(c);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->block_size(), 16);
  EXPECT_EQ((*local)->num_kv_blocks(),
            (int64_t{1} << 30) / (2 * 5 * 16 * 4 * 8 * 4));  // layers 5, kv heads 4, head_dim 8
  auto serving = engine::EngineFromConfig(c, std::move(*local));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(serving->engine->Stats().block_size, 16);
  Collector out;
  engine::GenerateRequest r = Greedy("cfg", {1, 291, 265}, 12);
  ASSERT_TRUE(serving->engine->Submit(r, out.Sink()).ok());
  ASSERT_TRUE(out.Wait());
  auto seq = out.Sequences()[0];
  EXPECT_EQ(seq.ids.size(), 12u);
  EXPECT_FALSE(seq.text.empty());
}

TEST(LocalExecutorTest, FromConfigRefusesWhatItCannotRun) {
  config::Config c = StoriesConfig();
  c.backend.model_deploy.model_config[0].world_size = 2;
  EXPECT_THAT(std::string(LocalExecutor::FromConfig(c).status().message()),
              HasSubstr("worldSize 1"));
  c = StoriesConfig();
  c.backend.model_deploy.max_seq_len = 1 << 30;  // no 1 GiB pool holds that
  EXPECT_THAT(std::string(LocalExecutor::FromConfig(c).status().message()),
              HasSubstr("raise ModelConfig.npuMemSize or lower maxSeqLen"));
}

}  // namespace
}  // namespace mies::executor
