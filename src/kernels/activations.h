// Reduced-precision activations for the dot-product kernels (matmul.h, "Activations"): x rounded
// to bf16, or quantized to int8 per row. Every kernel path produces the same values (the AVX-512
// versions are used when the dot-product kernels that read them are active).
//
// Shape contract: x [m][cols] f32; out [m][ldx] with ldx >= cols, columns [cols, ldx) set to the
// value that adds nothing (bf16 0; int8 0, or 128 when u8_offset).
#pragma once

#include <cstdint>

namespace mies::kernels {

// out[i][c] = F32ToBF16(x[i][c]).
void RoundRowsToBf16(const float* x, int64_t m, int64_t cols, int64_t ldx, uint16_t* out);

// Per row: scale = max|x_row| / 127, q = clamp(round_half_even(x * (127 / max|x_row|)), ±127),
// sums[i] = Σ q. A zero row gets scale 0 and q 0; a row with a NaN or infinity gets q 0 and a
// NaN scale (its outputs become NaN). u8_offset stores q + 128 (as the bytes of uint8_t values).
void QuantizeActivationRows(const float* x, int64_t m, int64_t cols, int64_t ldx, bool u8_offset,
                            int8_t* q, float* scales, int32_t* sums);

}  // namespace mies::kernels
