#include "kernels/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"

namespace mies::kernels {
namespace {

using testing::KernelPathTest;

// Exact value of an f16 bit pattern computed from its fields in double.
double F16Reference(uint16_t h) {
  int sign = (h >> 15) ? -1 : 1;
  int exp = (h >> 10) & 0x1f;
  int mant = h & 0x3ff;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(DTypeTest, NamesSizesAndParsing) {
  EXPECT_EQ(DTypeName(DType::kBF16), "bfloat16");
  EXPECT_EQ(DTypeSize(DType::kF32), 4);
  EXPECT_EQ(DTypeSize(DType::kF16), 2);
  EXPECT_EQ(DTypeSize(DType::kInt8), 1);
  EXPECT_EQ(*ParseDType("BF16"), DType::kBF16);
  EXPECT_EQ(*ParseDType("float16"), DType::kF16);
  EXPECT_EQ(*ParseDType("fp32"), DType::kF32);
  EXPECT_EQ(*ParseDType("int8"), DType::kInt8);
  auto bad = ParseDType("q4_0");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("q4_0"), std::string::npos);
}

TEST(DTypeTest, F16ToF32MatchesFieldDecodingForAllFiniteHalves) {
  for (uint32_t h = 0; h < 65536; ++h) {
    double ref = F16Reference(static_cast<uint16_t>(h));
    float got = F16ToF32(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), ref) << "h=" << h;
    }
  }
}

TEST(DTypeTest, F32ToF16RoundTripsEveryHalfAndRoundsTiesToEven) {
  for (uint32_t h = 0; h < 0x7c00; ++h) {  // every finite non-negative half
    float f = F16ToF32(static_cast<uint16_t>(h));
    ASSERT_EQ(F32ToF16(f), h) << h;
    ASSERT_EQ(F32ToF16(-f), h | 0x8000u) << h;
    if (h + 1 < 0x7c00) {
      // Midpoint between two neighbours goes to the even one; a hair above goes up.
      double mid =
          (F16Reference(static_cast<uint16_t>(h)) + F16Reference(static_cast<uint16_t>(h + 1))) / 2;
      uint16_t even = (h % 2 == 0) ? h : h + 1;
      ASSERT_EQ(F32ToF16(static_cast<float>(mid)), even) << h;
      float above = std::nextafter(static_cast<float>(mid), INFINITY);
      ASSERT_EQ(F32ToF16(above), h + 1) << h;
    }
  }
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bffu);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bffu);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00u);
  EXPECT_EQ(F32ToF16(1e10f), 0x7c00u);
  EXPECT_EQ(F32ToF16(-INFINITY), 0xfc00u);
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(NAN))));
  EXPECT_EQ(F32ToF16(1e-9f), 0u);  // below half the smallest subnormal
}

TEST(DTypeTest, BF16RoundsToNearestEvenAndKeepsNaN) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80u);
  EXPECT_EQ(BF16ToF32(0x3f80u), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(F32ToBF16(1.0f + std::ldexp(1.0f, -8)), 0x3f80u);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): goes up.
  EXPECT_EQ(F32ToBF16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82u);
  EXPECT_EQ(F32ToBF16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), 0x3f81u);
  EXPECT_TRUE(std::isnan(BF16ToF32(F32ToBF16(NAN))));
  EXPECT_EQ(F32ToBF16(3.4e38f), 0x7f80u);  // rounds past the largest bf16 to infinity
  for (uint32_t b = 0; b < 0x7f80; b += 7) {
    ASSERT_EQ(F32ToBF16(BF16ToF32(static_cast<uint16_t>(b))), b);
  }
}

class BulkConversionTest : public KernelPathTest {};

TEST_P(BulkConversionTest, BulkConversionsEqualScalarOnesForOddLengths) {
  for (int64_t n : {0, 1, 7, 8, 9, 31, 1000}) {
    std::vector<float> src = testing::RandomFloats(n, 11 + n, -70000.0f, 70000.0f);
    for (int64_t i = 0; i < n; i += 3) src[i] *= 1e-6f;  // some subnormal halves
    std::vector<uint16_t> h(n), b(n);
    std::vector<float> back(n);
    ConvertF32ToF16(src.data(), n, h.data());
    ConvertF32ToBF16(src.data(), n, b.data());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i], F32ToF16(src[i])) << i;
      ASSERT_EQ(b[i], F32ToBF16(src[i])) << i;
    }
    ConvertF16ToF32(h.data(), n, back.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back[i], F16ToF32(h[i])) << i;
    ConvertBF16ToF32(b.data(), n, back.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back[i], BF16ToF32(b[i])) << i;
  }
}
MIES_INSTANTIATE_KERNEL_PATHS(BulkConversionTest);

TEST(DTypeTest, QuantizeRowsInt8UsesPerRowScaleAndBoundsTheError) {
  const int64_t rows = 5, cols = 37;
  std::vector<float> w = testing::RandomFloats(rows * cols, 3);
  for (int64_t c = 0; c < cols; ++c) w[1 * cols + c] *= 100.0f;  // rows differ in range
  for (int64_t c = 0; c < cols; ++c) w[3 * cols + c] = 0.0f;     // all-zero row
  std::vector<int8_t> q(rows * cols);
  std::vector<float> scales(rows);
  ASSERT_TRUE(QuantizeRowsInt8(w.data(), rows, cols, q.data(), scales.data()).ok());
  for (int64_t r = 0; r < rows; ++r) {
    float max_abs = 0;
    for (int64_t c = 0; c < cols; ++c) max_abs = std::max(max_abs, std::fabs(w[r * cols + c]));
    EXPECT_FLOAT_EQ(scales[r], max_abs / 127.0f);
    bool hit_extreme = r == 3;
    for (int64_t c = 0; c < cols; ++c) {
      int8_t v = q[r * cols + c];
      ASSERT_GE(v, -127);
      EXPECT_LE(std::fabs(v * scales[r] - w[r * cols + c]), scales[r] * 0.5f + 1e-7f);
      hit_extreme |= (v == 127 || v == -127);
    }
    EXPECT_TRUE(hit_extreme) << "row " << r << " never reaches ±127";
  }
  EXPECT_EQ(scales[3], 0.0f);
}

TEST(DTypeTest, QuantizeRowsInt8RejectsNonFiniteWeights) {
  std::vector<float> w = {1.0f, 2.0f, NAN, 4.0f};
  std::vector<int8_t> q(4);
  std::vector<float> s(2);
  Status st = QuantizeRowsInt8(w.data(), 2, 2, q.data(), s.data());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("[1][0]"), std::string::npos) << st;
}

}  // namespace
}  // namespace mies::kernels
