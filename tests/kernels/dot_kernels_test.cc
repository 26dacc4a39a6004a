// Reduced-precision activations (bf16, W8A8) and int4 weights: every kernel path against a
// double-precision reference built from the same rounded activations, and the AVX-512
// dot-product kernels (AVX512_BF16, AVX512_VNNI) against the portable code directly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/activations.h"
#include "kernels/dispatch.h"
#include "kernels/int4.h"
#include "kernels/matmul.h"

namespace mies::kernels {
namespace {

using testing::KernelPathTest;
using testing::RandomFloats;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBlob = std::unique_ptr<std::byte, FreeDeleter>;

AlignedBlob AllocBlob(int64_t bytes) {
  AlignedBlob b(static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
  std::memset(b.get(), 0xa5, static_cast<size_t>(bytes));  // garbage: padding must not matter
  return b;
}

// The portable activation rounding, computed on the scalar path.
struct Quantized {
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<int32_t> sums;
};
Quantized QuantizeScalar(const std::vector<float>& x, int64_t m, int64_t cols, int64_t ldx,
                         bool u8) {
  KernelPath saved = ActiveKernelPath();
  EXPECT_TRUE(SetKernelPath(KernelPath::kScalar).ok());
  Quantized r{std::vector<int8_t>(m * ldx), std::vector<float>(m), std::vector<int32_t>(m)};
  QuantizeActivationRows(x.data(), m, cols, ldx, u8, r.q.data(), r.scales.data(), r.sums.data());
  EXPECT_TRUE(SetKernelPath(saved).ok());
  return r;
}

class ReducedActivationsTest : public KernelPathTest {};

TEST_P(ReducedActivationsTest, RoundingAndQuantizationEqualThePortableCode) {
  const int64_t m = 5, cols = 83, ldx = 128;
  std::vector<float> x = RandomFloats(m * cols, 3, -4.0f, 4.0f);
  x[7] = 1e-40f;  // subnormal
  x[8] = 3.0e38f;
  x[2 * cols + 5] = NAN;                                   // row 2: non-finite
  for (int64_t c = 0; c < cols; ++c) x[3 * cols + c] = 0;  // row 3: zeros
  std::vector<uint16_t> b(m * ldx, 0xffff);
  RoundRowsToBf16(x.data(), m, cols, ldx, b.data());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < ldx; ++c) {
      const uint16_t want = c < cols ? F32ToBF16(x[i * cols + c]) : 0;
      ASSERT_EQ(b[i * ldx + c], want) << i << "," << c;
    }
  }
  for (bool u8 : {false, true}) {
    Quantized want = QuantizeScalar(x, m, cols, ldx, u8);
    Quantized got{std::vector<int8_t>(m * ldx, 99), std::vector<float>(m), std::vector<int32_t>(m)};
    QuantizeActivationRows(x.data(), m, cols, ldx, u8, got.q.data(), got.scales.data(),
                           got.sums.data());
    EXPECT_EQ(got.q, want.q) << "u8=" << u8;
    EXPECT_EQ(got.sums, want.sums);
    for (int64_t i = 0; i < m; ++i) {
      if (i == 2) {
        EXPECT_TRUE(std::isnan(got.scales[i]));
      } else {
        EXPECT_EQ(got.scales[i], want.scales[i]) << i;
      }
    }
    EXPECT_EQ(got.scales[3], 0.0f);
    // Row 4: the largest |x| maps to ±127; padding adds nothing.
    int maxq = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const int8_t b = got.q[4 * ldx + c];
      maxq = std::max(maxq, std::abs(u8 ? int(static_cast<uint8_t>(b)) - 128 : int(b)));
    }
    EXPECT_EQ(maxq, 127);
    EXPECT_EQ(got.q[cols], static_cast<int8_t>(u8 ? -128 : 0));
  }
}

