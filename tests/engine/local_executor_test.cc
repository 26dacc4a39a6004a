// The config.json -> engine factory and the KV pool sizing rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace mies::engine {
namespace {

using namespace mies::engine::testing;
using ::testing::HasSubstr;

TEST(KvPoolTest, NpuMemSizeMapsToGibOrAFractionOfAvailableMemory) {
  config::ModelConfig mc;
  mc.npu_mem_size_gb = 3;
  EXPECT_EQ(*KvPoolBytes(mc, 0), int64_t{3} << 30);
  mc.npu_mem_size_gb = -1;
  EXPECT_EQ(*KvPoolBytes(mc, int64_t{10} << 30), int64_t{5} << 30);
  EXPECT_EQ(*KvPoolBytes(mc, int64_t{1000} << 30), kAutoKvCapBytes);
  mc.npu_mem_size_gb = 0;
  EXPECT_THAT(std::string(KvPoolBytes(mc, 0).status().message()),
              HasSubstr("npuMemSize must be -1 or > 0, got 0"));
  auto avail = AvailableMemoryBytes();
  ASSERT_TRUE(avail.ok()) << avail.status();
  EXPECT_GT(*avail, 0);
}

TEST(EngineOptionsTest, ScheduleConfigFieldsReachTheEngine) {
  config::Config c;
  c.backend.schedule.max_batch_size = 40;
  c.backend.schedule.max_prefill_batch_size = 0;  // 0 means maxBatchSize
  c.backend.schedule.max_prefill_tokens = 3000;
  c.backend.schedule.prefill_chunk_size = 256;
  c.backend.schedule.support_select_batch = true;
  c.backend.schedule.prefill_time_ms_per_req = 120;
  c.backend.schedule.decode_time_ms_per_req = 30;
  c.backend.schedule.max_queue_delay_us = 700;
  c.backend.schedule.max_iter_times = 99;
  c.backend.schedule.max_n = 7;
  c.backend.model_deploy.max_seq_len = 1000;
  c.backend.model_deploy.max_input_token_len = 2000;
  c.backend.model_deploy.truncation = 1;
  EngineOptions o = EngineOptionsFromConfig(c);
  EXPECT_EQ(o.scheduler.max_batch_size, 40);
  EXPECT_EQ(o.scheduler.max_prefill_batch_size, 40);
  EXPECT_EQ(o.scheduler.max_prefill_tokens, 3000);
  EXPECT_EQ(o.scheduler.chunk_size, 256);
  EXPECT_TRUE(o.scheduler.support_select_batch);
  EXPECT_EQ(o.scheduler.prefill_time_ms_per_req, 120);
  EXPECT_EQ(o.scheduler.decode_time_ms_per_req, 30);
  EXPECT_EQ(o.max_queue_delay_us, 700);
  EXPECT_EQ(o.limits.max_iter_times, 99);
  EXPECT_EQ(o.limits.max_n, 7);
  EXPECT_EQ(o.limits.max_seq_len, 1000);
  EXPECT_EQ(o.limits.max_input_tokens, 999);  // min(maxInputTokenLen, maxSeqLen - 1)
  EXPECT_EQ(o.limits.truncation, 1);
}

TEST(LocalEngineTest, CreateFromConfigServesGreedyRequests) {
  if (!HaveStories()) GTEST_SKIP() << "stories260K not found";
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
  auto local = CreateLocalEngine(c);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->engine->Stats().block_size, 16);
  EXPECT_EQ(local->engine->Stats().kv_blocks_total,
            (int64_t{1} << 30) / (2 * 5 * 16 * 4 * 8 * 4));  // layers 5, kv heads 4, head_dim 8
  Collector out;
  GenerateRequest r = Greedy("cfg", {1, 291, 265}, 12);
  ASSERT_TRUE(local->engine->Submit(r, out.Sink()).ok());
  ASSERT_TRUE(out.Wait());
  auto seq = out.Sequences()[0];
  EXPECT_EQ(seq.ids.size(), 12u);
  EXPECT_FALSE(seq.text.empty());

  // A world size the local executor cannot run is refused with the reason.
  c.backend.model_deploy.model_config[0].world_size = 2;
  EXPECT_THAT(std::string(CreateLocalEngine(c).status().message()), HasSubstr("worldSize 1"));
}

}  // namespace
}  // namespace mies::engine
