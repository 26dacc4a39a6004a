// AVX-512 Linear kernels for m == 1 (decode GEMV) and small m (batched decode); see matmul.h for
// the shape contract and simd_avx512.h for the entry points.
//
// Both read W row-major as stored, 16 weights per vector, converted to f32 in registers (f16:
// vcvtph2ps; bf16: zero-extend and shift left 16; int8: sign-extend and convert, the row scale
// applied once after the sum). Rows whose length is not a multiple of 16 end with masked loads,
// which read nothing past the row.
//
// A band of output rows is walked as 4 long sequential streams: group g takes row g of each
// quarter of the band (adjacent rows would make every stream restart each few KiB, which costs
// the hardware prefetchers ~15-20% of the bandwidth).
//
// GemvRows: per group, 2 accumulators per row (8 FMA chains: enough to cover the FMA latency
// when W is int8 and 16 weights arrive per 16 bytes).
//
// GemmSmallRows: per group, a register tile of up to 6 x rows × 4 W rows (24 accumulators, 4 W
// vectors, 1 x vector = 29 of the 32 zmm registers) computes dot products along k, so each W
// vector is loaded and converted once per tile and feeds 6 FMAs, with no packing or transposing
// of W. k is cut into blocks of kBlockCols: the group's 4-row block (<= 8 KiB) stays in L1 while
// every tile of x rows passes over it, so W comes from memory once per call whatever m is. The
// unreduced accumulators of all m rows live in a small buffer between blocks, and are reduced
// (4 rows at a time, with shuffles) once per group. Each (x row, W row) sum is accumulated in the
// same order whatever m, the tiling or the thread split, so results do not depend on them.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/simd_avx512.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() (a self-initialized variable) as the
// unused merge operand, which -Wmaybe-uninitialized reports at every inlined use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/dot_gemm_avx512.h"

