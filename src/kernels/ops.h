// Element-wise and row-wise operations of a LLaMA-family layer (all f32, in row-major arrays).
//
// Shape contract
//   RmsNorm     x, out [rows][dim], weight [dim]; out may alias x.
//               out = x / sqrt(mean(x²) + eps) * weight. Use rows = tokens*heads, dim = head_dim
//               for per-head q/k norms (Qwen3).
//   SiluMul     gate, up, out [n]; out = silu(gate) * up; out may alias gate or up.
//   ApplyRope   x [tokens][heads][head_dim] rotated in place; positions [tokens];
//               inv_freq [head_dim/2] (double: angles reach thousands of radians, where an f32
//               inv_freq alone is off by ~1e-4 rad). HF "rotate_half": element i pairs with
//               i + head_dim/2, angle = positions[t] * inv_freq[i] (in double). head_dim
//               must be even.
//   ApplyRopeStrided  the same over rot_dim floats at x + t*token_stride + h*head_stride (a
//               slice of a wider row, as MLA's rotary part), cos/sin times `factor` (yarn's
//               attention factor); RopeLayout::kPairs rotates adjacent pairs (2i, 2i+1)
//               instead of halves (DeepSeek's checkpoints: the same dot products as
//               transformers' de-interleave-then-rotate_half).
//   Softmax     x [rows][cols] in place, per row, max-subtracted.
//   AddInPlace  dst[n] += src[n] (residual connections).
//   ConvertRow  dst[n] = float(src[n]) (times scale for int8); embedding-row lookup.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"

namespace mies::kernels {

void RmsNorm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps, float* out);
void SiluMul(const float* gate, const float* up, int64_t n, float* out);
void ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, const int32_t* positions,
               const double* inv_freq);
enum class RopeLayout { kHalves, kPairs };
void ApplyRopeStrided(float* x, int64_t tokens, int64_t heads, int64_t token_stride,
                      int64_t head_stride, int64_t rot_dim, const int32_t* positions,
                      const double* inv_freq, RopeLayout layout, float factor);
void Softmax(float* x, int64_t rows, int64_t cols);
void AddInPlace(float* dst, const float* src, int64_t n);
// scale is used for kInt8 only (the row's quantization scale).
void ConvertRow(const void* src, DType dtype, int64_t n, float* dst, float scale = 1.0f);

}  // namespace mies::kernels
