// AVX2/FMA/F16C Linear kernels (see matmul.h for the shape contract).
//
// GemvRows (m == 1): four W rows at a time, two 8-lane accumulators each, W elements converted
// to f32 in registers as they stream in (f16: vcvtph2ps; bf16: zero-extend and shift left 16;
// int8: sign-extend and convert, the row scale applied once after the sum). Bound by memory
// bandwidth, not by the arithmetic.
//
// GemmRows (m > 1): for each panel of kPanelRows W rows × kPanelCols cols, convert it once to f32
// (int8 scale folded in) into a buffer that stays in L2, then run a 4 (x rows) × 3 (W rows)
// register tile over it: 12 accumulators + 3 W vectors + 1 x vector = the 16 ymm registers.
// Partial sums of each column slice are added to y, initialised with the bias.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("avx2,fma,f16c")

namespace mies::kernels::avx2 {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Loads 8 consecutive weights as f32 lanes.
struct LoadF32 {
  using T = float;
  static __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
  static float Load1(const float* p) { return *p; }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 Load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float Load1(const uint16_t* p) { return F16ToF32(*p); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 Load8(const uint16_t* p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float Load1(const uint16_t* p) { return BF16ToF32(*p); }
};
struct LoadI8 {
  using T = int8_t;
  static __m256 Load8(const int8_t* p) {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
  }
  static float Load1(const int8_t* p) { return static_cast<float>(*p); }
};

// y[r] for NR consecutive rows starting at w (row stride cols).
template <class L, int NR>
inline void GemvTile(const float* x, const typename L::T* w, int64_t cols, float* out) {
  __m256 acc0[NR], acc1[NR];
  for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m256 x0 = _mm256_loadu_ps(x + c);
    __m256 x1 = _mm256_loadu_ps(x + c + 8);
    for (int r = 0; r < NR; ++r) {
      acc0[r] = _mm256_fmadd_ps(L::Load8(w + r * cols + c), x0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(L::Load8(w + r * cols + c + 8), x1, acc1[r]);
    }
  }
  for (; c + 8 <= cols; c += 8) {
    __m256 x0 = _mm256_loadu_ps(x + c);
    for (int r = 0; r < NR; ++r) acc0[r] = _mm256_fmadd_ps(L::Load8(w + r * cols + c), x0, acc0[r]);
  }
  for (int r = 0; r < NR; ++r) {
    float s = HorizontalSum(_mm256_add_ps(acc0[r], acc1[r]));
    for (int64_t t = c; t < cols; ++t) s += x[t] * L::Load1(w + r * cols + t);
    out[r] = s;
  }
}

template <class L>
void GemvRowsT(const float* x, const WeightView& wv, const float* bias, int64_t r0, int64_t r1,
               float* y) {
  const auto* w = static_cast<const typename L::T*>(wv.data);
  const int64_t cols = wv.cols;
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) GemvTile<L, 4>(x, w + r * cols, cols, y + r);
  for (; r < r1; ++r) GemvTile<L, 1>(x, w + r * cols, cols, y + r);
  for (r = r0; r < r1; ++r) {
    if (wv.scales != nullptr) y[r] *= wv.scales[r];
    if (bias != nullptr) y[r] += bias[r];
  }
}

// Converts W[j0 .. j0+nb)[k0 .. k0+kc) to f32 into panel (row stride kc), folding in int8 scales.
template <class L>
void FillPanel(const WeightView& wv, int64_t j0, int64_t nb, int64_t k0, int64_t kc,
               float* panel) {
  const auto* w = static_cast<const typename L::T*>(wv.data);
  for (int64_t j = 0; j < nb; ++j) {
    const typename L::T* src = w + (j0 + j) * wv.cols + k0;
    float* dst = panel + j * kc;
    int64_t c = 0;
    if (wv.scales != nullptr) {
      const float s = wv.scales[j0 + j];
      const __m256 vs = _mm256_set1_ps(s);
      for (; c + 8 <= kc; c += 8) _mm256_storeu_ps(dst + c, _mm256_mul_ps(L::Load8(src + c), vs));
      for (; c < kc; ++c) dst[c] = L::Load1(src + c) * s;
    } else {
      for (; c + 8 <= kc; c += 8) _mm256_storeu_ps(dst + c, L::Load8(src + c));
      for (; c < kc; ++c) dst[c] = L::Load1(src + c);
    }
  }
}

// y[i][j] += x[i][0..kc) · p[j][0..kc) for MR rows of x (stride ldx) and NR panel rows
// (stride kc); y has row stride ldy.
template <int MR, int NR>
inline void MicroKernel(const float* x, int64_t ldx, const float* p, int64_t kc, float* y,
                        int64_t ldy) {
  __m256 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= kc; c += 8) {
    __m256 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = _mm256_loadu_ps(p + j * kc + c);
    for (int i = 0; i < MR; ++i) {
      __m256 xv = _mm256_loadu_ps(x + i * ldx + c);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j) {
      float s = HorizontalSum(acc[i][j]);
      for (int64_t t = c; t < kc; ++t) s += x[i * ldx + t] * p[j * kc + t];
      y[i * ldy + j] += s;
    }
  }
}

template <int MR>
inline void MicroKernelNr(int nr, const float* x, int64_t ldx, const float* p, int64_t kc,
                          float* y, int64_t ldy) {
  switch (nr) {
    case 3: MicroKernel<MR, 3>(x, ldx, p, kc, y, ldy); break;
    case 2: MicroKernel<MR, 2>(x, ldx, p, kc, y, ldy); break;
    default: MicroKernel<MR, 1>(x, ldx, p, kc, y, ldy); break;
  }
}

template <class L>
void GemmRowsT(const float* x, int64_t m, const WeightView& wv, const float* bias, int64_t r0,
               int64_t r1, float* y, float* panel) {
  const int64_t cols = wv.cols, ldy = wv.rows;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = r0; r < r1; ++r) y[i * ldy + r] = bias != nullptr ? bias[r] : 0.0f;
  }
  for (int64_t k0 = 0; k0 < cols; k0 += kPanelCols) {
    const int64_t kc = std::min(kPanelCols, cols - k0);
    for (int64_t j0 = r0; j0 < r1; j0 += kPanelRows) {
      const int64_t nb = std::min(kPanelRows, r1 - j0);
      FillPanel<L>(wv, j0, nb, k0, kc, panel);
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) {
        const float* xi = x + i * cols + k0;
        for (int64_t j = 0; j < nb; j += 3) {
          MicroKernelNr<4>(static_cast<int>(std::min<int64_t>(3, nb - j)), xi, cols,
                           panel + j * kc, kc, y + i * ldy + j0 + j, ldy);
        }
      }
      for (; i < m; ++i) {
        const float* xi = x + i * cols + k0;
        for (int64_t j = 0; j < nb; j += 3) {
          MicroKernelNr<1>(static_cast<int>(std::min<int64_t>(3, nb - j)), xi, cols,
                           panel + j * kc, kc, y + i * ldy + j0 + j, ldy);
        }
      }
    }
  }
}

}  // namespace

