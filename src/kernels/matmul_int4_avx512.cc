// AVX512_VNNI int4 kernels: group-wise 4-bit weights (int4.h panel layout) × int8 activations
// quantized per row, for every m (GEMV at m == 1 included). Entry point: simd_dot_avx512.h.
//
// Shape contract
//   xu    [m][ldx]  q_x + 128 as u8 (the unsigned operand of vpdpbusd), ldx a multiple of 64,
//                   columns past cols padded with 128 (q_x = 0); sx[m] the row scales
//   W     int4.h layout, panels [p0, p1) of 16 output rows
//   y     [m][rows] f32, rows of those panels written (padding rows are not)
//
// One 64-byte load is 16 rows × 8 columns: two masks/shifts make it two vectors of 16 int32 lanes
// (lane j = 4 consecutive weights of row j), the zero point is subtracted bytewise (q - z in
// [-15, 15], signed), and each x row's 4 matching bytes are broadcast to all lanes: one vpdpbusd
// per (x row, 4 columns × 16 rows). Sums are exact in int32 per group; at the end of a group
// they are converted and scaled (one FMA per x row and panel), and at the end of the row the
// 128-offset term (row_comp) is subtracted: y = sx * (Σ_g s_g * Σ (q_x + 128)(q - z) - comp).
//
// Tiles: up to 6 x rows × 1 panel for m > 1 (the panel's 16 × cols / 2 bytes stay in L1/L2 while
// the tiles of an L2-sized block of x rows pass over it: W read from memory once per block), and
// 1 x row × 4 adjacent panels for the GEMV (4 memory streams). lo and hi nibbles accumulate in
// separate registers so that 2 × rows × panels dependency chains are in flight.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/int4.h"
#include "kernels/simd_dot_avx512.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace mies::kernels::avx512dot {
namespace {

constexpr int64_t kXBlockBytes = 256 << 10;
constexpr int kTileRows = 6;

inline int32_t Load4(const uint8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// Zero points of one (panel, group), each replicated over the 4 bytes of its row's lane.
inline __m512i ExpandZeros(const uint8_t* z16) {
  const __m512i ctrl =
      _mm512_set_epi8(15, 15, 15, 15, 14, 14, 14, 14, 13, 13, 13, 13, 12, 12, 12, 12, 11, 11, 11,
                      11, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5,
                      5, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_shuffle_epi8(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(z16))), ctrl);
}

struct Panels {
  const uint8_t* data;  // panel 0's data
  int64_t panel_bytes;  // 16 * padded_cols / 2
  int64_t groups, steps_per_group;
  const uint16_t* scales;
  const uint8_t* zeros;
  const float* comp;
};

// y[i][16 rows of panels p .. p+NP) for MR x rows.
template <int MR, int NP>
inline void Tile(const uint8_t* x, int64_t ldx, const float* sx, const Panels& P, int64_t p,
                 const WeightView& w, const float* bias, float* y) {
  const __m512i nib = _mm512_set1_epi8(0x0f);
  __m512 fa[MR][NP];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int n = 0; n < NP; ++n) fa[i][n] = _mm512_setzero_ps();
  }
  const uint8_t* wp[NP];
#pragma GCC unroll 4
  for (int n = 0; n < NP; ++n) wp[n] = P.data + (p + n) * P.panel_bytes;
  int64_t step = 0;
  for (int64_t g = 0; g < P.groups; ++g) {
    __m512i zv[NP];
#pragma GCC unroll 4
    for (int n = 0; n < NP; ++n) {
      zv[n] = P.zeros != nullptr ? ExpandZeros(P.zeros + ((p + n) * P.groups + g) * kInt4PanelRows)
                                 : _mm512_set1_epi8(8);
    }
    __m512i lo_acc[MR][NP], hi_acc[MR][NP];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
      for (int n = 0; n < NP; ++n) lo_acc[i][n] = hi_acc[i][n] = _mm512_setzero_si512();
    }
    for (int64_t s = 0; s < P.steps_per_group; ++s, ++step) {
      __m512i lo[NP], hi[NP];
#pragma GCC unroll 4
      for (int n = 0; n < NP; ++n) {
        const __m512i v = _mm512_load_si512(wp[n] + step * 64);
        lo[n] = _mm512_sub_epi8(_mm512_and_si512(v, nib), zv[n]);
        hi[n] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), nib), zv[n]);
      }
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const uint8_t* xi = x + i * ldx + step * 8;
        const __m512i xl = _mm512_set1_epi32(Load4(xi)), xh = _mm512_set1_epi32(Load4(xi + 4));
