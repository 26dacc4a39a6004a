// GPTQ and AWQ 4-bit checkpoints (written by mies-make-model's generator as those tools publish
// them) against the numpy reference tools/reference/quant_ref.py, which dequantizes them to a
// float32 model from its own reading of the formats: mies on the 4-bit checkpoint must compute
// what mies computes on the dequantized weights, up to its int8 activations.
//
// Tolerance, derived as in dtype_test.cc: the 4-bit weights are the same on both sides, so the
// difference is the int4 path's int8 activations (half a step of max|x_row| / 127: ≈ 8/254 of a
// row's rms for crest factors up to 8) and its int8 lm_head (3.5/254): ε = 11.5/254 per product,
// 6·ε·sqrt(4L+1)·rms(logits) per position. A misread nibble order, zero offset or group would
// change the weights themselves by whole steps, far outside it, and break top-1 agreement.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "model_test_util.h"

namespace mies::model {
namespace {

using namespace mies::model::testing;

bool HaveNumpy() { return std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0; }

std::unique_ptr<LlamaModel> Load(const std::string& dir, const std::string& dtype,
                                 IdentityCollective* one) {
  ModelOptions opt;
  opt.dtype = dtype;
  opt.activations = "float32";
  opt.num_threads = 2;
  auto m = LlamaModel::Load(dir, opt, one);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

class QuantCheckpointTest : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantCheckpointTest, LogitsMatchTheNumpyDequantizedModel) {
  if (!HaveNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed";
  TempDir q, f;
  auto spec = tools::PresetSpec("tiny");
  ASSERT_TRUE(spec.ok());
  spec->quant = GetParam();
  spec->quant_group_size = 32;
  spec->seed = 17;
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, q.path()).ok());
  const std::string cmd = "/usr/bin/python3 " + std::string(MIES_SOURCE_DIR) +
                          "/tools/reference/quant_ref.py " + q.path() + " " + f.path() +
                          " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  IdentityCollective one;
  auto q4 = Load(q.path(), "auto", &one);
  auto ref = Load(f.path(), "float32", &one);
  ASSERT_TRUE(q4 && ref);
  EXPECT_EQ(q4->weights().dtype, kernels::DType::kInt4);
  const auto seq = PseudoRandomIds(40, 0, static_cast<int32_t>(spec->vocab_size), 9);
  const auto table = Blocks(0, 8);
  SequenceInput in{seq, 0, table, static_cast<int64_t>(seq.size())};
  auto cq = KvCache::Create(q4->CacheShape(16), 8);
  auto cr = KvCache::Create(ref->CacheShape(16), 8);
  ASSERT_TRUE(cq.ok() && cr.ok());
  ForwardOutput oq, orf;
  ASSERT_TRUE(q4->Forward({&in, 1}, **cq, &oq).ok());
  ASSERT_TRUE(ref->Forward({&in, 1}, **cr, &orf).ok());
  const int64_t V = oq.vocab;
  const double eps = 11.5 / 254, L = static_cast<double>(spec->num_hidden_layers);
  int agree = 0;
  double worst = 0, worst_ratio = 0;
  for (int64_t r = 0; r < static_cast<int64_t>(seq.size()); ++r) {
    const float* a = orf.Row(0, r);
    const float* b = oq.Row(0, r);
    double ss = 0;
    for (int64_t v = 0; v < V; ++v) ss += double(a[v]) * a[v];
    const double tol = 6 * eps * std::sqrt(4 * L + 1) * std::sqrt(ss / V) + 1e-4;
    const double d = MaxAbsDiff(a, b, V);
    worst = std::max(worst, d);
    worst_ratio = std::max(worst_ratio, d / tol);
    agree += Argmax(a, V) == Argmax(b, V);
  }
  std::cout << GetParam() << ": max |dlogit| " << worst << " (" << worst_ratio
            << " of the tolerance), top-1 agreement " << agree << "/" << seq.size() << "\n";
  EXPECT_LE(worst_ratio, 1.0);
  EXPECT_GE(agree, static_cast<int>(seq.size()) * 9 / 10);
}

INSTANTIATE_TEST_SUITE_P(Methods, QuantCheckpointTest, ::testing::Values("gptq", "awq"),
                         [](const auto& info) { return info.param; });

TEST(QuantCheckpointRules, ActOrderAndOtherDtypesAreRefusedByName) {
  TempDir q;
  auto spec = tools::PresetSpec("tiny");
  ASSERT_TRUE(spec.ok());
  spec->quant = "gptq";
  spec->quant_group_size = 32;
  ASSERT_TRUE(tools::WriteSyntheticModel(*spec, q.path()).ok());
  IdentityCollective one;
  ModelOptions opt;
  opt.dtype = "bfloat16";
  auto m = LlamaModel::Load(q.path(), opt, &one);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()),
              ::testing::HasSubstr("dtype must be auto or int4"));

  // desc_act true: the config is refused before any weight is read.
  std::ifstream in(q / "config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "\"desc_act\": false";
  ASSERT_NE(text.find(from), std::string::npos) << text;
  text.replace(text.find(from), from.size(), "\"desc_act\": true");
  std::ofstream(q / "config.json", std::ios::trunc) << text;
  opt.dtype = "auto";
  m = LlamaModel::Load(q.path(), opt, &one);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), ::testing::HasSubstr("desc_act true"));
}

}  // namespace
}  // namespace mies::model
