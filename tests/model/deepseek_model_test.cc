// DeepSeek V2/V3 (multi-head latent attention, grouped routing, shared experts, yarn, FP8 block
// scales) against the repository's numpy reference (tools/reference/ref_decoder.py, written from
// transformers' and DeepSeek's modeling code): f32 logits within 1e-4 at every position and
// identical greedy tokens; the absorbed attention mies runs equals the expanded form within 1e-5;
// the latent cache's size per token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/attention.h"
#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "model_test_util.h"

namespace mies::model {
namespace {

using namespace mies::model::testing;
using ::testing::HasSubstr;

class DeepseekReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DeepseekReferenceTest, LogitsMatchTheReferenceAndGreedyAgrees) {
  TempDir dir;
  auto spec = tools::PresetSpec(GetParam());
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  std::vector<int32_t> prompt{1};
  auto rest = PseudoRandomIds(79, 3, static_cast<int32_t>(spec->vocab_size), 23);
  prompt.insert(prompt.end(), rest.begin(), rest.end());
  constexpr int kSteps = 16;
  RefRun ref;
  ASSERT_TRUE(RunRef(dir.path(), prompt, kSteps, &ref, "decoder"));
  IdentityCollective one;
  ModelOptions opt;
  opt.num_threads = 2;
  auto model = LlamaModel::Load(dir.path(), opt, &one);
  ASSERT_TRUE(model.ok()) << model.status();
  auto cache = KvCache::Create((*model)->CacheShape(16), 8);
  ASSERT_TRUE(cache.ok());
  std::vector<float> logits;
  auto gen = RunGreedy(**model, **cache, prompt, kSteps, &logits);
  ASSERT_EQ(logits.size(), ref.logits.size());
  float worst = 0;
  for (int64_t r = 0; r < static_cast<int64_t>(logits.size() / ref.vocab); ++r) {
    worst = std::max(worst, MaxAbsDiff(logits.data() + r * ref.vocab, ref.Row(r), ref.vocab));
  }
  EXPECT_LT(worst, 1e-4f);
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
  EXPECT_EQ(gen, ref.generated);
}

INSTANTIATE_TEST_SUITE_P(Presets, DeepseekReferenceTest,
                         ::testing::Values("tiny-deepseek-v3", "tiny-deepseek-v2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(c) ? c : '_';
                           return n;
                         });

// One head, one sequence: attention in the absorbed form (queries pulled into the latent space,
// values kept latent until the end) equals expanding every position's key and value first.
TEST(MlaTest, AbsorbedAttentionEqualsTheExpandedForm) {
  const int64_t r = 24, rope = 8, nope = 16, v = 12, S = 37, lat = r + rope;
  std::mt19937 rng(5);
  std::normal_distribution<float> n01(0, 1);
  auto randn = [&](int64_t n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& f : x) f = n01(rng) * 0.5f;
    return x;
  };
  const auto latent = randn(S * lat);  // [S][r + rope]: c then k_rot
  const auto uk = randn(nope * r);     // kv_b's key rows [nope][r]
  const auto uv = randn(v * r);        // its value rows [v][r]
  const auto q_nope = randn(nope), q_rot = randn(rope);
  const float scale = 0.3f;

  // Expanded, in double: k_s = [uk c_s ; k_rot_s], v_s = uv c_s.
  std::vector<double> score(S), expanded(v, 0.0);
  double mx = -1e300, z = 0;
  for (int64_t s = 0; s < S; ++s) {
    const float* c = latent.data() + s * lat;
    double d = 0;
    for (int64_t i = 0; i < nope; ++i) {
      double k = 0;
      for (int64_t j = 0; j < r; ++j) k += double{uk[i * r + j]} * c[j];
      d += double{q_nope[i]} * k;
    }
    for (int64_t i = 0; i < rope; ++i) d += double{q_rot[i]} * c[r + i];
    score[s] = d * scale;
    mx = std::max(mx, score[s]);
  }
  for (int64_t s = 0; s < S; ++s) z += std::exp(score[s] - mx);
  for (int64_t s = 0; s < S; ++s) {
    const double p = std::exp(score[s] - mx) / z;
    const float* c = latent.data() + s * lat;
    for (int64_t o = 0; o < v; ++o) {
      double val = 0;
      for (int64_t j = 0; j < r; ++j) val += double{uv[o * r + j]} * c[j];
      expanded[o] += p * val;
    }
  }

  // Absorbed, through the kernel mies runs: q = [ukᵀ q_nope ; q_rot] over the latent cache.
  const int64_t block_size = 4, blocks = (S + block_size - 1) / block_size;
  std::vector<int32_t> table(blocks);
  for (int64_t b = 0; b < blocks; ++b) table[b] = static_cast<int32_t>(blocks - 1 - b);
  std::vector<float> cache(blocks * block_size * lat, 0.0f);
  ASSERT_TRUE(kernels::WriteKv(latent.data(), nullptr, S, 0, table, block_size, blocks, 1, lat,
                               cache.data(), nullptr)
                  .ok());
  std::vector<float> q(lat, 0.0f);
  for (int64_t j = 0; j < r; ++j) {
    for (int64_t i = 0; i < nope; ++i) q[j] += q_nope[i] * uk[i * r + j];
  }
  std::copy(q_rot.begin(), q_rot.end(), q.begin() + r);
  std::vector<float> olat(r);
  ThreadPool pool(1);
  kernels::PagedLatentAttention(q.data(), 1, S - 1, cache.data(), table, block_size, 1, lat, r,
                                scale, olat.data(), pool);
  for (int64_t o = 0; o < v; ++o) {
    double absorbed = 0;
    for (int64_t j = 0; j < r; ++j) absorbed += double{uv[o * r + j]} * olat[j];
    EXPECT_NEAR(absorbed, expanded[o], 1e-5) << "output " << o;
  }
}

TEST(MlaTest, TheLatentCacheHoldsRankPlusRopeFloatsPerTokenAndLayer) {
  TempDir dir;
  auto spec = tools::PresetSpec("tiny-deepseek-v3");
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  IdentityCollective one;
  auto model = LlamaModel::Load(dir.path(), {}, &one);
  ASSERT_TRUE(model.ok()) << model.status();
  const KvCacheShape shape = (*model)->CacheShape(16);
  EXPECT_EQ(shape.BytesPerToken(), 3 * (24 + 8) * 4);  // layers x (kv_lora + rope) x f32
  // A full K/V cache of the same model would hold H x ((nope + rope) + v) per layer.
  const int64_t full = 3 * 4 * ((16 + 8) + 12) * 4;
  EXPECT_GT(full, 4 * shape.BytesPerToken());
}

TEST(DeepseekConfigTest, UnsupportedRoutingAndQuantizationAreNamed) {
  TempDir dir;
  auto spec = tools::PresetSpec("tiny-deepseek-v3");
  ASSERT_TRUE(spec.ok());
  spec->topk_method = "random_pick";
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  IdentityCollective one;
  auto m = LlamaModel::Load(dir.path(), {}, &one);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("topk_method \"random_pick\" is not supported"));
}

}  // namespace
}  // namespace mies::model