// A weight in bf16 or int8 with the exact values the kernels multiply by.
struct RowMajorWeight {
  DType dtype;
  int64_t rows, cols;
  std::vector<uint16_t> u16;
  std::vector<int8_t> i8;
  std::vector<float> scales;
  std::vector<double> exact;
  WeightView View() const {
    WeightView v{dtype, rows, cols, nullptr, nullptr};
    v.data = dtype == DType::kBF16 ? static_cast<const void*>(u16.data()) : i8.data();
    v.scales = dtype == DType::kInt8 ? scales.data() : nullptr;
    v.activations = Activations::kReduced;
    return v;
  }
};

RowMajorWeight MakeRowMajor(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  RowMajorWeight w{dtype, rows, cols, {}, {}, {}, {}};
  std::vector<float> src = RandomFloats(rows * cols, seed);
  w.exact.resize(src.size());
  if (dtype == DType::kBF16) {
    for (float f : src) w.u16.push_back(F32ToBF16(f));
    for (size_t i = 0; i < src.size(); ++i) w.exact[i] = BF16ToF32(w.u16[i]);
  } else {
    w.i8.resize(src.size());
    w.scales.resize(rows);
    EXPECT_TRUE(QuantizeRowsInt8(src.data(), rows, cols, w.i8.data(), w.scales.data()).ok());
    for (size_t i = 0; i < src.size(); ++i) w.exact[i] = double(w.i8[i]) * w.scales[i / cols];
  }
  return w;
}

// y = x̂·Wᵀ + b with x̂ the rounded activations (bf16 values, or q·scale), in double; the
// tolerance scales with Σ|x̂·w| as in matmul_test.cc.
void ExpectReducedMatches(const std::vector<float>& x, int64_t m, const RowMajorWeight& w,
                          const float* bias, const std::vector<float>& y) {
  const int64_t ldx = (w.cols + 63) / 64 * 64;
  Quantized q;
  if (w.dtype == DType::kInt8) q = QuantizeScalar(x, m, w.cols, ldx, false);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < w.rows; ++r) {
      double ref = bias != nullptr ? bias[r] : 0.0, mag = std::fabs(ref);
      for (int64_t c = 0; c < w.cols; ++c) {
        const double xv = w.dtype == DType::kBF16 ? BF16ToF32(F32ToBF16(x[i * w.cols + c]))
                                                  : double(q.q[i * ldx + c]) * q.scales[i];
        ref += xv * w.exact[r * w.cols + c];
        mag += std::fabs(xv * w.exact[r * w.cols + c]);
      }
      ASSERT_NEAR(y[i * w.rows + r], ref, 1e-5 * mag + 1e-6)
          << DTypeName(w.dtype) << " m=" << m << " " << w.rows << "x" << w.cols << " at [" << i
          << "][" << r << "]";
    }
  }
}

using Shape = std::tuple<int64_t, int64_t>;

