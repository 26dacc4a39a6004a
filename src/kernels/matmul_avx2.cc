// AVX2/FMA/F16C Linear kernels (see matmul.h for the shape contract).
//
// GemvRows (m == 1): four W rows at a time, two 8-lane accumulators each, W elements converted
// to f32 in registers as they stream in (f16: vcvtph2ps; bf16: zero-extend and shift left 16;
// int8: sign-extend and convert, the row scale applied once after the sum). Bound by memory
// bandwidth, not by the arithmetic.
//
// GemmRows (m > 1): for each panel of kPanelRows W rows × kPanelCols cols, convert it once to f32
// (int8 scale folded in) and transpose it into strips of 16 outputs ([k][16]), then run a
// 6 (x rows) × 16 (outputs) register tile over each strip: per k, 2 strip loads and 6 broadcasts
// of x feed 12 FMAs into 12 accumulators (+2 W + 1 x = 15 of the 16 ymm registers). Partial sums
// of each column slice are added to y, initialised with the bias. W thus comes from memory once
// per call, and the conversion cost is shared by all m rows.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/simd_avx2.h"

#pragma GCC target("avx2,fma,f16c")

namespace mies::kernels::avx2 {
namespace {

constexpr int64_t kStrip = 16;    // outputs per register tile
constexpr int64_t kTileRows = 6;  // x rows per register tile
constexpr int kGemvStreams = 4;   // GEMV rows (and memory streams) in flight

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

// out[r * step] = x · W row (r * step) for r < NR, rows of `cols` elements starting at w.
template <class L, int NR>
inline void GemvTile(const float* x, const typename L::T* w, int64_t cols, int64_t step,
                     float* out) {
  const typename L::T* row[NR];
  __m256 acc0[NR], acc1[NR];
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    row[r] = w + r * step * cols;
    acc0[r] = acc1[r] = _mm256_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m256 x0 = _mm256_loadu_ps(x + c);
    __m256 x1 = _mm256_loadu_ps(x + c + 8);
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) {
      acc0[r] = _mm256_fmadd_ps(L::Load8(row[r] + c), x0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(L::Load8(row[r] + c + 8), x1, acc1[r]);
    }
  }
  for (; c + 8 <= cols; c += 8) {
    __m256 x0 = _mm256_loadu_ps(x + c);
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) acc0[r] = _mm256_fmadd_ps(L::Load8(row[r] + c), x0, acc0[r]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < NR; ++r) {
    float s = HorizontalSum(_mm256_add_ps(acc0[r], acc1[r]));
    for (int64_t t = c; t < cols; ++t) s += x[t] * L::Load1(row[r] + t);
    out[r * step] = s;
  }
}

// The band's rows are read as kGemvStreams long sequential streams, one per contiguous quarter
// of the band (row i of each quarter together), rather than 4 adjacent rows at a time: adjacent
// rows make every stream restart each few KiB, which costs the hardware prefetchers ~15-20%.
template <class L>
void GemvRowsT(const float* x, const WeightView& wv, const float* bias, int64_t r0, int64_t r1,
               float* y) {
  const auto* w = static_cast<const typename L::T*>(wv.data);
  const int64_t cols = wv.cols;
  const int64_t quarter = (r1 - r0) / kGemvStreams;
  for (int64_t i = 0; i < quarter; ++i) {
    GemvTile<L, kGemvStreams>(x, w + (r0 + i) * cols, cols, quarter, y + r0 + i);
  }
  for (int64_t r = r0 + quarter * kGemvStreams; r < r1; ++r) {
    GemvTile<L, 1>(x, w + r * cols, cols, 1, y + r);
  }
  for (int64_t r = r0; r < r1; ++r) {
    if (wv.scales != nullptr) y[r] *= wv.scales[r];
    if (bias != nullptr) y[r] += bias[r];
  }
}

// In-register transpose: r[j] holds row j (8 columns) on entry, column j (8 rows) on exit.
inline void Transpose8x8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Packs W[j0 .. j0+ns)[k0 .. k0+kc) (ns <= kStrip) as f32 into strip[kc][kStrip], i.e. the
// kStrip outputs of one column adjacent, rows >= ns zero; int8 scales folded in.
template <class L>
void PackStrip(const WeightView& wv, int64_t j0, int64_t ns, int64_t k0, int64_t kc, float* strip) {
  const auto* w = static_cast<const typename L::T*>(wv.data);
  for (int64_t half = 0; half < kStrip / 8; ++half) {
    const typename L::T* src[8];
    __m256 scale[8];
    bool valid[8];
#pragma GCC unroll 16
    for (int j = 0; j < 8; ++j) {
      int64_t row = half * 8 + j;
      valid[j] = row < ns;
      src[j] = w + (j0 + (valid[j] ? row : 0)) * wv.cols + k0;
      float sc = wv.scales != nullptr && valid[j] ? wv.scales[j0 + row] : 1.0f;
      scale[j] = _mm256_set1_ps(valid[j] ? sc : 0.0f);
    }
    float* dst = strip + half * 8;
    int64_t c = 0;
    for (; c + 8 <= kc; c += 8) {
      __m256 r[8];
#pragma GCC unroll 16
      for (int j = 0; j < 8; ++j) {
        // The same row's next column slice, packed next (harmless past the row's end: a
        // prefetch never faults).
        _mm_prefetch(reinterpret_cast<const char*>(src[j] + c + kc), _MM_HINT_T0);
        r[j] = valid[j] ? _mm256_mul_ps(L::Load8(src[j] + c), scale[j]) : _mm256_setzero_ps();
      }
      Transpose8x8(r);
#pragma GCC unroll 16
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (c + j) * kStrip, r[j]);
    }
    for (; c < kc; ++c) {
#pragma GCC unroll 16
      for (int j = 0; j < 8; ++j) {
        float sc = wv.scales != nullptr && valid[j] ? wv.scales[j0 + half * 8 + j] : 1.0f;
        dst[c * kStrip + j] = valid[j] ? L::Load1(src[j] + c) * sc : 0.0f;
      }
    }
  }
}

