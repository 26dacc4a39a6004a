// Internal: entry points of the AVX2/FMA/F16C kernels (the *_avx2.cc files, compiled with those
// target features enabled). Called only after CpuSupports(KernelPath::kAvx2).
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/matmul.h"

namespace mies::kernels::avx2 {

// GemmRows converts W to f32 in panels of kPanelRows rows × kPanelCols cols (64 KiB: stays in
// L2 while every tile of x rows passes over it).
inline constexpr int64_t kPanelRows = 64;
inline constexpr int64_t kPanelCols = 256;
inline constexpr int64_t kPanelFloats = kPanelRows * kPanelCols;

void ConvertF16ToF32(const uint16_t* src, int64_t n, float* dst);
void ConvertBF16ToF32(const uint16_t* src, int64_t n, float* dst);
void ConvertF32ToF16(const float* src, int64_t n, uint16_t* dst);

// Output rows [r0, r1) of y = x·Wᵀ + bias for m == 1.
void GemvRows(const float* x, const WeightView& w, const float* bias, int64_t r0, int64_t r1,
              float* y);
// Output rows [r0, r1) for any m; `panel` is scratch of kPanelFloats floats.
void GemmRows(const float* x, int64_t m, const WeightView& w, const float* bias, int64_t r0,
              int64_t r1, float* y, float* panel);

float Dot(const float* a, const float* b, int64_t n);
// y += a * x
void Axpy(float a, const float* x, int64_t n, float* y);
void Scale(float a, int64_t n, float* y);
// s[i] = exp(s[i] - shift); returns Σ s[i].
float ExpShiftSum(float* s, int64_t n, float shift);
// out = silu(gate) * up (out may alias either input).
void SiluMul(const float* gate, const float* up, int64_t n, float* out);
// Σ x[i]² accumulated in double.
double SumSquares(const float* x, int64_t n);

}  // namespace mies::kernels::avx2
