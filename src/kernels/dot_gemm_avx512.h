// Internal: the tiling shared by the AVX-512 dot-product GEMMs (bf16: matmul_bf16dot_avx512.cc,
// W8A8: matmul_w8a8_avx512.cc). Include it only after the including file's `#pragma GCC target`:
// it is template code meant to be compiled with that file's features.
//
// Shape contract
//   x     [m][ldx]      rounded activations (D::XT), rows padded with zeros to ldx, a multiple
//                       of D::kStep; the buffer is 64-byte aligned
//   W     [rows][cols]  row-major as stored (D::WT); rows are read with masked loads at the tail,
//                       so nothing past a row is touched
//   y     [m][rows]     f32; rows [r0, r1) are written
//
// Dot products along k, no packing of W: a register tile of up to 6 x rows × 4 W rows (24
// accumulators, 4 W vectors, 1 x vector) takes one instruction per (x row, W row, vector of
// D::kStep elements), each W vector loaded once per tile and each x vector once per 4 W rows.
// W rows are taken 4 at a time as 4 streams (row g of each quarter of the band, as in the GEMV).
// k is cut into blocks of kBlockBytes of W per row: the 4 rows' block (8 KiB) stays in L1 while
// every tile of x rows passes over it, the first tile's loads bring it from memory and every tile
// prefetches its share of the next block. x rows are taken in blocks whose bytes fit the L2
// (kXBlockBytes); W is read from memory once per block of x rows (once per call up to ~100-200
// rows). Unreduced accumulators wait in a buffer between k blocks and are reduced once per
// group (4 rows at a time), so each (x row, W row) sum is accumulated in the same order whatever
// m, the tiling or the thread split.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"

namespace mies::kernels::avx512dot {

inline constexpr int kMaxGroupRows = 8;             // W rows (and memory streams) per tile
inline constexpr int64_t kBlockBytes = 2048;        // k block, bytes of one W row
inline constexpr int64_t kXBlockBytes = 384 << 10;  // x rows per pass: this many bytes

struct Group {
  int64_t row[kMaxGroupRows];
  int valid;
};
// Group g of NR rows of a band [r0, r1) with `part` = (r1 - r0) / NR full groups: row g of each
// of the NR parts; the last, partial group takes the leftover rows and repeats its last one.
template <int NR>
inline Group GroupRows(int64_t r0, int64_t r1, int64_t part, int64_t g) {
  Group grp{};
  if (g < part) {
    for (int j = 0; j < NR; ++j) grp.row[j] = r0 + g + j * part;
    grp.valid = NR;
  } else {
    const int64_t first = r0 + part * NR;
    grp.valid = static_cast<int>(r1 - first);
    for (int j = 0; j < NR; ++j) grp.row[j] = first + std::min<int64_t>(j, grp.valid - 1);
  }
  return grp;
}

// acc[i][j] += Σ_{k in [k0, k1)} x[i][k] · row[j][k] for MR x rows; k1 - k0 may end with a
// partial vector only when k1 is the end of the W rows (cols), read masked.
template <class D, int MR, int NR>
inline void DotTile(const typename D::XT* x, int64_t ldx, const typename D::WT* const row[],
                    int64_t k0, int64_t k1, typename D::Acc* acc, int64_t pf, int64_t pf_end) {
  using Acc = typename D::Acc;
  constexpr int64_t kLineElems = 64 / sizeof(typename D::WT);
  Acc a[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) a[i][j] = acc[i * NR + j];
  }
  int64_t c = k0;
  for (; c + D::kStep <= k1; c += D::kStep) {
    if (pf < pf_end) {
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(row[j] + pf), _MM_HINT_T0);
      }
      pf += kLineElems;
    }
    __m512i xv[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) xv[i] = _mm512_load_si512(x + i * ldx + c);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const typename D::WVec wv = D::LoadW(row[j] + c);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) a[i][j] = D::Dot(a[i][j], xv[i], wv);
    }
  }
  if (c < k1) {
    __m512i xv[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) xv[i] = _mm512_load_si512(x + i * ldx + c);  // zero padded
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const typename D::WVec wv = D::LoadWMasked(row[j] + c, k1 - c);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) a[i][j] = D::Dot(a[i][j], xv[i], wv);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i * NR + j] = a[i][j];
  }
}

template <class D, int NR, int MR = 24 / NR>
inline void DotTileMr(int mr, const typename D::XT* x, int64_t ldx,
                      const typename D::WT* const row[], int64_t k0, int64_t k1,
                      typename D::Acc* acc, int64_t pf, int64_t pf_end) {
  if constexpr (MR <= 1) {
    return DotTile<D, 1, NR>(x, ldx, row, k0, k1, acc, pf, pf_end);
  } else {
    if (mr >= MR) return DotTile<D, MR, NR>(x, ldx, row, k0, k1, acc, pf, pf_end);
    return DotTileMr<D, NR, MR - 1>(mr, x, ldx, row, k0, k1, acc, pf, pf_end);
  }
}

