// The forward pass against the numpy reference (shared/tools/ref_llama.py) on the real
// stories260K model: f32 logits within 1e-4 at every position, identical greedy tokens.
#include "model/llama_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernels/dispatch.h"
#include "model_test_util.h"
#include "support/shared_data.h"

namespace mies::model {
namespace {

using namespace mies::model::testing;

class Stories260KTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MIES_REQUIRE_SHARED_DATA(HaveShared(), "shared dir " + SharedDir());
    CopyModelDir(Stories260KDir(), dir_.path());
  }
  std::unique_ptr<LlamaModel> Load(const std::string& dtype = "auto", int threads = 1) {
    ModelOptions opt;
    opt.dtype = dtype;
    opt.num_threads = threads;
    auto m = LlamaModel::Load(dir_.path(), opt, &identity_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  std::unique_ptr<KvCache> Cache(const LlamaModel& m, int64_t blocks = 64, int64_t bs = 16) {
    auto c = KvCache::Create(m.CacheShape(bs), blocks);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  TempDir dir_;
  IdentityCollective identity_;
};

TEST_F(Stories260KTest, LogitsMatchReferenceAtEveryPositionAndGreedyAgreesFor256Steps) {
  // A 200-token prompt (BOS + pseudo-random ids), then 300 greedy steps: 500 of 512 positions.
  std::vector<int32_t> prompt{1};
  auto rest = PseudoRandomIds(199, 3, 512, 7);
  prompt.insert(prompt.end(), rest.begin(), rest.end());
  constexpr int kSteps = 300;
  RefRun ref;
  ASSERT_TRUE(RunRef(dir_.path(), prompt, kSteps, &ref));
  auto model = Load();
  auto cache = Cache(*model);
  std::vector<float> logits;
  auto gen = RunGreedy(*model, *cache, prompt, kSteps, &logits);
  ASSERT_EQ(logits.size(), ref.logits.size());
  float worst = 0;
  int64_t worst_row = -1;
  for (int64_t r = 0; r < static_cast<int64_t>(logits.size() / ref.vocab); ++r) {
    float d = MaxAbsDiff(logits.data() + r * ref.vocab, ref.Row(r), ref.vocab);
    if (d > worst) worst = d, worst_row = r;
  }
  EXPECT_LT(worst, 1e-4f) << "worst row " << worst_row;
  RecordProperty("max_abs_logit_diff", std::to_string(worst));
  EXPECT_EQ(gen, ref.generated);
}

TEST_F(Stories260KTest, PortableScalarKernelsAlsoMatchReference) {
  // The same check on the run-time-selected portable path (MIES_KERNELS=scalar's path).
  const kernels::KernelPath before = kernels::ActiveKernelPath();
  ASSERT_TRUE(kernels::SetKernelPath(kernels::KernelPath::kScalar).ok());
  std::vector<int32_t> prompt{1};
  auto rest = PseudoRandomIds(63, 3, 512, 9);
  prompt.insert(prompt.end(), rest.begin(), rest.end());
  constexpr int kSteps = 64;
  RefRun ref;
  bool have_ref = RunRef(dir_.path(), prompt, kSteps, &ref);
  auto model = Load();
  auto cache = Cache(*model);
  std::vector<float> logits;
  auto gen = RunGreedy(*model, *cache, prompt, kSteps, &logits);
  ASSERT_TRUE(kernels::SetKernelPath(before).ok());
  ASSERT_TRUE(have_ref);
  ASSERT_EQ(logits.size(), ref.logits.size());
  EXPECT_LT(MaxAbsDiff(logits.data(), ref.logits.data(), static_cast<int64_t>(logits.size())),
            1e-4f);
  EXPECT_EQ(gen, ref.generated);
}

}  // namespace
}  // namespace mies::model
