#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"

namespace mies::kernels {
namespace {

using testing::KernelPathTest;

class OpsTest : public KernelPathTest {};

TEST_P(OpsTest, RmsNormMatchesDoubleReferenceInPlaceAndPerHead) {
  for (int64_t dim : {1, 7, 64, 2051}) {
    const int64_t rows = 3;
    std::vector<float> x = testing::RandomFloats(rows * dim, 1, -4.0f, 4.0f);
    std::vector<float> w = testing::RandomFloats(dim, 2);
    std::vector<float> out(x.size());
    RmsNorm(x.data(), rows, dim, w.data(), 1e-5f, out.data());
    std::vector<float> inplace = x;
    RmsNorm(inplace.data(), rows, dim, w.data(), 1e-5f, inplace.data());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
      double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int64_t i = 0; i < dim; ++i) {
        double ref = x[r * dim + i] * inv * w[i];
        ASSERT_NEAR(out[r * dim + i], ref, 1e-5 * (1 + std::fabs(ref))) << dim << " " << i;
        ASSERT_EQ(inplace[r * dim + i], out[r * dim + i]);
      }
    }
  }
}

TEST_P(OpsTest, SiluMulMatchesReferenceAndMayAliasGate) {
  const int64_t n = 1001;
  std::vector<float> g = testing::RandomFloats(n, 3, -20.0f, 20.0f);
  std::vector<float> u = testing::RandomFloats(n, 4);
  std::vector<float> out(n);
  SiluMul(g.data(), u.data(), n, out.data());
  std::vector<float> alias = g;
  SiluMul(alias.data(), u.data(), n, alias.data());
  for (int64_t i = 0; i < n; ++i) {
    double ref = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
    ASSERT_NEAR(out[i], ref, 1e-6 * (1 + std::fabs(ref))) << i;
    ASSERT_EQ(alias[i], out[i]);
  }
}

TEST_P(OpsTest, RopeRotatesHalvesWithDoubleAnglesAtLargePositions) {
  const int64_t tokens = 3, heads = 2, head_dim = 10, half = 5;
  std::vector<double> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = 1.0 / std::pow(10000.0, 2.0 * i / head_dim);
  std::vector<int32_t> pos = {0, 17, 100000};
  std::vector<float> x = testing::RandomFloats(tokens * heads * head_dim, 5);
  std::vector<float> y = x;
  ApplyRope(y.data(), tokens, heads, head_dim, pos.data(), inv_freq.data());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* a = &x[(t * heads + h) * head_dim];
      const float* b = &y[(t * heads + h) * head_dim];
      for (int64_t i = 0; i < half; ++i) {
        double ang = pos[t] * inv_freq[i];
        double r0 = a[i] * std::cos(ang) - a[i + half] * std::sin(ang);
        double r1 = a[i + half] * std::cos(ang) + a[i] * std::sin(ang);
        ASSERT_NEAR(b[i], r0, 2e-6) << t << " " << i;
        ASSERT_NEAR(b[i + half], r1, 2e-6) << t << " " << i;
      }
    }
  }
  // Position 0 is the identity.
  for (int64_t i = 0; i < heads * head_dim; ++i) EXPECT_EQ(y[i], x[i]);
}

TEST_P(OpsTest, SoftmaxIsStableForLargeLogits) {
  std::vector<float> x = {1000.0f, 999.0f, -1000.0f, 0.0f, 3.0f, 3.0f, 3.0f, 3.0f};
  Softmax(x.data(), 2, 4);
  double e1 = std::exp(-1.0), z = 1 + e1;
  EXPECT_NEAR(x[0], 1 / z, 1e-7);
  EXPECT_NEAR(x[1], e1 / z, 1e-7);
  EXPECT_EQ(x[2], 0.0f);
  for (int i = 4; i < 8; ++i) EXPECT_NEAR(x[i], 0.25f, 1e-7);
}

TEST_P(OpsTest, AddInPlaceAndConvertRow) {
  std::vector<float> a = {1, 2, 3}, b = {0.5f, -2, 10};
  AddInPlace(a.data(), b.data(), 3);
  EXPECT_EQ(a, (std::vector<float>{1.5f, 0, 13}));
  const int64_t n = 19;
  std::vector<float> src = testing::RandomFloats(n, 6);
  std::vector<uint16_t> h(n), bf(n);
  for (int64_t i = 0; i < n; ++i) {
    h[i] = F32ToF16(src[i]);
    bf[i] = F32ToBF16(src[i]);
  }
  std::vector<int8_t> q(n);
  for (int64_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>(i * 13 - 120);
  std::vector<float> out(n);
  ConvertRow(src.data(), DType::kF32, n, out.data());
  EXPECT_EQ(out, src);
  ConvertRow(h.data(), DType::kF16, n, out.data());
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[i], F16ToF32(h[i]));
  ConvertRow(bf.data(), DType::kBF16, n, out.data());
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[i], BF16ToF32(bf[i]));
  ConvertRow(q.data(), DType::kInt8, n, out.data(), 0.5f);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[i], q[i] * 0.5f);
}
MIES_INSTANTIATE_KERNEL_PATHS(OpsTest);

}  // namespace
}  // namespace mies::kernels