TEST_P(ReducedActivationsTest, Bf16AndW8A8MatchTheRoundedReference) {
  // Columns below one vector, crossing the 1024/2048-column k blocks with a partial last
  // vector; rows leaving partial groups of 4 per thread; m from 2 (batched decode) across the
  // x-row tiles to 100 (prefill: several L2 blocks of x rows for the wide shape).
  const std::vector<Shape> shapes = {{3, 7}, {37, 531}, {70, 1030}, {20, 4100}};
  ThreadPool pool(2);
  for (DType dtype : {DType::kBF16, DType::kInt8}) {
    for (auto [rows, cols] : shapes) {
      RowMajorWeight w = MakeRowMajor(dtype, rows, cols, static_cast<uint32_t>(rows + cols));
      ASSERT_TRUE(ValidateWeightView(w.View()).ok());
      std::vector<float> bias = RandomFloats(rows, 4);
      for (int64_t m : {2, 5, 13, 33, 100}) {
        if (cols > 2000 && m > 33) continue;  // keep the double reference quick
        std::vector<float> x = RandomFloats(m * cols, static_cast<uint32_t>(m * 31 + cols));
        std::vector<float> y(m * rows, NAN);
        const float* b = m % 2 ? bias.data() : nullptr;
        Linear(x.data(), m, w.View(), b, y.data(), pool);
        ExpectReducedMatches(x, m, w, b, y);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(ReducedActivationsTest, RowResultsDoNotDependOnBatchSize) {
  for (DType dtype : {DType::kBF16, DType::kInt8}) {
    RowMajorWeight w = MakeRowMajor(dtype, 45, 700, 51);
    std::vector<float> x = RandomFloats(40 * 700, 52);
    ThreadPool pool(1);
    std::vector<float> full(40 * 45);
    Linear(x.data(), 40, w.View(), nullptr, full.data(), pool);
    for (int64_t m = 2; m < 40; m += 3) {
      std::vector<float> y(m * 45);
      Linear(x.data(), m, w.View(), nullptr, y.data(), pool);
      for (int64_t i = 0; i < m * 45; ++i) {
        ASSERT_EQ(y[i], full[i]) << DTypeName(dtype) << " m=" << m << " at " << i;
      }
    }
  }
}

TEST_P(ReducedActivationsTest, PreciseModeKeepsF32Activations) {
  // Activations::kF32 must give today's W8A16 / bf16 x f32 results, not the rounded ones.
  RowMajorWeight w = MakeRowMajor(DType::kInt8, 33, 300, 61);
  WeightView v = w.View();
  v.activations = Activations::kF32;
  std::vector<float> x = RandomFloats(4 * 300, 62);
  std::vector<float> y(4 * 33);
  ThreadPool pool(1);
  Linear(x.data(), 4, v, nullptr, y.data(), pool);
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t r = 0; r < 33; ++r) {
      double ref = 0, mag = 0;
      for (int64_t c = 0; c < 300; ++c) {
        ref += double(x[i * 300 + c]) * w.exact[r * 300 + c];
        mag += std::fabs(double(x[i * 300 + c]) * w.exact[r * 300 + c]);
      }
      ASSERT_NEAR(y[i * 33 + r], ref, 1e-5 * mag + 1e-6);
    }
  }
}

TEST_P(ReducedActivationsTest, NonFiniteActivationRowGivesNaNOnlyInItsOutputs) {
  for (DType dtype : {DType::kBF16, DType::kInt8}) {
    RowMajorWeight w = MakeRowMajor(dtype, 20, 64, 71);
    std::vector<float> x = RandomFloats(3 * 64, 72);
    x[64 + 10] = INFINITY;
    std::vector<float> y(3 * 20);
    ThreadPool pool(1);
    Linear(x.data(), 3, w.View(), nullptr, y.data(), pool);
    for (int64_t r = 0; r < 20; ++r) {
      EXPECT_TRUE(std::isfinite(y[r]) && std::isfinite(y[40 + r])) << DTypeName(dtype);
      EXPECT_FALSE(std::isfinite(y[20 + r])) << DTypeName(dtype) << " row " << r;
    }
  }
}
MIES_INSTANTIATE_KERNEL_PATHS(ReducedActivationsTest);

// --- int4 ---

struct Int4Case {
  int64_t group;
  bool zeros;
};

struct PackedInt4 {
  Int4Layout layout;
  AlignedBlob blob;
  WeightView View() const { return Int4View(layout, blob.get()); }
};

PackedInt4 QuantizeInt4(const std::vector<float>& src, int64_t rows, int64_t cols, Int4Case c) {
  auto layout = MakeInt4Layout(rows, cols, c.group, c.zeros);
  EXPECT_TRUE(layout.ok()) << layout.status();
  PackedInt4 p{*layout, AllocBlob(layout->total_bytes)};
  EXPECT_TRUE(QuantizeInt4Rows(src.data(), 0, rows, p.layout, p.blob.get()).ok());
  return p;
}

TEST(Int4FormatTest, QuantizationErrorIsAtMostHalfAStepPerGroup) {
  for (Int4Case c :
       {Int4Case{32, false}, Int4Case{128, false}, Int4Case{32, true}, Int4Case{64, true}}) {
    const int64_t rows = 19, cols = 200;
    std::vector<float> src = RandomFloats(rows * cols, 5, -0.1f, 0.3f);
    PackedInt4 p = QuantizeInt4(src, rows, cols, c);
    const WeightView v = p.View();
    ASSERT_TRUE(ValidateWeightView(v).ok()) << ValidateWeightView(v);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g * c.group < cols; ++g) {
        const int64_t c0 = g * c.group, c1 = std::min(cols, c0 + c.group);
        float lo = 0, hi = 0, big = 0;
        for (int64_t k = c0; k < c1; ++k) {
          lo = std::min(lo, src[r * cols + k]);
          hi = std::max(hi, src[r * cols + k]);
          big = std::max(big, std::fabs(src[r * cols + k]));
        }
        // Step: (max - min) / 15 with zero points, |largest| / 8 without (plus f16 rounding of
        // the scale, and the one-sided clamp of Q4_0 at +8 steps: up to a whole step there).
        const float step = c.zeros ? (hi - lo) / 15 : big / 8;
        for (int64_t k = c0; k < c1; ++k) {
          ASSERT_NEAR(Int4Weight(v, r, k), src[r * cols + k], step * (c.zeros ? 0.51 : 1.01))
              << "group " << c.group << " zeros " << c.zeros << " at " << r << "," << k;
        }
      }
    }
  }
}

