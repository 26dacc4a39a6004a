// config.json's ScheduleConfig / ModelDeployConfig -> engine options.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace mies::engine {
namespace {

using namespace mies::engine::testing;
using ::testing::HasSubstr;

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

}  // namespace
}  // namespace mies::engine
