// Group-wise 4-bit weights (DType::kInt4): storage layout, quantization and packing.
//
// Values: w[r][c] = (q[r][c] - z[r][g]) * s[r][g] with g = c / group_size, q in [0, 15], z in
// [0, 16]
// (z = 8 when the weight has no zero points: symmetric), s an f16 scale per (row, group). This
// covers quantization at load (QuantizeInt4Rows) and the published 4-bit checkpoints (GPTQ, AWQ:
// PackInt4Row takes their unpacked q, z, s).
//
// Layout (one 64-byte aligned blob; Int4Layout gives the offsets). Rows are cut into panels of
// 16 (the last one padded); columns are padded to a whole number of groups with q = z, so the
// padding adds 0. group_size is a positive multiple of 8 (32, 64, 128, ... ; a whole padded row
// for per-channel weights).
//   data    [panel][padded_cols / 8][64 bytes]: the 16 rows × 8 columns of one step; byte
//           4*j + t holds row j's column 8*step + t in its low nibble and column 8*step + 4 + t
//           in its high nibble. A 64-byte load is thus two vectors of 16 int32 lanes, lane j =
//           4 consecutive weights of row j: what vpdpbusd takes, with no shuffle.
//   scales  [panel][group][16] f16
//   zeros   [panel][group][16] u8 (absent when symmetric)
//   comp    [panel * 16] f32: 128 * Σ_g s[r][g] * Σ_{c in g} (q[r][c] - z[r][g]), the term the
//           kernels subtract because they feed x to vpdpbusd as q_x + 128 (unsigned).
// Bytes per weight: 0.5 + 2 / group_size (+ 1 / group_size with zero points): 0.5625 for group
// 32, 0.516 for group 128.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/matmul.h"

namespace mies::kernels {

inline constexpr int64_t kInt4PanelRows = 16;

struct Int4Layout {
  int64_t rows = 0, cols = 0, group_size = 0;
  bool zero_points = false;
  int64_t panels = 0, padded_cols = 0, groups = 0;
  int64_t data_offset = 0, scales_offset = 0, zeros_offset = 0, comp_offset = 0;
  int64_t total_bytes = 0;
};

// The layout of a [rows][cols] weight; InvalidArgument for a bad shape or group size.
StatusOr<Int4Layout> MakeInt4Layout(int64_t rows, int64_t cols, int64_t group_size,
                                    bool zero_points);

// A view of a blob written in `layout` (blob: layout.total_bytes, 64-byte aligned).
WeightView Int4View(const Int4Layout& layout, const std::byte* blob);

// Quantizes rows [r0, r0 + n) of src ([n][cols] f32) into the blob. Symmetric (no zero points):
// per group, d = the value of largest magnitude / -8, q = clamp(round(w / d) + 8, 0, 15) (as
// llama.cpp's Q4_0). With zero points: s = (max - min) / 15, z = clamp(round(-min / s), 0, 15),
// q = clamp(round(w / s) + z, 0, 15). Scales are rounded to f16 before q is computed. Non-finite
// weights give InvalidArgument naming row and column.
Status QuantizeInt4Rows(const float* src, int64_t r0, int64_t n, const Int4Layout& layout,
                        std::byte* blob);

// Packs row r from unpacked values: q [cols] in [0, 15], zeros [groups] in [0, 16] (16: what a
// GPTQ zero stored as 15 means; ignored without zero points, may be nullptr then), scales
// [groups] (rounded to f16 here).
void PackInt4Row(int64_t r, const uint8_t* q, const uint8_t* zeros, const float* scales,
                 const Int4Layout& layout, std::byte* blob);

// The weight value w[r][c] of a packed view (tests and reference code).
float Int4Weight(const WeightView& w, int64_t r, int64_t c);

// Portable int4 Linear over panels [p0, p1): x quantized per row as matmul.h describes (xq [m]
// [ldx] signed, sx scales), exact int32 sums per group, y = sx * Σ_g s_g * sum_g + bias.
void Int4RowsPortable(const int8_t* xq, int64_t ldx, int64_t m, const float* sx,
                      const WeightView& w, const float* bias, int64_t p0, int64_t p1, float* y);

}  // namespace mies::kernels