TEST(Int4FormatTest, PackedValuesRoundTripAndLayoutIsChecked) {
  const int64_t rows = 18, cols = 40, group = 16;
  auto layout = MakeInt4Layout(rows, cols, group, true);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->panels, 2);
  EXPECT_EQ(layout->padded_cols, 48);
  AlignedBlob blob = AllocBlob(layout->total_bytes);
  std::vector<uint8_t> q(cols), z(3);
  std::vector<float> s(3);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) q[c] = static_cast<uint8_t>((r * 7 + c * 3) % 16);
    for (int g = 0; g < 3; ++g) {
      z[g] = static_cast<uint8_t>((r + g) % 16);
      s[g] = 0.25f * static_cast<float>(g + 1);
    }
    PackInt4Row(r, q.data(), z.data(), s.data(), *layout, blob.get());
  }
  const WeightView v = Int4View(*layout, blob.get());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int g = static_cast<int>(c / group);
      const float want = (float((r * 7 + c * 3) % 16) - float((r + g) % 16)) * 0.25f * (g + 1);
      ASSERT_EQ(Int4Weight(v, r, c), want) << r << "," << c;
    }
  }
  EXPECT_FALSE(MakeInt4Layout(4, 4, 12, false).ok());
  EXPECT_FALSE(MakeInt4Layout(0, 4, 32, false).ok());
  WeightView bad = v;
  bad.group_scales = nullptr;
  EXPECT_FALSE(ValidateWeightView(bad).ok());
  WeightView f32{DType::kF32, 2, 2, q.data(), nullptr};
  f32.group_size = 32;
  EXPECT_FALSE(ValidateWeightView(f32).ok());
}

class Int4LinearTest : public KernelPathTest {};

