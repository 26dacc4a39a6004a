// ModelRunner: the rows it returns follow StepSequence::logit_rows() for every kind of sequence
// in one step, they equal the model's own forward pass, and block copies are applied (and
// bounds-checked) before the step.
#include "runner/model_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "make_model/synthetic_model.h"
#include "model/model_test_util.h"

namespace mies::runner {
namespace {

using model::testing::Blocks;
using model::testing::PseudoRandomIds;
using model::testing::TempDir;
using ::testing::HasSubstr;

class ModelRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spec = tools::PresetSpec("tiny");
    ASSERT_TRUE(spec.ok());
    vocab_ = spec->vocab_size;
    ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir_.path()).ok());
  }
  std::unique_ptr<model::LlamaModel> Load() {
    model::ModelOptions o;
    auto m = model::LlamaModel::Load(dir_.path(), o, &identity_);
    EXPECT_TRUE(m.ok()) << m.status();
    return std::move(m).value();
  }
  TempDir dir_;
  model::IdentityCollective identity_;
  int32_t vocab_ = 0;
};

engine::StepSequence Seq(std::vector<int32_t> tokens, int64_t start, std::vector<int32_t> table,
                         bool want, bool all) {
  engine::StepSequence s;
  s.tokens = std::move(tokens);
  s.start_pos = start;
  s.block_table = std::move(table);
  s.want_logits = want;
  s.all_logits = all;
  return s;
}

TEST_F(ModelRunnerTest, RowsFollowLogitRowsAndMatchTheModelsForwardPass) {
  auto runner = ModelRunner::Create(Load(), /*num_blocks=*/16, /*block_size=*/4);
  ASSERT_TRUE(runner.ok()) << runner.status();
  const auto a = PseudoRandomIds(9, 0, vocab_, 1), b = PseudoRandomIds(5, 0, vocab_, 2),
             c = PseudoRandomIds(3, 0, vocab_, 3);
  engine::StepPlan plan;
  plan.sequences.push_back(Seq(a, 0, Blocks(0, 3), /*want=*/false, /*all=*/false));  // a chunk
  plan.sequences.push_back(Seq(b, 0, Blocks(4, 2), /*want=*/true, /*all=*/true));    // logprobs
  plan.sequences.push_back(Seq(c, 0, Blocks(8, 1), /*want=*/true, /*all=*/false));   // sample
  engine::StepResult r;
  ASSERT_TRUE((*runner)->Run(plan, &r).ok());
  ASSERT_EQ(r.num_rows, (std::vector<int64_t>{0, 5, 1}));
  EXPECT_EQ(r.first_row, (std::vector<int64_t>{-1, 0, 5}));
  ASSERT_EQ(r.logits.size(), static_cast<size_t>(6 * vocab_));
  for (size_t i = 0; i < plan.sequences.size(); ++i) {
    EXPECT_EQ(r.num_rows[i], plan.sequences[i].logit_rows());
  }

  // The same sequences through the model directly, every row, in a fresh cache.
  auto reference = Load();
  auto cache = model::KvCache::Create(reference->CacheShape(4), 16);
  ASSERT_TRUE(cache.ok());
  const auto tb = Blocks(4, 2), tc = Blocks(8, 1);
  model::SequenceInput in[2] = {{b, 0, tb, 5}, {c, 0, tc, 3}};
  model::ForwardOutput out;
  ASSERT_TRUE(reference->Forward(in, **cache, &out).ok());
  for (int64_t i = 0; i < 5 * vocab_; ++i) ASSERT_NEAR(r.logits[i], out.Row(0)[i], 1e-5);
  const float* last_c = out.Row(1, 2);
  for (int64_t v = 0; v < vocab_; ++v) ASSERT_NEAR(r.logits[5 * vocab_ + v], last_c[v], 1e-5);
}

TEST_F(ModelRunnerTest, BlockCopiesAreCheckedThenAppliedBeforeTheStep) {
  auto runner = ModelRunner::Create(Load(), /*num_blocks=*/8, /*block_size=*/4);
  ASSERT_TRUE(runner.ok());
  // Prefill 6 tokens into blocks 0, 1.
  const auto prompt = PseudoRandomIds(6, 0, vocab_, 7);
  engine::StepPlan p1;
  p1.sequences.push_back(Seq(prompt, 0, {0, 1}, true, false));
  engine::StepResult r1;
  ASSERT_TRUE((*runner)->Run(p1, &r1).ok());

  // A copy outside the pool fails the step.
  engine::StepPlan bad;
  bad.block_copies = {{1, 5}, {0, 8}};
  engine::StepResult ignored;
  EXPECT_THAT(std::string((*runner)->Run(bad, &ignored).message()),
              HasSubstr("block copy 0 -> 8 outside the KV pool of 8 blocks"));

  // Decode on the original blocks, then on a copy of block 1 (as copy-on-write does): same
  // logits, because the copy is applied before the forward pass reads it.
  const std::vector<int32_t> next = {static_cast<int32_t>(prompt[0])};
  engine::StepPlan on_original;
  on_original.sequences.push_back(Seq(next, 6, {0, 1}, true, false));
  engine::StepResult ro;
  ASSERT_TRUE((*runner)->Run(on_original, &ro).ok());
  engine::StepPlan on_copy;
  on_copy.block_copies = {{1, 3}};
  on_copy.sequences.push_back(Seq(next, 6, {0, 3}, true, false));
  engine::StepResult rc;
  ASSERT_TRUE((*runner)->Run(on_copy, &rc).ok());
  ASSERT_EQ(ro.logits.size(), rc.logits.size());
  for (size_t i = 0; i < ro.logits.size(); ++i) ASSERT_EQ(ro.logits[i], rc.logits[i]);
}

TEST_F(ModelRunnerTest, ARankWithoutAPoolRefusesSteps) {
  ModelRunner runner(Load());
  engine::StepPlan plan;
  plan.sequences.push_back(Seq({1}, 0, {0}, true, false));
  EXPECT_TRUE(absl::IsFailedPrecondition(runner.Run(plan, nullptr)));
  EXPECT_TRUE(runner.AllocateCache(4, 16).ok());
  EXPECT_TRUE(runner.has_cache(4, 16));
  EXPECT_TRUE(runner.Run(plan, nullptr).ok());  // ranks other than 0 pass no result
}

}  // namespace
}  // namespace mies::runner
