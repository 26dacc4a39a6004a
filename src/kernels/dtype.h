// Weight storage types and conversions between them and float32.
//
// Activations are always float32; weights may be stored as f32, f16 (IEEE half), bf16 (the top
// 16 bits of an f32) or int8 with one f32 scale per output row (symmetric, MindIE's W8A16:
// w ≈ q * scale, scale = max|w_row| / 127). Narrowing conversions round to nearest even.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/status.h"

namespace mies::kernels {

// kInt4: group-wise 4-bit weights in the panel layout of int4.h (not a row-major array).
enum class DType : uint8_t { kF32, kF16, kBF16, kInt8, kInt4 };

// "float32", "float16", "bfloat16", "int8", "int4".
std::string_view DTypeName(DType dtype);
// Bytes per element of a row-major array: 4, 2, 2, 1 (int4: 1, but its storage size comes from
// int4.h's Int4Layout).
int64_t DTypeSize(DType dtype);
// Accepts the names above and the short forms "f32", "f16", "bf16", "fp32", "fp16"
// (case-insensitive). Anything else is InvalidArgument naming the value.
StatusOr<DType> ParseDType(std::string_view name);

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}
inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

inline float BF16ToF32(uint16_t h) { return BitsToFloat(static_cast<uint32_t>(h) << 16); }
// Round to nearest even; NaN stays a (quiet) NaN, overflow rounds to infinity.
inline uint16_t F32ToBF16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
// IEEE binary16, subnormals included.
float F16ToF32(uint16_t h);
// Round to nearest even; values beyond the f16 range become infinity, NaN stays NaN.
uint16_t F32ToF16(float f);

// Bulk conversions (vectorized where the CPU allows; results equal the scalar functions).
void ConvertF16ToF32(const uint16_t* src, int64_t n, float* dst);
void ConvertBF16ToF32(const uint16_t* src, int64_t n, float* dst);
void ConvertF32ToF16(const float* src, int64_t n, uint16_t* dst);
void ConvertF32ToBF16(const float* src, int64_t n, uint16_t* dst);

// Per-row symmetric int8 quantization of a row-major [rows][cols] matrix: scales[r] =
// max|src[r][:]| / 127 and dst[r][c] = round(src[r][c] / scales[r]) in [-127, 127]. A row of
// zeros gets scale 0 and q 0. Non-finite inputs give InvalidArgument naming row and column.
Status QuantizeRowsInt8(const float* src, int64_t rows, int64_t cols, int8_t* dst, float* scales);

}  // namespace mies::kernels
