// Tensor-parallel ranks as threads return what one rank returns, through the same ModelRunner:
// the reference the cluster tests compare against must itself agree with a single process.
#include "executor/in_process_tp_executor.h"

#include <gtest/gtest.h>

#include "executor/local_executor.h"
#include "make_model/synthetic_model.h"
#include "model/model_test_util.h"

namespace mies::executor {
namespace {

using model::testing::Blocks;
using model::testing::PseudoRandomIds;

TEST(InProcessTpExecutorTest, TwoRanksEqualOneOnAMixedStep) {
  model::testing::TempDir dir;
  auto spec = tools::PresetSpec("tiny");
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, dir.path()).ok());
  auto tp = InProcessTpExecutor::Create(dir.path(), "auto", 2, /*num_blocks=*/16,
                                        /*block_size=*/4);
  ASSERT_TRUE(tp.ok()) << tp.status();
  auto one = InProcessTpExecutor::Create(dir.path(), "auto", 1, 16, 4);
  ASSERT_TRUE(one.ok()) << one.status();
  engine::StepPlan plan;
  for (int s = 0; s < 3; ++s) {
    engine::StepSequence q;
    q.tokens = PseudoRandomIds(3 + 2 * s, 0, static_cast<int32_t>(spec->vocab_size), 10 + s);
    q.block_table = Blocks(4 * s, 3);
    q.all_logits = s == 1;
    q.want_logits = s != 0;
    plan.sequences.push_back(q);
  }
  auto a = (*tp)->Execute(plan);
  auto b = (*one)->Execute(plan);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->num_rows, b->num_rows);
  EXPECT_EQ(a->first_row, b->first_row);
  ASSERT_EQ(a->logits.size(), b->logits.size());
  for (size_t i = 0; i < a->logits.size(); ++i) ASSERT_NEAR(a->logits[i], b->logits[i], 1e-5);
}

}  // namespace
}  // namespace mies::executor
