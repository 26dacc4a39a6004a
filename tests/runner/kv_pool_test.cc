// KV pool sizing: npuMemSize's meaning, the split among local ranks, the maxSeqLen floor, and the
// cache shape a rank needs under tensor parallelism.
#include "runner/kv_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

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

// Resident set size of this process, from /proc/self/status.
int64_t RssBytes() {
  std::ifstream in("/proc/self/status");
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

TEST(KvPoolTest, ReserveModesAreNamedAndUnknownOnesRefused) {
  EXPECT_EQ(*ParseKvReserve("touch"), KvReserve::kTouch);
  EXPECT_EQ(*ParseKvReserve("lock"), KvReserve::kLock);
  EXPECT_EQ(*ParseKvReserve("lazy"), KvReserve::kLazy);
  EXPECT_EQ(KvReserveName(KvReserve::kLock), "lock");
  EXPECT_THAT(std::string(ParseKvReserve("eager").status().message()),
              HasSubstr("kvCacheReserve \"eager\" is not one of touch, lock, lazy"));
}

// A touched pool is resident at once (RSS does not grow later with traffic); a lazy one is not.
TEST(KvPoolTest, TouchMakesThePoolResidentUpFrontLazyDoesNot) {
  const model::KvCacheShape shape{2, 4, 64, 16};  // 64 KiB per block
  const int64_t blocks = 1024;                    // 64 MiB
  int64_t before = RssBytes();
  auto lazy = model::KvCache::Create(shape, blocks);
  ASSERT_TRUE(lazy.ok());
  ASSERT_TRUE(ReserveKvPool(**lazy, KvReserve::kLazy).ok());
  EXPECT_LT(RssBytes() - before, (*lazy)->bytes() / 4);
  lazy->reset();

  before = RssBytes();
  auto touched = model::KvCache::Create(shape, blocks);
  ASSERT_TRUE(touched.ok());
  ASSERT_TRUE(ReserveKvPool(**touched, KvReserve::kTouch).ok());
  EXPECT_GE(RssBytes() - before, (*touched)->bytes() * 9 / 10);
  touched->reset();

  auto locked = model::KvCache::Create(shape, 16);  // 1 MiB: within any RLIMIT_MEMLOCK
  ASSERT_TRUE(locked.ok());
  Status s = ReserveKvPool(**locked, KvReserve::kLock);
  EXPECT_TRUE(s.ok() || absl::IsResourceExhausted(s)) << s;
  if (!s.ok()) EXPECT_THAT(std::string(s.message()), HasSubstr("RLIMIT_MEMLOCK"));
}

// A pool larger than MemAvailable is refused with the figures instead of touched into the OOM
// killer. The pool's address space is only reserved (never written), so the test costs no RAM.
TEST(KvPoolTest, APoolLargerThanAvailableMemoryIsRefusedWithTheFigures) {
  auto available = AvailableMemoryBytes();
  ASSERT_TRUE(available.ok());
  const model::KvCacheShape shape{1, 1, 1024, 256};  // 2 MiB per block
  const int64_t blocks = (*available + (int64_t{1} << 30)) / shape.BytesPerBlock();
  auto cache = model::KvCache::Create(shape, blocks);
  if (!cache.ok()) GTEST_SKIP() << "the kernel refused the address space: " << cache.status();
  Status s = ReserveKvPool(**cache, KvReserve::kTouch);
  ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot reserve the KV pool"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("MiB available (MemAvailable)"));
}

}  // namespace
}  // namespace mies::runner
