// KV pool sizing: npuMemSize's meaning, the split among local ranks, the maxSeqLen floor, and the
// cache shape a rank needs under tensor parallelism.
#include "runner/kv_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/hf_config.h"
#include "model/kv_cache.h"

namespace mies::runner {
namespace {

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

model::HfConfig Shape(int64_t layers, int64_t kv_heads, int64_t head_dim) {
  model::HfConfig c;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 8;
  c.num_key_value_heads = kv_heads;
  c.head_dim = head_dim;
  c.hidden_size = 8 * head_dim;
  c.intermediate_size = 64;
  c.vocab_size = 100;
  return c;
}

TEST(KvPoolTest, AutomaticBudgetIsSharedByTheLocalRanks) {
  config::ModelConfig mc;
  mc.npu_mem_size_gb = -1;
  KvPoolRequest r;
  r.shape = *model::CacheShapeFor(Shape(2, 4, 16), model::ParallelConfig{0, 1}, 16);
  r.model = &mc;
  r.max_seq_len = 64;
  r.available_bytes = int64_t{64} << 20;
  const int64_t one = *KvPoolBlocks(r);
  // 64 MiB * 0.5 / (2 (K,V) * 2 layers * 16 tokens * 4 heads * 16 dims * 4 bytes).
  EXPECT_EQ(one, (int64_t{32} << 20) / (2 * 2 * 16 * 4 * 16 * 4));
  r.local_ranks = 4;
  EXPECT_EQ(*KvPoolBlocks(r), one / 4);
}

TEST(KvPoolTest, TensorParallelRanksHoldTheirShareOfKvHeads) {
  config::ModelConfig mc;
  mc.npu_mem_size_gb = 1;
  const model::HfConfig hf = Shape(2, 4, 16);
  KvPoolRequest r;
  r.model = &mc;
  r.max_seq_len = 64;
  r.shape = *model::CacheShapeFor(hf, model::ParallelConfig{0, 1}, 16);
  const int64_t tp1 = *KvPoolBlocks(r);
  r.shape = *model::CacheShapeFor(hf, model::ParallelConfig{1, 2}, 16);
  EXPECT_EQ(r.shape.num_kv_heads, 2);
  EXPECT_EQ(*KvPoolBlocks(r), 2 * tp1);
  // More ranks than KV heads: each keeps one (replicated).
  r.shape = *model::CacheShapeFor(hf, model::ParallelConfig{7, 8}, 16);
  EXPECT_EQ(r.shape.num_kv_heads, 1);
  // A split the heads do not allow is the loader's error, named the same way.
  EXPECT_THAT(
      std::string(model::CacheShapeFor(hf, model::ParallelConfig{0, 3}, 16).status().message()),
      HasSubstr("cannot be split evenly over tp_size 3"));
}

TEST(KvPoolTest, APoolThatCannotHoldOneMaxSeqLenSequenceIsRefusedWithTheFigures) {
  config::ModelConfig mc;
  mc.npu_mem_size_gb = -1;
  KvPoolRequest r;
  r.shape = *model::CacheShapeFor(Shape(2, 4, 16), model::ParallelConfig{0, 1}, 16);
  r.model = &mc;
  r.max_seq_len = 4096;                  // needs 256 blocks of 16 KiB (4 MiB)
  r.available_bytes = int64_t{4} << 20;  // half of it is 2 MiB: 128 blocks
  auto blocks = KvPoolBlocks(r);
  ASSERT_FALSE(blocks.ok());
  EXPECT_THAT(
      std::string(blocks.status().message()),
      HasSubstr("holds 128 blocks of 16384 bytes; one maxSeqLen (4096) sequence needs 256"));
  r.max_seq_len = 2048;
  EXPECT_EQ(*KvPoolBlocks(r), 128);
}

}  // namespace
}  // namespace mies::runner
