// Linear layers: y = x · Wᵀ (+ bias) with f32 activations and f32/f16/bf16/int8 weights.
//
// Shape contract
//   x     [m][cols]      float32, row-major, contiguous
//   W     [rows][cols]   row-major as stored in Hugging Face checkpoints ([out][in]); used as
//                        is, no repacking: the loader may hand over memory-mapped tensors.
//   bias  [rows]         float32 or nullptr
//   y     [m][rows]      float32, overwritten; must not overlap x, W or bias
//   int8: w[r][c] = q[r][c] * scales[r]
//
// m == 1 (decode) is a GEMV bound by memory bandwidth: each thread streams a contiguous band of
// W rows exactly once. m > 1 (batched decode, prefill) splits output rows over the threads and,
// within a thread, converts a panel of W (a few dozen rows × a slice of cols) to f32 once into an
// L2-resident buffer and reuses it for every tile of x rows, so W is read from memory once per
// call whatever m is.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "common/thread_pool.h"
#include "kernels/dtype.h"

namespace mies::kernels {

struct WeightView {
  DType dtype = DType::kF32;
  int64_t rows = 0;  // out_features
  int64_t cols = 0;  // in_features
  const void* data = nullptr;
  const float* scales = nullptr;  // int8 only: one per row
};

// OK when the view is usable by Linear: rows, cols > 0, data set, scales set iff int8. Call it
// once at load time; Linear itself does not re-check (hot path).
Status ValidateWeightView(const WeightView& w);

// y[m][w.rows] = x[m][w.cols] · Wᵀ + bias. m == 0 does nothing. Work is split over pool.
void Linear(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool);

}  // namespace mies::kernels