// y[i][0..ns) += Σ_k x[i][k] · strip[k][0..ns) for MR rows of x (row stride ldx); y row stride
// ldy. Outer-product form: per k, 2 strip vectors × MR broadcasts of x = 2·MR FMAs, no
// horizontal sums.
template <int MR>
inline void MicroKernel(const float* x, int64_t ldx, const float* strip, int64_t kc, float* y,
                        int64_t ldy, int64_t ns) {
  __m256 acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 w0 = _mm256_loadu_ps(strip + k * kStrip);
    __m256 w1 = _mm256_loadu_ps(strip + k * kStrip + 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m256 xb = _mm256_broadcast_ss(x + i * ldx + k);
      acc[i][0] = _mm256_fmadd_ps(xb, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xb, w1, acc[i][1]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* yi = y + i * ldy;
    if (ns == kStrip) {
      _mm256_storeu_ps(yi, _mm256_add_ps(_mm256_loadu_ps(yi), acc[i][0]));
      _mm256_storeu_ps(yi + 8, _mm256_add_ps(_mm256_loadu_ps(yi + 8), acc[i][1]));
    } else {
      float tmp[kStrip];
      _mm256_storeu_ps(tmp, acc[i][0]);
      _mm256_storeu_ps(tmp + 8, acc[i][1]);
      for (int64_t j = 0; j < ns; ++j) yi[j] += tmp[j];
    }
  }
}

inline void MicroKernelMr(int mr, const float* x, int64_t ldx, const float* strip, int64_t kc,
                          float* y, int64_t ldy, int64_t ns) {
  switch (mr) {
    case 6:
      MicroKernel<6>(x, ldx, strip, kc, y, ldy, ns);
      break;
    case 5:
      MicroKernel<5>(x, ldx, strip, kc, y, ldy, ns);
      break;
    case 4:
      MicroKernel<4>(x, ldx, strip, kc, y, ldy, ns);
      break;
    case 3:
      MicroKernel<3>(x, ldx, strip, kc, y, ldy, ns);
      break;
    case 2:
      MicroKernel<2>(x, ldx, strip, kc, y, ldy, ns);
      break;
    default:
      MicroKernel<1>(x, ldx, strip, kc, y, ldy, ns);
      break;
  }
}

template <class L>
void GemmRowsT(const float* x, int64_t m, const WeightView& wv, const float* bias, int64_t r0,
               int64_t r1, float* y, float* panel) {
  const int64_t cols = wv.cols, ldy = wv.rows;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = r0; r < r1; ++r) y[i * ldy + r] = bias != nullptr ? bias[r] : 0.0f;
  }
  // Row panels outside, column slices inside: each W row is then read front to back over
  // consecutive steps (the packer prefetches the next slice of its rows), instead of in
  // cols/kPanelCols pieces far apart in time, which left the packer waiting on DRAM.
  for (int64_t j0 = r0; j0 < r1; j0 += kPanelRows) {
    const int64_t nb = std::min(kPanelRows, r1 - j0);
    for (int64_t k0 = 0; k0 < cols; k0 += kPanelCols) {
      const int64_t kc = std::min(kPanelCols, cols - k0);
      for (int64_t s = 0; s < nb; s += kStrip) {
        PackStrip<L>(wv, j0 + s, std::min(kStrip, nb - s), k0, kc, panel + s * kc);
      }
      // Each strip (kc × 16 floats) stays in L1 while all tiles of x rows pass over it.
      for (int64_t s = 0; s < nb; s += kStrip) {
        const int64_t ns = std::min(kStrip, nb - s);
        // Tiles as even as possible (16 rows = 6+5+5, not 6+6+4): small tiles waste FMA slots.
        const int64_t tiles = (m + kTileRows - 1) / kTileRows;
        for (int64_t t = 0, i = 0; t < tiles; ++t) {
          const int64_t mr = m / tiles + (t < m % tiles ? 1 : 0);
          MicroKernelMr(static_cast<int>(mr), x + i * cols + k0, cols, panel + s * kc, kc,
                        y + i * ldy + j0 + s, ldy, ns);
          i += mr;
        }
      }
    }
  }
}

}  // namespace