TEST_P(Int4LinearTest, MatchesTheGroupWiseReference) {
  // Rows crossing the 16-row panels and the GEMV's groups of 4 panels; columns inside one
  // group, across groups with a partial last one; m = 1 (GEMV) to several x-row tiles.
  const std::vector<Shape> shapes = {{5, 24}, {17, 100}, {70, 300}, {130, 520}};
  ThreadPool pool(2);
  for (Int4Case c : {Int4Case{32, false}, Int4Case{128, true}, Int4Case{64, true}}) {
    for (auto [rows, cols] : shapes) {
      std::vector<float> src = RandomFloats(rows * cols, static_cast<uint32_t>(rows * cols));
      PackedInt4 p = QuantizeInt4(src, rows, cols, c);
      const WeightView v = p.View();
      std::vector<float> bias = RandomFloats(rows, 8);
      for (int64_t m : {1, 2, 7, 33}) {
        std::vector<float> x = RandomFloats(m * cols, static_cast<uint32_t>(m + 7 * cols));
        const int64_t ldx = (cols + 63) / 64 * 64;
        Quantized q = QuantizeScalar(x, m, cols, ldx, false);
        std::vector<float> y(m * rows, NAN);
        const float* b = m % 2 ? bias.data() : nullptr;
        Linear(x.data(), m, v, b, y.data(), pool);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t r = 0; r < rows; ++r) {
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < cols; ++k) {
              const double t = double(q.q[i * ldx + k]) * q.scales[i] * Int4Weight(v, r, k);
              ref += t;
              // The VNNI kernel sums (q_x + 128)·(q - z) per group before subtracting the
              // offset's share: its rounding scales with that larger sum.
              mag += std::fabs(t) + 128.0 * q.scales[i] * std::fabs(Int4Weight(v, r, k));
            }
            if (b != nullptr) ref += b[r];
            ASSERT_NEAR(y[i * rows + r], ref, 4e-6 * mag + 1e-6)
                << "group " << c.group << " zeros " << c.zeros << " " << rows << "x" << cols
                << " m=" << m << " at [" << i << "][" << r << "]";
          }
        }
      }
    }
  }
}
MIES_INSTANTIATE_KERNEL_PATHS(Int4LinearTest);

// The dot-product kernels themselves against the portable path, on the same inputs. Skipped
// (visibly) where the CPU lacks the extension: the paths above then run the portable code.
TEST(DotProductKernelTest, Avx512Bf16AndVnniAgreeWithPortable) {
  const bool bf16 = CpuHasAvx512Bf16(), vnni = CpuHasAvx512Vnni();
  if (!bf16 && !vnni) GTEST_SKIP() << "CPU lacks AVX512_BF16 and AVX512_VNNI";
  const KernelPath saved = ActiveKernelPath();
  ThreadPool pool(2);
  struct Run {
    DType dtype;
    bool have;
  };
  for (Run run : {Run{DType::kBF16, bf16}, Run{DType::kInt8, vnni}, Run{DType::kInt4, vnni}}) {
    if (!run.have) {
      std::cout << "[  SKIPPED ] " << DTypeName(run.dtype) << ": CPU lacks the extension\n";
      continue;
    }
    const int64_t rows = 150, cols = 777;
    std::vector<float> src = RandomFloats(rows * cols, 91);
    RowMajorWeight rw =
        run.dtype == DType::kInt4 ? RowMajorWeight{} : MakeRowMajor(run.dtype, rows, cols, 91);
    PackedInt4 p4;
    if (run.dtype == DType::kInt4) p4 = QuantizeInt4(src, rows, cols, {32, true});
    const WeightView v = run.dtype == DType::kInt4 ? p4.View() : rw.View();
    for (int64_t m : {1, 3, 16, 40}) {
      std::vector<float> x = RandomFloats(m * cols, static_cast<uint32_t>(m));
      std::vector<float> ys(m * rows), yd(m * rows);
      ASSERT_TRUE(SetKernelPath(KernelPath::kScalar).ok());
      Linear(x.data(), m, v, nullptr, ys.data(), pool);
      ASSERT_TRUE(SetKernelPath(KernelPath::kAvx512).ok());
      Linear(x.data(), m, v, nullptr, yd.data(), pool);
      for (size_t i = 0; i < ys.size(); ++i) {
        ASSERT_NEAR(yd[i], ys[i], 1e-3 * (1 + std::fabs(ys[i])))
            << DTypeName(run.dtype) << " m=" << m << " at " << i;
      }
    }
  }
  ASSERT_TRUE(SetKernelPath(saved).ok());
}

}  // namespace
}  // namespace mies::kernels