void GemvRows(const float* x, const WeightView& w, const float* bias, int64_t r0, int64_t r1,
              float* y) {
  switch (w.dtype) {
    case DType::kF32: return GemvRowsT<LoadF32>(x, w, bias, r0, r1, y);
    case DType::kF16: return GemvRowsT<LoadF16>(x, w, bias, r0, r1, y);
    case DType::kBF16: return GemvRowsT<LoadBF16>(x, w, bias, r0, r1, y);
    case DType::kInt8: return GemvRowsT<LoadI8>(x, w, bias, r0, r1, y);
  }
}

void GemmRows(const float* x, int64_t m, const WeightView& w, const float* bias, int64_t r0,
              int64_t r1, float* y, float* panel) {
  switch (w.dtype) {
    case DType::kF32: return GemmRowsT<LoadF32>(x, m, w, bias, r0, r1, y, panel);
    case DType::kF16: return GemmRowsT<LoadF16>(x, m, w, bias, r0, r1, y, panel);
    case DType::kBF16: return GemmRowsT<LoadBF16>(x, m, w, bias, r0, r1, y, panel);
    case DType::kInt8: return GemmRowsT<LoadI8>(x, m, w, bias, r0, r1, y, panel);
  }
}

}  // namespace mies::kernels::avx2