void GemvRows(const float* x, const WeightView& w, const float* bias, int64_t r0, int64_t r1,
              float* y) {
  switch (w.dtype) {
    case DType::kF32:
      return GemvRowsT<LoadF32>(x, w, bias, r0, r1, y);
    case DType::kF16:
      return GemvRowsT<LoadF16>(x, w, bias, r0, r1, y);
    case DType::kBF16:
      return GemvRowsT<LoadBF16>(x, w, bias, r0, r1, y);
    case DType::kInt8:
      return GemvRowsT<LoadI8>(x, w, bias, r0, r1, y);
    case DType::kInt4:  // Linear sends int4 to its own kernels
      return;
  }
}

void GemmRows(const float* x, int64_t m, const WeightView& w, const float* bias, int64_t r0,
              int64_t r1, float* y, float* panel) {
  switch (w.dtype) {
    case DType::kF32:
      return GemmRowsT<LoadF32>(x, m, w, bias, r0, r1, y, panel);
    case DType::kF16:
      return GemmRowsT<LoadF16>(x, m, w, bias, r0, r1, y, panel);
    case DType::kBF16:
      return GemmRowsT<LoadBF16>(x, m, w, bias, r0, r1, y, panel);
    case DType::kInt8:
      return GemmRowsT<LoadI8>(x, m, w, bias, r0, r1, y, panel);
    case DType::kInt4:  // Linear sends int4 to its own kernels
      return;
  }
}

}  // namespace mies::kernels::avx2
