#include "engine/block_manager.h"

#include <gtest/gtest.h>

namespace mies::engine {
namespace {

TEST(BlockManagerTest, AllocateUntilEmptyThenReleaseRestoresPool) {
  BlockManager bm(4, 2, /*enable_prefix_cache=*/false);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) {
    auto b = bm.Allocate();
    ASSERT_TRUE(b.has_value());
    got.push_back(*b);
  }
  EXPECT_FALSE(bm.Allocate().has_value());
  EXPECT_EQ(bm.num_used(), 4);
  bm.Retain(got[0]);
  EXPECT_EQ(bm.ref_count(got[0]), 2);
  for (int32_t b : got) bm.Release(b);
  EXPECT_EQ(bm.num_used(), 1);  // got[0] still held once
  bm.Release(got[0]);
  EXPECT_EQ(bm.num_used(), 0);
  EXPECT_EQ(bm.num_available(), 4);
}

TEST(BlockManagerTest, PrefixMatchFindsChainedBlocksAndStopsAtFirstDifference) {
  BlockManager bm(8, 2);
  const std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6};
  std::vector<int32_t> blocks;
  uint64_t parent = 0;
  for (int i = 0; i < 3; ++i) {
    blocks.push_back(*bm.Allocate());
    std::span<const int32_t> chunk(toks.data() + 2 * i, 2);
    const uint64_t key = BlockManager::BlockKey(parent, chunk);
    bm.Register(blocks.back(), key, parent, chunk);
    parent = key;
  }
  std::vector<uint64_t> keys;
  auto m = bm.Match(std::vector<int32_t>{1, 2, 3, 4, 9, 9, 5, 6}, 10, &keys);
  EXPECT_EQ(m, (std::vector<int32_t>{blocks[0], blocks[1]}));
  EXPECT_EQ(bm.ref_count(blocks[0]), 2);
  // Same third block content after a different second block: not a match (chained key).
  keys.clear();
  auto m2 = bm.Match(std::vector<int32_t>{1, 2, 9, 9, 5, 6}, 10, &keys);
  EXPECT_EQ(m2, (std::vector<int32_t>{blocks[0]}));
  // max_blocks bounds the match.
  keys.clear();
  auto m3 = bm.Match(toks, 1, &keys);
  EXPECT_EQ(m3.size(), 1u);
}

TEST(BlockManagerTest, UnreferencedCachedBlocksAreEvictedLeastRecentlyUsedFirst) {
  BlockManager bm(3, 1);
  auto reg = [&](int32_t token) {
    const int32_t b = *bm.Allocate();
    const std::vector<int32_t> t{token};
    bm.Register(b, BlockManager::BlockKey(0, t), 0, t);
    return b;
  };
  const int32_t a = reg(10), b = reg(20), c = reg(30);
  bm.Release(b);  // released first: least recently used
  bm.Release(a);
  bm.Release(c);
  EXPECT_EQ(bm.num_available(), 3);
  EXPECT_EQ(bm.num_cached(), 3);
  const int32_t fresh = *bm.Allocate();
  EXPECT_EQ(fresh, b);
  EXPECT_EQ(bm.num_cached(), 2);
  std::vector<uint64_t> keys;
  EXPECT_TRUE(bm.Match(std::vector<int32_t>{20}, 1, &keys).empty());
  EXPECT_EQ(bm.Match(std::vector<int32_t>{10}, 1, &keys), std::vector<int32_t>{a});
  // A matched block leaves the LRU list: it cannot be evicted while held.
  const int32_t next = *bm.Allocate();
  EXPECT_EQ(next, c);
  EXPECT_FALSE(bm.Allocate().has_value());
}

TEST(BlockManagerTest, DuplicateKeyLeavesSecondBlockUncached) {
  BlockManager bm(2, 1);
  const std::vector<int32_t> t{7};
  const uint64_t key = BlockManager::BlockKey(0, t);
  const int32_t a = *bm.Allocate(), b = *bm.Allocate();
  bm.Register(a, key, 0, t);
  bm.Register(b, key, 0, t);
  EXPECT_TRUE(bm.is_cached(a));
  EXPECT_FALSE(bm.is_cached(b));
  bm.Release(b);
  EXPECT_EQ(bm.num_cached(), 1);
  EXPECT_EQ(bm.num_available(), 1);
}

TEST(BlockManagerTest, DisabledCacheNeverMatches) {
  BlockManager bm(2, 1, false);
  const std::vector<int32_t> t{7};
  const int32_t a = *bm.Allocate();
  bm.Register(a, BlockManager::BlockKey(0, t), 0, t);
  std::vector<uint64_t> keys;
  EXPECT_TRUE(bm.Match(t, 1, &keys).empty());
  EXPECT_FALSE(bm.is_cached(a));
}

}  // namespace
}  // namespace mies::engine