#pragma GCC unroll 4
        for (int n = 0; n < NP; ++n) {
          lo_acc[i][n] = _mm512_dpbusd_epi32(lo_acc[i][n], xl, lo[n]);
          hi_acc[i][n] = _mm512_dpbusd_epi32(hi_acc[i][n], xh, hi[n]);
        }
      }
    }
#pragma GCC unroll 4
    for (int n = 0; n < NP; ++n) {
      const __m512 sv = _mm512_cvtph_ps(_mm256_load_si256(
          reinterpret_cast<const __m256i*>(P.scales + ((p + n) * P.groups + g) * kInt4PanelRows)));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        fa[i][n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(lo_acc[i][n], hi_acc[i][n])),
                                   sv, fa[i][n]);
      }
    }
  }
  const int64_t ldy = w.rows;
#pragma GCC unroll 4
  for (int n = 0; n < NP; ++n) {
    const int64_t r0 = (p + n) * kInt4PanelRows;
    const int64_t valid = std::min<int64_t>(kInt4PanelRows, w.rows - r0);
    const __mmask16 k = static_cast<__mmask16>((1u << valid) - 1u);
    const __m512 comp = _mm512_load_ps(P.comp + r0);
    const __m512 b = bias != nullptr ? _mm512_maskz_loadu_ps(k, bias + r0) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(fa[i][n], comp), _mm512_set1_ps(sx[i]), b);
      _mm512_mask_storeu_ps(y + i * ldy + r0, k, v);
    }
  }
}

template <int NP>
inline void TileMr(int mr, const uint8_t* x, int64_t ldx, const float* sx, const Panels& P,
                   int64_t p, const WeightView& w, const float* bias, float* y) {
  switch (mr) {
    case 6:
      return Tile<6, NP>(x, ldx, sx, P, p, w, bias, y);
    case 5:
      return Tile<5, NP>(x, ldx, sx, P, p, w, bias, y);
    case 4:
      return Tile<4, NP>(x, ldx, sx, P, p, w, bias, y);
    case 3:
      return Tile<3, NP>(x, ldx, sx, P, p, w, bias, y);
    case 2:
      return Tile<2, NP>(x, ldx, sx, P, p, w, bias, y);
    default:
      return Tile<1, NP>(x, ldx, sx, P, p, w, bias, y);
  }
}

}  // namespace

void Int4Rows(const uint8_t* xu, int64_t ldx, int64_t m, const float* sx, const WeightView& w,
              const float* bias, int64_t p0, int64_t p1, float* y) {
  const int64_t padded_cols = (w.cols + w.group_size - 1) / w.group_size * w.group_size;
  const Panels P{static_cast<const uint8_t*>(w.data),
                 kInt4PanelRows * padded_cols / 2,
                 padded_cols / w.group_size,
                 w.group_size / 8,
                 w.group_scales,
                 w.group_zeros,
                 w.row_comp};
  if (m == 1) {
    int64_t p = p0;
    for (; p + 4 <= p1; p += 4) Tile<1, 4>(xu, ldx, sx, P, p, w, bias, y);
    for (; p < p1; ++p) Tile<1, 1>(xu, ldx, sx, P, p, w, bias, y);
    return;
  }
  const int64_t mc_max = std::max<int64_t>(kTileRows, kXBlockBytes / ldx);
  for (int64_t i0 = 0; i0 < m; i0 += mc_max) {
    const int64_t mc = std::min(mc_max, m - i0);
    const int64_t tiles = (mc + kTileRows - 1) / kTileRows;
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t t = 0, i = i0; t < tiles; ++t) {
        const int64_t mr = mc / tiles + (t < mc % tiles ? 1 : 0);
        TileMr<1>(static_cast<int>(mr), xu + i * ldx, ldx, sx + i, P, p, w, bias, y + i * w.rows);
        i += mr;
      }
    }
  }
}

}  // namespace mies::kernels::avx512dot