namespace mies::kernels::avx512 {
namespace {

constexpr int kLanes = 16;
constexpr int kGroupRows = 4;        // W rows (and memory streams) in flight
constexpr int kTileRows = 6;         // x rows per register tile
constexpr int64_t kBlockCols = 512;  // k block of GemmSmallRows (a multiple of kLanes)

// Loads 16 consecutive weights as f32 lanes; LoadMasked loads lanes [0, n) of k and zeroes the
// others without touching their memory.
struct LoadF32 {
  using T = float;
  static __m512 Load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 LoadMasked(const float* p, __mmask16 k) { return _mm512_maskz_loadu_ps(k, p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 Load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 LoadMasked(const uint16_t* p, __mmask16 k) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
  }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m512 Widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 Load(const uint16_t* p) {
    return Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 LoadMasked(const uint16_t* p, __mmask16 k) {
    return Widen(_mm256_maskz_loadu_epi16(k, p));
  }
};
struct LoadI8 {
  using T = int8_t;
  static __m512 Load(const int8_t* p) {
    return _mm512_cvtepi32_ps(
        _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static __m512 LoadMasked(const int8_t* p, __mmask16 k) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, p)));
  }
};

inline __mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// The band's groups of 4 rows and the 4-way reduction are the dot-product GEMMs' (header below).
using avx512dot::Group;
using avx512dot::Reduce4;
inline Group GroupRows(int64_t r0, int64_t r1, int64_t quarter, int64_t g) {
  return avx512dot::GroupRows<kGroupRows>(r0, r1, quarter, g);
}

inline int64_t GroupCount(int64_t r0, int64_t r1) {
  return (r1 - r0 + kGroupRows - 1) / kGroupRows;
}

inline void StoreGroup(const Group& grp, __m128 sums, const WeightView& wv, const float* bias,
                       float* y) {
  alignas(16) float s[kGroupRows];
  _mm_store_ps(s, sums);
  for (int j = 0; j < grp.valid; ++j) {
    const int64_t r = grp.row[j];
    float v = s[j];
    if (wv.scales != nullptr) v *= wv.scales[r];
    if (bias != nullptr) v += bias[r];
    y[r] = v;
  }
}

template <class L>
void GemvRowsT(const float* x, const WeightView& wv, const float* bias, int64_t r0, int64_t r1,
               float* y) {
  const auto* w = static_cast<const typename L::T*>(wv.data);
  const int64_t cols = wv.cols;
  const int64_t quarter = (r1 - r0) / kGroupRows;
  for (int64_t g = 0, groups = GroupCount(r0, r1); g < groups; ++g) {
    const Group grp = GroupRows(r0, r1, quarter, g);
    const typename L::T* row[kGroupRows];
    __m512 a0[kGroupRows], a1[kGroupRows];
#pragma GCC unroll 4
    for (int j = 0; j < kGroupRows; ++j) {
      row[j] = w + grp.row[j] * cols;
      a0[j] = a1[j] = _mm512_setzero_ps();
    }
    int64_t c = 0;
    for (; c + 2 * kLanes <= cols; c += 2 * kLanes) {
      const __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + kLanes);
#pragma GCC unroll 4
      for (int j = 0; j < kGroupRows; ++j) {
        a0[j] = _mm512_fmadd_ps(L::Load(row[j] + c), x0, a0[j]);
        a1[j] = _mm512_fmadd_ps(L::Load(row[j] + c + kLanes), x1, a1[j]);
      }
    }
    if (c + kLanes <= cols) {
      const __m512 x0 = _mm512_loadu_ps(x + c);
#pragma GCC unroll 4
      for (int j = 0; j < kGroupRows; ++j) a0[j] = _mm512_fmadd_ps(L::Load(row[j] + c), x0, a0[j]);
      c += kLanes;
    }
    if (c < cols) {
      const __mmask16 k = TailMask(cols - c);
      const __m512 x1 = _mm512_maskz_loadu_ps(k, x + c);
#pragma GCC unroll 4
      for (int j = 0; j < kGroupRows; ++j) {
        a1[j] = _mm512_fmadd_ps(L::LoadMasked(row[j] + c, k), x1, a1[j]);
      }
    }
    StoreGroup(grp,
               Reduce4(_mm512_add_ps(a0[0], a1[0]), _mm512_add_ps(a0[1], a1[1]),
                       _mm512_add_ps(a0[2], a1[2]), _mm512_add_ps(a0[3], a1[3])),
               wv, bias, y);
  }
}

// acc[i][j] += Σ_{k in [k0, k1)} x[i][k] · row[j][k] for MR rows of x (row stride ldx). acc is
// kept in registers for the whole block. k1 - k0 may end with a partial vector only when k1 is
// the end of the rows.
template <class L, int MR>
inline void DotTile(const float* x, int64_t ldx, const typename L::T* const row[kGroupRows],
                    int64_t k0, int64_t k1, __m512* acc, int64_t pf, int64_t pf_end) {
  constexpr int64_t kLineElems = 64 / sizeof(typename L::T);
  __m512 a[MR][kGroupRows];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < kGroupRows; ++j) a[i][j] = acc[i * kGroupRows + j];
  }
  int64_t c = k0;
  for (; c + kLanes <= k1; c += kLanes) {
    __m512 wv[kGroupRows];
    // One cache line of each row's next block per k step, over this tile's share of it.
    if (pf < pf_end) {
#pragma GCC unroll 4
      for (int j = 0; j < kGroupRows; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(row[j] + pf), _MM_HINT_T0);
      }
      pf += kLineElems;
    }
#pragma GCC unroll 4
    for (int j = 0; j < kGroupRows; ++j) wv[j] = L::Load(row[j] + c);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * ldx + c);