// Rows [r0, r1) of y = epilogue(x · Wᵀ) with tiles of up to MR x rows × NR W rows (NR a
// multiple of 4). D::Finish(4 accumulators, x row i, ctx) returns their 4 sums as f32 before the
// per-W-row scale (wv.scales, when set) and the bias are applied.
template <class D, int MR, int NR>
void DotGemmRows(const typename D::XT* x, int64_t ldx, int64_t m, const typename D::Ctx& ctx,
                 const WeightView& wv, const float* bias, int64_t r0, int64_t r1, float* y) {
  static_assert(NR % 4 == 0 && NR <= kMaxGroupRows && MR * NR <= 24);
  using Acc = typename D::Acc;
  const auto* w = static_cast<const typename D::WT*>(wv.data);
  const int64_t cols = wv.cols, ldy = wv.rows;
  const int64_t block = kBlockBytes / static_cast<int64_t>(sizeof(typename D::WT));
  const int64_t part = (r1 - r0) / NR;
  const int64_t groups = (r1 - r0 + NR - 1) / NR;
  const int64_t row_bytes = ldx * static_cast<int64_t>(sizeof(typename D::XT));
  const int64_t mc_max = std::max<int64_t>(MR, kXBlockBytes / row_bytes);
  // (A std::vector<Acc> would drop the vector type's 64-byte alignment.)
  thread_local std::vector<unsigned char> acc_buf;
  const size_t acc_bytes = static_cast<size_t>(std::min(m, mc_max) * NR) * sizeof(Acc);
  if (acc_buf.size() < acc_bytes + 64) acc_buf.resize(acc_bytes + 64);
  Acc* acc = reinterpret_cast<Acc*>((reinterpret_cast<uintptr_t>(acc_buf.data()) + 63) / 64 * 64);
  for (int64_t i0 = 0; i0 < m; i0 += mc_max) {
    const int64_t mc = std::min(mc_max, m - i0);
    // Tiles as even as possible (16 rows = 6+5+5, not 6+6+4): small tiles waste load slots.
    const int64_t tiles = (mc + MR - 1) / MR;
    for (int64_t g = 0; g < groups; ++g) {
      const Group grp = GroupRows<NR>(r0, r1, part, g);
      const typename D::WT* row[NR];
      for (int j = 0; j < NR; ++j) row[j] = w + grp.row[j] * cols;
      for (int64_t i = 0; i < mc * NR; ++i) acc[i] = D::Zero();
      for (int64_t k0 = 0; k0 < cols; k0 += block) {
        const int64_t k1 = std::min(cols, k0 + block);
        const int64_t next = std::min(cols, k1 + block) - k1;
        for (int64_t t = 0, i = 0; t < tiles; ++t) {
          const int64_t mr = mc / tiles + (t < mc % tiles ? 1 : 0);
          DotTileMr<D, NR, MR>(static_cast<int>(mr), x + (i0 + i) * ldx, ldx, row, k0, k1,
                               acc + i * NR, k1 + next * t / tiles, k1 + next * (t + 1) / tiles);
          i += mr;
        }
      }
      for (int64_t i = 0; i < mc; ++i) {
        const Acc* a = acc + i * NR;
        alignas(16) float s[NR];
        for (int j = 0; j < NR; j += 4) {
          _mm_store_ps(s + j, D::Finish(a[j], a[j + 1], a[j + 2], a[j + 3], i0 + i, ctx));
        }
        float* yi = y + (i0 + i) * ldy;
        for (int j = 0; j < grp.valid; ++j) {
          const int64_t r = grp.row[j];
          float v = s[j];
          if (wv.scales != nullptr) v *= wv.scales[r];
          if (bias != nullptr) v += bias[r];
          yi[r] = v;
        }
      }
    }
  }
}

// The m > kSmallM form (prefill): the roles of x and W swap. W is taken in blocks of
// kLargeRows rows × kLargeBlockBytes per row (256 KiB: they stay in L2), x in tiles of MR rows ×
// the same k range (24 KiB: they stay in L1), and every (x tile, group of NR W rows) pair runs
// its whole k range in registers: per step MR x loads from L1 and NR W loads from L2, no
// accumulator buffer. The sums of a k block are reduced and added into y (the first block
// writes, the last adds scale and bias), so rows with cols > the block pay one reduction per
// block (D::Sum4 gives a block's 4 sums, linear in the products; D::Final, applied once, the
// activation scale and offset). While a block is in use, the next one is prefetched a few lines
// after every group, so W still comes from memory once per call, spread over the computation.
inline constexpr int64_t kSmallM = 32;
inline constexpr int64_t kLargeRows = 64;
inline constexpr int64_t kLargeBlockBytes = 4096;

