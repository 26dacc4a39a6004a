#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"

namespace mies::kernels {
namespace {

using testing::KernelPathTest;

// A weight matrix stored in one dtype, plus its exact f32 values for the reference.
struct TestWeight {
  DType dtype;
  int64_t rows, cols;
  std::vector<float> f32;
  std::vector<uint16_t> u16;
  std::vector<int8_t> i8;
  std::vector<float> scales;
  std::vector<double> exact;  // what the kernel should multiply by

  WeightView View() const {
    WeightView v{dtype, rows, cols, nullptr, nullptr};
    switch (dtype) {
      case DType::kF32:
        v.data = f32.data();
        break;
      case DType::kF16:
      case DType::kBF16:
        v.data = u16.data();
        break;
      case DType::kInt8:
        v.data = i8.data();
        v.scales = scales.data();
        break;
      case DType::kInt4:  // dot_kernels_test.cc covers int4
        break;
    }
    return v;
  }
};

TestWeight MakeWeight(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  TestWeight t{dtype, rows, cols, {}, {}, {}, {}, {}};
  std::vector<float> src = testing::RandomFloats(rows * cols, seed);
  t.exact.resize(src.size());
  switch (dtype) {
    case DType::kF32:
      t.f32 = src;
      for (size_t i = 0; i < src.size(); ++i) t.exact[i] = src[i];
      break;
    case DType::kF16:
    case DType::kBF16:
      t.u16.resize(src.size());
      for (size_t i = 0; i < src.size(); ++i) {
        t.u16[i] = dtype == DType::kF16 ? F32ToF16(src[i]) : F32ToBF16(src[i]);
        t.exact[i] = dtype == DType::kF16 ? F16ToF32(t.u16[i]) : BF16ToF32(t.u16[i]);
      }
      break;
    case DType::kInt8:
      t.i8.resize(src.size());
      t.scales.resize(rows);
      EXPECT_TRUE(QuantizeRowsInt8(src.data(), rows, cols, t.i8.data(), t.scales.data()).ok());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          t.exact[r * cols + c] = static_cast<double>(t.i8[r * cols + c]) * t.scales[r];
      break;
    case DType::kInt4:  // dot_kernels_test.cc covers int4
      break;
  }
  return t;
}

// Checks y against x·Wᵀ+bias computed in double; the tolerance scales with Σ|x·w| (the size of
// the rounding a float dot product of that length can accumulate).
void ExpectMatchesReference(const std::vector<float>& x, int64_t m, const TestWeight& w,
                            const float* bias, const std::vector<float>& y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < w.rows; ++r) {
      double ref = bias != nullptr ? bias[r] : 0.0;
      double mag = std::fabs(ref);
      for (int64_t c = 0; c < w.cols; ++c) {
        double p = static_cast<double>(x[i * w.cols + c]) * w.exact[r * w.cols + c];
        ref += p;
        mag += std::fabs(p);
      }
      ASSERT_NEAR(y[i * w.rows + r], ref, 1e-5 * mag + 1e-6)
          << DTypeName(w.dtype) << " m=" << m << " rows=" << w.rows << " cols=" << w.cols << " at ["
          << i << "][" << r << "]";
    }
  }
}

using Shape = std::tuple<int64_t, int64_t>;  // rows, cols

class LinearTest : public KernelPathTest {};

TEST_P(LinearTest, MatchesDoubleReferenceForAllDtypesOddShapesAndBatchSizes) {
  // Shapes cross the register tiles (4 rows, 16 cols), the panel (64 rows × 512 cols) and the
  // threads' 16-row units; the m values cover GEMV (1), tile remainders and several x tiles.
  const std::vector<Shape> shapes = {{1, 1}, {3, 7}, {17, 33}, {67, 515}, {130, 1030}};
  ThreadPool pool(2);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kInt8}) {
    for (auto [rows, cols] : shapes) {
      TestWeight w = MakeWeight(dtype, rows, cols, static_cast<uint32_t>(rows * 1000 + cols));
      ASSERT_TRUE(ValidateWeightView(w.View()).ok());
      std::vector<float> bias = testing::RandomFloats(rows, 5);
      for (int64_t m : {1, 2, 5, 9}) {
        std::vector<float> x = testing::RandomFloats(m * cols, static_cast<uint32_t>(m + cols));
        std::vector<float> y(m * rows, NAN);
        const float* b = (m % 2 == 1) ? bias.data() : nullptr;
        Linear(x.data(), m, w.View(), b, y.data(), pool);
        ExpectMatchesReference(x, m, w, b, y);
      }
    }
  }
}

