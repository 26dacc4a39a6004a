#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernel_test_util.h"

namespace mies::kernels {
namespace {

using testing::KernelPathTest;

struct Case {
  int64_t n_heads, n_kv_heads, head_dim, block_size, start_pos, n_new;
  float q_scale;       // inflates logits to stress the online softmax
  int64_t window = 0;  // sliding window (0: the whole context)
};

// Dense causal attention in double over contiguous k, v [total][n_kv][head_dim].
std::vector<double> NaiveAttention(const Case& c, const std::vector<float>& q,
                                   const std::vector<float>& k, const std::vector<float>& v,
                                   float scale) {
  const int64_t group = c.n_heads / c.n_kv_heads;
  std::vector<double> out(c.n_new * c.n_heads * c.head_dim, 0.0);
  for (int64_t i = 0; i < c.n_new; ++i) {
    const int64_t n_pos = c.start_pos + i + 1;
    // A window of W keeps keys at positions > q_pos - W (transformers' sliding mask).
    const int64_t first = c.window > 0 ? std::max<int64_t>(0, n_pos - c.window) : 0;
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const int64_t kvh = h / group;
      std::vector<double> s(n_pos, -INFINITY);
      for (int64_t p = first; p < n_pos; ++p) {
        double d = 0;
        for (int64_t e = 0; e < c.head_dim; ++e)
          d += double(q[(i * c.n_heads + h) * c.head_dim + e]) *
               k[(p * c.n_kv_heads + kvh) * c.head_dim + e];
        s[p] = d * scale;
      }
      double mx = *std::max_element(s.begin(), s.end()), z = 0;
      for (auto& x : s) z += (x = std::exp(x - mx));
      for (int64_t p = first; p < n_pos; ++p)
        for (int64_t e = 0; e < c.head_dim; ++e)
          out[(i * c.n_heads + h) * c.head_dim + e] +=
              s[p] / z * v[(p * c.n_kv_heads + kvh) * c.head_dim + e];
    }
  }
  return out;
}

// Writes the whole sequence through WriteKv into randomly permuted blocks (in two calls, as a
// prefill then a chunk), runs PagedAttention for the last n_new positions, compares to dense.
void RunCase(const Case& c, uint32_t seed, int threads) {
  const int64_t total = c.start_pos + c.n_new;
  const int64_t blocks_needed = (total + c.block_size - 1) / c.block_size;
  const int64_t num_blocks = blocks_needed + 3;  // spare blocks stay unused (filled with junk)
  std::vector<int32_t> table(num_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(seed));
  table.resize(blocks_needed);

  const int64_t row = c.n_kv_heads * c.head_dim;
  std::vector<float> k = testing::RandomFloats(total * row, seed + 1);
  std::vector<float> v = testing::RandomFloats(total * row, seed + 2);
  std::vector<float> q =
      testing::RandomFloats(c.n_new * c.n_heads * c.head_dim, seed + 3, -c.q_scale, c.q_scale);
  std::vector<float> k_cache(num_blocks * c.block_size * row, 1e30f);
  std::vector<float> v_cache(num_blocks * c.block_size * row, 1e30f);
  const int64_t first = c.start_pos / 2;
  ASSERT_TRUE(WriteKv(k.data(), v.data(), first, 0, table, c.block_size, num_blocks, c.n_kv_heads,
                      c.head_dim, k_cache.data(), v_cache.data())
                  .ok());
  ASSERT_TRUE(WriteKv(k.data() + first * row, v.data() + first * row, total - first, first, table,
                      c.block_size, num_blocks, c.n_kv_heads, c.head_dim, k_cache.data(),
                      v_cache.data())
                  .ok());

  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  std::vector<float> out(q.size(), NAN);
  ThreadPool pool(threads);
  PagedAttention(q.data(), c.n_new, c.start_pos, k_cache.data(), v_cache.data(), table,
                 c.block_size, c.n_heads, c.n_kv_heads, c.head_dim, scale, out.data(), pool,
                 c.window);
  // Dense reference sees K/V of positions start_pos.. as the rows after start_pos.
  std::vector<double> ref = NaiveAttention(c, q, k, v, scale);
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_NEAR(out[i], ref[i], 2e-5)
        << "heads " << c.n_heads << "/" << c.n_kv_heads << " hd " << c.head_dim << " bs "
        << c.block_size << " start " << c.start_pos << " at " << i;
  }
}

class PagedAttentionTest : public KernelPathTest {};

TEST_P(PagedAttentionTest, MatchesDenseAttentionForGqaRatiosAndBlockLayouts) {
  const std::vector<Case> cases = {
      {4, 4, 8, 1, 0, 1, 1.0f},      // single token, MHA, one-slot blocks
      {8, 2, 16, 3, 10, 5, 1.0f},    // GQA 4:1, odd block size, chunked prefill
      {6, 1, 12, 16, 37, 1, 1.0f},   // MQA, head_dim not a multiple of 8, decode
      {32, 4, 64, 16, 0, 40, 1.0f},  // TinyLlama head layout, fresh prefill
      {2, 2, 20, 4, 5, 7, 3.0f},
  };
  uint32_t seed = 100;
  for (const Case& c : cases) {
    for (int threads : {1, 2}) RunCase(c, seed++, threads);
  }
}

TEST_P(PagedAttentionTest, SlidingWindowAttendsToTheLastWindowPositionsOnly) {
  const std::vector<Case> cases = {
      {8, 2, 16, 4, 30, 6, 1.0f, 7},    // chunk crossing the window edge, GQA
      {4, 4, 8, 3, 100, 1, 2.0f, 1},    // a window of one: the token itself
      {4, 1, 32, 16, 0, 70, 1.0f, 16},  // prefill longer than the window, several chunks
      {2, 2, 20, 4, 5, 3, 1.0f, 64},    // window longer than the sequence: plain causal
  };
  uint32_t seed = 300;
  for (const Case& c : cases) {
    for (int threads : {1, 2}) RunCase(c, seed++, threads);
  }
}

TEST_P(PagedAttentionTest, LongSequenceWithLargeLogitsStaysStable) {
  // Logits up to ~±400: exp() would overflow without the running max.
  RunCase({4, 2, 32, 16, 3000, 2, 20.0f}, 7, 2);
}
MIES_INSTANTIATE_KERNEL_PATHS(PagedAttentionTest);

TEST(WriteKvTest, RejectsShortTablesAndOutOfRangeBlocksBeforeWriting) {
  std::vector<float> kv(2 * 4, 1.0f), cache(4 * 2 * 4, 0.0f), vcache = cache;
  std::vector<int32_t> table = {1};
  Status s = WriteKv(kv.data(), kv.data(), 2, 1, table, 2, 4, 1, 4, cache.data(), vcache.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("block index 1"), std::string::npos) << s;
  table = {1, 7};
  s = WriteKv(kv.data(), kv.data(), 2, 1, table, 2, 4, 1, 4, cache.data(), vcache.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("= 7"), std::string::npos) << s;
  EXPECT_TRUE(std::all_of(cache.begin(), cache.end(), [](float f) { return f == 0.0f; }));
  s = WriteKv(kv.data(), kv.data(), 1, 0, table, 0, 4, 1, 4, cache.data(), vcache.data());
  EXPECT_NE(s.message().find("block_size 0"), std::string::npos) << s;
}

}  // namespace
}  // namespace mies::kernels
