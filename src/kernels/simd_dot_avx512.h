// Internal: entry points of the AVX-512 dot-product kernels. Each is called only when the active
// path is avx512 and the CPU has the extension named (dispatch.h: Bf16DotActive, VnniActive).
#pragma once

#include <cstdint>

#include "kernels/matmul.h"

namespace mies::kernels::avx512dot {

// Activation buffers: rows padded with zeros to a multiple of this many bytes (one vector).
inline constexpr int64_t kRowAlignBytes = 64;

// --- AVX512_BF16 (matmul_bf16dot_avx512.cc) ---
// xb [m][ldx] bf16 (x rounded to nearest even, zero padded); W bf16. Rows [r0, r1) of y.
void GemmBf16Rows(const uint16_t* xb, int64_t ldx, int64_t m, const WeightView& w,
                  const float* bias, int64_t r0, int64_t r1, float* y);
// out[i][0, cols) = bf16(x[i][c]) (same bits as F32ToBF16), out[i][cols, ldx) = 0.
void RoundRowsToBf16(const float* x, int64_t m, int64_t cols, int64_t ldx, uint16_t* out);

// --- AVX512_VNNI (matmul_w8a8_avx512.cc) ---
// xq [m][ldx] int8 per-row quantized x (zero padded), sx[i] its scale, xsum[i] = Σ_c xq[i][c];
// W int8 with per-row scales. Rows [r0, r1) of y = sx[i] * scales[r] * Σ xq·q + bias.
void GemmW8A8Rows(const int8_t* xq, int64_t ldx, int64_t m, const float* sx, const int32_t* xsum,
                  const WeightView& w, const float* bias, int64_t r0, int64_t r1, float* y);
// The row quantization of matmul.h (same results as the portable QuantizeActivationRows).
void QuantizeRowsInt8(const float* x, int64_t m, int64_t cols, int64_t ldx, bool u8_offset,
                      int8_t* q, float* scales, int32_t* sums);

// --- AVX512_VNNI, int4 weights (matmul_int4_avx512.cc) ---
// xu [m][ldx] = q_x + 128 as u8 (quantized like the above; padding 128), sx[i] its scale.
// Panels [p0, p1) of 16 output rows.
void Int4Rows(const uint8_t* xu, int64_t ldx, int64_t m, const float* sx, const WeightView& w,
              const float* bias, int64_t p0, int64_t p1, float* y);

}  // namespace mies::kernels::avx512dot