TEST_P(LinearTest, EveryBatchSizeFromOneToThirtyThreeMatchesReference) {
  // Small m is the batched-decode case (the AVX-512 path's register-tiled GEMM for m <= 32, the
  // packed GEMM above): every m crosses a different split into x-row tiles. Shapes: cols below
  // one vector, cols crossing the 512-column k blocks with a partial last vector, rows that
  // leave a partial group of 4 in each thread's band (2 threads).
  const std::vector<Shape> shapes = {{7, 9}, {37, 531}, {20, 1024}};
  ThreadPool pool(2);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kInt8}) {
    for (auto [rows, cols] : shapes) {
      TestWeight w = MakeWeight(dtype, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
      std::vector<float> bias = testing::RandomFloats(rows, 6);
      std::vector<float> x = testing::RandomFloats(33 * cols, static_cast<uint32_t>(cols));
      for (int64_t m = 1; m <= 33; ++m) {
        std::vector<float> y(m * rows, NAN);
        const float* b = (m % 3 == 0) ? nullptr : bias.data();
        Linear(x.data(), m, w.View(), b, y.data(), pool);
        ExpectMatchesReference(x, m, w, b, y);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(LinearTest, RowResultsDoNotDependOnBatchSizeAboveOne) {
  // Each output is accumulated in the same order whatever m (and its split into x-row tiles),
  // so a sequence's logits do not change with the batch it is scheduled in: checked for the
  // batched-decode sizes 2..32 (m == 1 may use a different GEMV summation order, and the
  // AVX-512 path hands m > 32 to the packed GEMM).
  TestWeight w = MakeWeight(DType::kBF16, 45, 700, 51);
  std::vector<float> x = testing::RandomFloats(32 * 700, 52);
  ThreadPool pool(1);
  std::vector<float> full(32 * 45);
  Linear(x.data(), 32, w.View(), nullptr, full.data(), pool);
  for (int64_t m = 2; m < 32; ++m) {
    std::vector<float> y(m * 45);
    Linear(x.data(), m, w.View(), nullptr, y.data(), pool);
    for (int64_t i = 0; i < m * 45; ++i) ASSERT_EQ(y[i], full[i]) << "m=" << m << " at " << i;
  }
}

TEST_P(LinearTest, ResultDoesNotDependOnThreadCount) {
  TestWeight w = MakeWeight(DType::kBF16, 100, 300, 9);
  std::vector<float> x = testing::RandomFloats(3 * 300, 10);
  for (int64_t m : {1, 3}) {
    std::vector<float> y1(m * 100), y3(m * 100);
    ThreadPool one(1), three(3);
    Linear(x.data(), m, w.View(), nullptr, y1.data(), one);
    Linear(x.data(), m, w.View(), nullptr, y3.data(), three);
    EXPECT_EQ(y1, y3) << "m=" << m;
  }
}

TEST_P(LinearTest, BatchedRowsEqualOneRowAtATime) {
  // What batching promises the model: row i of a batched call ≈ the same row alone.
  TestWeight w = MakeWeight(DType::kInt8, 70, 600, 21);
  const int64_t m = 6;
  std::vector<float> x = testing::RandomFloats(m * 600, 22);
  std::vector<float> batched(m * 70), single(70);
  ThreadPool pool(2);
  Linear(x.data(), m, w.View(), nullptr, batched.data(), pool);
  for (int64_t i = 0; i < m; ++i) {
    Linear(x.data() + i * 600, 1, w.View(), nullptr, single.data(), pool);
    for (int64_t r = 0; r < 70; ++r) ASSERT_NEAR(batched[i * 70 + r], single[r], 1e-4) << i;
  }
}

TEST_P(LinearTest, LargeBatchPrefillShape) {
  TestWeight w = MakeWeight(DType::kF16, 96, 256, 31);
  const int64_t m = 130;
  std::vector<float> x = testing::RandomFloats(m * 256, 32);
  std::vector<float> y(m * 96);
  ThreadPool pool(2);
  Linear(x.data(), m, w.View(), nullptr, y.data(), pool);
  ExpectMatchesReference(x, m, w, nullptr, y);
}
MIES_INSTANTIATE_KERNEL_PATHS(LinearTest);

TEST(LinearPathsTest, SimdPathsAgreeCloselyWithScalar) {
  KernelPath saved = ActiveKernelPath();
  TestWeight w = MakeWeight(DType::kF32, 45, 777, 41);
  std::vector<float> x = testing::RandomFloats(3 * 777, 42);
  std::vector<float> ys(3 * 45);
  ThreadPool pool(1);
  ASSERT_TRUE(SetKernelPath(KernelPath::kScalar).ok());
  Linear(x.data(), 3, w.View(), nullptr, ys.data(), pool);
  int checked = 0;
  for (KernelPath path : {KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (!CpuSupports(path)) continue;
    std::vector<float> yp(3 * 45);
    ASSERT_TRUE(SetKernelPath(path).ok());
    Linear(x.data(), 3, w.View(), nullptr, yp.data(), pool);
    for (size_t i = 0; i < ys.size(); ++i) EXPECT_NEAR(ys[i], yp[i], 1e-4) << i;
    ++checked;
  }
  ASSERT_TRUE(SetKernelPath(saved).ok());
  if (checked == 0) GTEST_SKIP() << "CPU has neither AVX2 nor AVX-512";
}

TEST(KernelPathTest, NamesParseAndUnsupportedPathsAreRefused) {
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
    auto parsed = ParseKernelPath(KernelPathName(p));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, p);
    if (!CpuSupports(p)) {
      Status s = SetKernelPath(p);
      EXPECT_FALSE(s.ok());
      EXPECT_NE(s.message().find(std::string(KernelPathName(p))), std::string::npos) << s;
    }
  }
  auto bad = ParseKernelPath("avx1024");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("avx1024"), std::string::npos) << bad.status();
  EXPECT_TRUE(CpuSupports(KernelPath::kScalar));
}

TEST(WeightViewTest, ValidationNamesTheProblem) {
  float data[4] = {};
  float scales[2] = {};
  EXPECT_TRUE(ValidateWeightView({DType::kF32, 2, 2, data, nullptr}).ok());
  Status s = ValidateWeightView({DType::kF32, 0, 2, data, nullptr});
  EXPECT_NE(s.message().find("[0][2]"), std::string::npos) << s;
  s = ValidateWeightView({DType::kF32, 2, 2, nullptr, nullptr});
  EXPECT_NE(s.message().find("null"), std::string::npos) << s;
  s = ValidateWeightView({DType::kInt8, 2, 2, data, nullptr});
  EXPECT_NE(s.message().find("scales"), std::string::npos) << s;
  s = ValidateWeightView({DType::kBF16, 2, 2, data, scales});
  EXPECT_NE(s.message().find("bfloat16"), std::string::npos) << s;
}

}  // namespace
}  // namespace mies::kernels
