// Mixture-of-Experts decoders (and Mistral's sliding window) against the repository's numpy
// reference (tools/reference/ref_decoder.py, written from transformers' semantics): f32 logits
// within 1e-4 at every position of a long prompt and identical greedy tokens; a MoE whose
// experts all equal a dense MLP equals that dense model; routing ties go to the lower index.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "model/moe.h"
#include "model_test_util.h"

namespace mies::model {
namespace {

using namespace mies::model::testing;
using ::testing::HasSubstr;

std::unique_ptr<LlamaModel> LoadDir(const std::string& dir, Collective* c, int threads = 1) {
  ModelOptions opt;
  opt.num_threads = threads;
  auto m = LlamaModel::Load(dir, opt, c);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceTest, LogitsMatchTheReferenceOnALongPromptAndGreedyAgrees) {
  TempDir dir;
  auto spec = tools::PresetSpec(GetParam());
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  // 96 prompt positions (past every sliding window of the presets), then 24 greedy steps.
  std::vector<int32_t> prompt{1};
  auto rest = PseudoRandomIds(95, 3, static_cast<int32_t>(spec->vocab_size), 11);
  prompt.insert(prompt.end(), rest.begin(), rest.end());
  constexpr int kSteps = 24;
  RefRun ref;
  ASSERT_TRUE(RunRef(dir.path(), prompt, kSteps, &ref, "decoder"));
  IdentityCollective one;
  auto model = LoadDir(dir.path(), &one, 2);
  auto cache = KvCache::Create(model->CacheShape(16), 16);
  ASSERT_TRUE(cache.ok());
  std::vector<float> logits;
  auto gen = RunGreedy(*model, **cache, prompt, kSteps, &logits);
  ASSERT_EQ(logits.size(), ref.logits.size());
  float worst = 0;
  for (int64_t r = 0; r < static_cast<int64_t>(logits.size() / ref.vocab); ++r) {
    worst = std::max(worst, MaxAbsDiff(logits.data() + r * ref.vocab, ref.Row(r), ref.vocab));
  }
  EXPECT_LT(worst, 1e-4f);
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
  EXPECT_EQ(gen, ref.generated);
}

INSTANTIATE_TEST_SUITE_P(Presets, ReferenceTest,
                         ::testing::Values("tiny-qwen3-moe", "tiny-qwen2-moe", "tiny-mixtral",
                                           "tiny-mistral-window"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(c) ? c : '_';
                           return n;
                         });

TEST(MoeModelTest, ExpertsThatAllEqualTheDenseMlpGiveTheDenseModel) {
  for (const char* arch : {"Qwen3MoeForCausalLM", "MixtralForCausalLM"}) {
    SCOPED_TRACE(arch);
    TempDir moe_dir, dense_dir;
    auto moe = tools::PresetSpec(std::string(arch) == "MixtralForCausalLM" ? "tiny-mixtral"
                                                                           : "tiny-qwen3-moe");
    ASSERT_TRUE(moe.ok());
    moe->mlp_only_layers.clear();
    moe->sliding_window = 0;
    moe->equal_experts = true;
    ASSERT_TRUE(tools::WriteSyntheticModel(*moe, moe_dir.path()).ok());
    // The dense twin: same seed and attention, MLP size = the experts' size.
    tools::SyntheticModelSpec dense = *moe;
    dense.architecture =
        std::string(arch) == "MixtralForCausalLM" ? "MistralForCausalLM" : "Qwen3ForCausalLM";
    dense.num_experts = dense.num_experts_per_tok = 0;
    if (dense.moe_intermediate_size > 0) dense.intermediate_size = dense.moe_intermediate_size;
    dense.moe_intermediate_size = 0;
    ASSERT_TRUE(tools::WriteSyntheticModel(dense, dense_dir.path()).ok());

    IdentityCollective one;
    auto a = LoadDir(moe_dir.path(), &one), b = LoadDir(dense_dir.path(), &one);
    const auto prompt = PseudoRandomIds(40, 0, static_cast<int32_t>(moe->vocab_size), 5);
    std::vector<float> la, lb;
    auto ca = KvCache::Create(a->CacheShape(16), 8), cb = KvCache::Create(b->CacheShape(16), 8);
    ASSERT_TRUE(ca.ok() && cb.ok());
    auto ga = RunGreedy(*a, **ca, prompt, 8, &la);
    auto gb = RunGreedy(*b, **cb, prompt, 8, &lb);
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_LT(MaxAbsDiff(la.data(), lb.data(), static_cast<int64_t>(la.size())), 1e-5f);
    EXPECT_EQ(ga, gb);
  }
}

TEST(MoeRoutingTest, TopKTiesGoToTheLowerExpertAndWeightsRenormalize) {
  // Token 0: experts 1 and 3 tie for first, 0 and 2 tie below them.
  // Token 1: all four equal: the two lowest indices win, each weight 1/4 (or 1/2 renormalized).
  const float logits[] = {0.5f, 2.0f, 0.5f, 2.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  int32_t experts[4];
  float weights[4];
  RouteTopK(logits, 2, 4, 2, /*renormalize=*/false, experts, weights);
  EXPECT_EQ(std::vector<int32_t>(experts, experts + 4), (std::vector<int32_t>{1, 3, 0, 1}));
  EXPECT_NEAR(weights[2], 0.25f, 1e-7f);
  const float p_top = std::exp(2.0f) / (2 * std::exp(2.0f) + 2 * std::exp(0.5f));
  EXPECT_NEAR(weights[0], p_top, 1e-6f);
  RouteTopK(logits, 2, 4, 2, /*renormalize=*/true, experts, weights);
  EXPECT_NEAR(weights[0], 0.5f, 1e-7f);
  EXPECT_NEAR(weights[0] + weights[1], 1.0f, 1e-7f);
  EXPECT_NEAR(weights[2] + weights[3], 1.0f, 1e-7f);
}

TEST(MoeModelTest, ExpertSplitsThatDoNotDivideAreRefusedNamingTheNumbers) {
  TempDir dir;
  auto spec = tools::PresetSpec("tiny-qwen3-moe");  // 8 experts, 8 heads / 2 KV heads
  ASSERT_TRUE(spec.ok());
  spec->num_experts = 6;
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  InProcessGroup group(4);
  auto member = group.Member(0);
  ModelOptions opt;
  opt.parallel = {0, 4, 4};  // 6 experts over 4 expert groups
  auto m = LlamaModel::Load(dir.path(), opt, member.get());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("num_experts 6 cannot be split evenly over moe_ep 4"));
  opt.parallel = {0, 4, 3};
  m = LlamaModel::Load(dir.path(), opt, member.get());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("moe_ep 3 must divide the tensor-parallel size 4"));
}

TEST(MoeModelTest, EachRankLoadsOnlyItsOwnExperts) {
  TempDir dir;
  auto spec = tools::PresetSpec("tiny-qwen3-moe");
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  InProcessGroup group(2);
  std::vector<std::unique_ptr<Collective>> members;
  members.push_back(group.Member(0));
  members.push_back(group.Member(1));
  IdentityCollective one;
  auto whole = LoadDir(dir.path(), &one);
  int64_t expert_bytes_whole = 0;
  for (const auto& L : whole->weights().layers) {
    if (!L.moe) continue;
    EXPECT_EQ(L.moe->experts.size(), 8u);
    for (const auto& e : L.moe->experts) expert_bytes_whole += e.gate_up.bytes() + e.down.bytes();
  }
  for (int r = 0; r < 2; ++r) {
    ModelOptions opt;
    opt.parallel = {r, 2, 2};
    auto m = LlamaModel::Load(dir.path(), opt, members[r].get());
    ASSERT_TRUE(m.ok()) << m.status();
    int64_t bytes = 0;
    for (const auto& L : (*m)->weights().layers) {
      if (!L.moe) continue;
      EXPECT_EQ(L.moe->experts.size(), 4u);
      EXPECT_EQ(L.moe->expert_begin, 4 * r);
      for (const auto& e : L.moe->experts) bytes += e.gate_up.bytes() + e.down.bytes();
    }
    EXPECT_EQ(2 * bytes, expert_bytes_whole);
  }
}

}  // namespace
}  // namespace mies::model