#pragma GCC unroll 4
      for (int j = 0; j < kGroupRows; ++j) a[i][j] = _mm512_fmadd_ps(wv[j], xv, a[i][j]);
    }
  }
  if (c < k1) {
    const __mmask16 k = TailMask(k1 - c);
    __m512 wv[kGroupRows];
#pragma GCC unroll 4
    for (int j = 0; j < kGroupRows; ++j) wv[j] = L::LoadMasked(row[j] + c, k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(k, x + i * ldx + c);
#pragma GCC unroll 4
      for (int j = 0; j < kGroupRows; ++j) a[i][j] = _mm512_fmadd_ps(wv[j], xv, a[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < kGroupRows; ++j) acc[i * kGroupRows + j] = a[i][j];
  }
}

template <class L>
inline void DotTileMr(int mr, const float* x, int64_t ldx,
                      const typename L::T* const row[kGroupRows], int64_t k0, int64_t k1,
                      __m512* acc, int64_t pf, int64_t pf_end) {
  switch (mr) {
    case 6:
      return DotTile<L, 6>(x, ldx, row, k0, k1, acc, pf, pf_end);
    case 5:
      return DotTile<L, 5>(x, ldx, row, k0, k1, acc, pf, pf_end);
    case 4:
      return DotTile<L, 4>(x, ldx, row, k0, k1, acc, pf, pf_end);
    case 3:
      return DotTile<L, 3>(x, ldx, row, k0, k1, acc, pf, pf_end);
    case 2:
      return DotTile<L, 2>(x, ldx, row, k0, k1, acc, pf, pf_end);
    default:
      return DotTile<L, 1>(x, ldx, row, k0, k1, acc, pf, pf_end);
  }
}

template <class L>
void GemmSmallRowsT(const float* x, int64_t m, const WeightView& wv, const float* bias, int64_t r0,
                    int64_t r1, float* y) {
  const auto* w = static_cast<const typename L::T*>(wv.data);
  const int64_t cols = wv.cols, ldy = wv.rows;
  const int64_t quarter = (r1 - r0) / kGroupRows;
  // Tiles as even as possible (16 rows = 6+5+5, not 6+6+4): small tiles waste load slots.
  const int64_t tiles = (m + kTileRows - 1) / kTileRows;
  alignas(64) __m512 acc[kMaxSmallM * kGroupRows];
  for (int64_t g = 0, groups = GroupCount(r0, r1); g < groups; ++g) {
    const Group grp = GroupRows(r0, r1, quarter, g);
    const typename L::T* row[kGroupRows];
    for (int j = 0; j < kGroupRows; ++j) row[j] = w + grp.row[j] * cols;
    for (int64_t i = 0; i < m * kGroupRows; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < cols; k0 += kBlockCols) {
      const int64_t k1 = std::min(cols, k0 + kBlockCols);
      for (int64_t t = 0, i = 0; t < tiles; ++t) {
        const int64_t mr = m / tiles + (t < m % tiles ? 1 : 0);
        // Tile t prefetches the t-th share of the rows' next block, so its lines arrive while
        // this block is computed from L1 and the memory stays busy during every tile.
        const int64_t next = std::min(cols, k1 + kBlockCols) - k1;
        DotTileMr<L>(static_cast<int>(mr), x + i * cols, cols, row, k0, k1, acc + i * kGroupRows,
                     k1 + next * t / tiles, k1 + next * (t + 1) / tiles);
        i += mr;
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      const __m512* a = acc + i * kGroupRows;
      StoreGroup(grp, Reduce4(a[0], a[1], a[2], a[3]), wv, bias, y + i * ldy);
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

void GemmSmallRows(const float* x, int64_t m, const WeightView& w, const float* bias, int64_t r0,
                   int64_t r1, float* y) {
  switch (w.dtype) {
    case DType::kF32:
      return GemmSmallRowsT<LoadF32>(x, m, w, bias, r0, r1, y);
    case DType::kF16:
      return GemmSmallRowsT<LoadF16>(x, m, w, bias, r0, r1, y);
    case DType::kBF16:
      return GemmSmallRowsT<LoadBF16>(x, m, w, bias, r0, r1, y);
    case DType::kInt8:
      return GemmSmallRowsT<LoadI8>(x, m, w, bias, r0, r1, y);
    case DType::kInt4:  // Linear sends int4 to its own kernels
      return;
  }
}

}  // namespace mies::kernels::avx512
