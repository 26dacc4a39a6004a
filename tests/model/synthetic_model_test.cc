// Synthetic models from mies-make-model's generator against the numpy reference: the features
// stories260K lacks (GQA 8:1, Qwen2 biases, Qwen3 q/k norms and head_dim != hidden/heads,
// tied embeddings, llama3 RoPE scaling past the original context, sharded bf16 checkpoints).
#include "make_model/synthetic_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/llama_model.h"
#include "model_test_util.h"
#include "support/shared_data.h"

namespace mies::model {
namespace {

using namespace mies::model::testing;

struct Case {
  std::string preset;
  std::string dtype = "float32";
  int shards = 1;
  bool linear_rope = false;
  int steps = 64;  // greedy steps; the reference's numpy decode loop dominates the test's time
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.preset << "/" << c.dtype; }

class SyntheticVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(SyntheticVsReference, LogitsWithin1e4AndGreedyIdentical) {
  MIES_REQUIRE_SHARED_DATA(HaveShared(), "shared dir " + SharedDir());
  const Case& c = GetParam();
  TempDir dir;
  auto spec = tools::PresetSpec(c.preset);
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->dtype = c.dtype;
  spec->shards = c.shards;
  spec->seed = 11;
  if (c.linear_rope) {
    spec->rope_scaling = "linear";
    spec->rope_factor = 4;
  }
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());

  // 48-token prompt, then greedy steps: positions go past llama3's original context of 64.
  const auto prompt = PseudoRandomIds(48, 0, static_cast<int32_t>(spec->vocab_size), 5);
  const int kSteps = c.steps;
  RefRun ref;
  ASSERT_TRUE(RunRef(dir.path(), prompt, kSteps, &ref));

  IdentityCollective one;
  ModelOptions opt;
  opt.num_threads = 2;
  opt.activations = "float32";  // the reference multiplies f32 activations (dtype_test.cc: auto)
  auto model = LlamaModel::Load(dir.path(), opt, &one);
  ASSERT_TRUE(model.ok()) << model.status();
  auto cache = KvCache::Create((*model)->CacheShape(16), 24);
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

INSTANTIATE_TEST_SUITE_P(
    Presets, SyntheticVsReference,
    ::testing::Values(Case{"tiny", "float32", 1, false, /*steps=*/256}, Case{"tiny-gqa4"},
                      Case{"tiny-qwen2"}, Case{"tiny-qwen3"}, Case{"tiny-tied"},
                      Case{"tiny-llama3"}, Case{"tiny", "float32", 1, /*linear_rope=*/true},
                      Case{"tiny", "bfloat16", /*shards=*/3}, Case{"tiny-qwen3", "float16", 2}),
    [](const auto& info) {
      std::string n = info.param.preset + "_" + info.param.dtype + "_" +
                      std::to_string(info.param.shards) + (info.param.linear_rope ? "_linear" : "");
      for (char& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(SyntheticModelTest, UnknownPresetAndBadSpecAreNamed) {
  auto p = tools::PresetSpec("gpt5");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), ::testing::HasSubstr("unknown preset \"gpt5\""));
  tools::SyntheticModelSpec s;
  s.architecture = "Qwen3ForCausalLM";
  TempDir dir;
  EXPECT_THAT(std::string(tools::WriteSyntheticModel(s, dir.path()).message()),
              ::testing::HasSubstr("q/k norms"));
}

}  // namespace
}  // namespace mies::model
