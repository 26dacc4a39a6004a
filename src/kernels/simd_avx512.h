// Internal: entry points of the AVX-512 Linear kernels (matmul_avx512.cc, compiled with
// avx512f/bw/vl/dq enabled). Called only after CpuSupports(KernelPath::kAvx512).
#pragma once

#include <cstdint>

#include "kernels/matmul.h"

namespace mies::kernels::avx512 {

// GemmSmallRows handles 1 <= m <= kMaxSmallM; larger m (prefill) use avx2::GemmRows, whose
// packed-panel scheme keeps x reuse high when x no longer fits in L2.
inline constexpr int64_t kMaxSmallM = 32;

// Output rows [r0, r1) of y = x·Wᵀ + bias for m == 1.
void GemvRows(const float* x, const WeightView& w, const float* bias, int64_t r0, int64_t r1,
              float* y);
// Output rows [r0, r1) for 1 <= m <= kMaxSmallM: every W element is loaded (and converted) once
// per tile of up to 6 x rows, W read from memory once per call.
void GemmSmallRows(const float* x, int64_t m, const WeightView& w, const float* bias, int64_t r0,
                   int64_t r1, float* y);

}  // namespace mies::kernels::avx512