template <class D, int MR, int NR>
void DotGemmRowsLarge(const typename D::XT* x, int64_t ldx, int64_t m, const typename D::Ctx& ctx,
                      const WeightView& wv, const float* bias, int64_t r0, int64_t r1, float* y) {
  static_assert(NR <= kMaxGroupRows && MR * NR <= 24);
  using Acc = typename D::Acc;
  using WT = typename D::WT;
  const auto* w = static_cast<const WT*>(wv.data);
  const int64_t cols = wv.cols, ldy = wv.rows;
  const int64_t block = kLargeBlockBytes / static_cast<int64_t>(sizeof(WT));
  const int64_t tiles = (m + MR - 1) / MR;
  constexpr int64_t kLineElems = 64 / sizeof(WT);
  for (int64_t k0 = 0; k0 < cols; k0 += block) {
    const int64_t k1 = std::min(cols, k0 + block);
    const bool first = k0 == 0, last = k1 == cols;
    for (int64_t b0 = r0; b0 < r1; b0 += kLargeRows) {
      const int64_t b1 = std::min(r1, b0 + kLargeRows);
      const int64_t groups = (b1 - b0 + NR - 1) / NR;
      // Prefetch cursor over the next block: its rows [nb0, nb1) × columns [nk0, nk1).
      int64_t nb0 = b1, nk0 = k0, nk1 = k1;
      if (nb0 >= r1) {
        nb0 = r0;
        nk0 = k1;
        nk1 = std::min(cols, k1 + block);
      }
      const int64_t nb1 = std::min(r1, nb0 + kLargeRows);
      const int64_t line_per_row = (nk1 - nk0 + kLineElems - 1) / kLineElems;
      const int64_t pf_total = nk0 < cols ? (nb1 - nb0) * line_per_row : 0;
      const int64_t pf_step =
          (pf_total + tiles * groups - 1) / std::max<int64_t>(1, tiles * groups);
      int64_t pf = 0;
      for (int64_t t = 0, i = 0; t < tiles; ++t) {
        const int64_t mr = m / tiles + (t < m % tiles ? 1 : 0);
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t g0 = b0 + g * NR;
          const int valid = static_cast<int>(std::min<int64_t>(NR, b1 - g0));
          const WT* row[NR];
          for (int j = 0; j < NR; ++j) row[j] = w + (g0 + std::min(j, valid - 1)) * cols;
          alignas(64) Acc acc[MR * NR];
          for (int64_t a = 0; a < mr * NR; ++a) acc[a] = D::Zero();
          DotTileMr<D, NR, MR>(static_cast<int>(mr), x + i * ldx, ldx, row, k0, k1, acc, 0, 0);
          for (int64_t e = pf + pf_step; pf < std::min(e, pf_total); ++pf) {
            const int64_t pr = nb0 + pf / line_per_row, pc = nk0 + (pf % line_per_row) * kLineElems;
            _mm_prefetch(reinterpret_cast<const char*>(w + pr * cols + pc), _MM_HINT_T1);
          }
          for (int64_t ii = 0; ii < mr; ++ii) {
            const Acc* a = acc + ii * NR;
            alignas(16) float s[(NR + 3) / 4 * 4];
            for (int j = 0; j < NR; j += 4) {
              const Acc z = D::Zero();
              _mm_store_ps(s + j, D::Sum4(a[j], j + 1 < NR ? a[j + 1] : z,
                                          j + 2 < NR ? a[j + 2] : z, j + 3 < NR ? a[j + 3] : z));
            }
            float* yi = y + (i + ii) * ldy;
            for (int j = 0; j < valid; ++j) {
              const int64_t r = g0 + j;
              float v = first ? s[j] : yi[r] + s[j];
              if (last) {
                v = D::Final(v, i + ii, ctx);
                if (wv.scales != nullptr) v *= wv.scales[r];
                if (bias != nullptr) v += bias[r];
              }
              yi[r] = v;
            }
          }
        }
        i += mr;
      }
    }
  }
}

// [Σa, Σb, Σc, Σd] of 16 f32 lanes each, in a fixed tree.
inline __m256 Fold(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}
inline __m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m256 t0 = _mm256_hadd_ps(Fold(a), Fold(b));
  __m256 t1 = _mm256_hadd_ps(Fold(c), Fold(d));
  __m256 t2 = _mm256_hadd_ps(t0, t1);
  return _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
}
// The same for 16 int32 lanes (exact).
inline __m256i FoldI(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}
inline __m128i Reduce4I(__m512i a, __m512i b, __m512i c, __m512i d) {
  __m256i t0 = _mm256_hadd_epi32(FoldI(a), FoldI(b));
  __m256i t1 = _mm256_hadd_epi32(FoldI(c), FoldI(d));
  __m256i t2 = _mm256_hadd_epi32(t0, t1);
  return _mm_add_epi32(_mm256_castsi256_si128(t2), _mm256_extracti128_si256(t2, 1));
}

}  // namespace mies::kernels::avx512dot
