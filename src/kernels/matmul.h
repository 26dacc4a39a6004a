// Linear layers: y = x · Wᵀ (+ bias) with f32 activations and f32/f16/bf16/int8/int4 weights.
//
// Shape contract
//   x     [m][cols]      float32, row-major, contiguous
//   W     [rows][cols]   row-major as stored in Hugging Face checkpoints ([out][in]); used as
//                        is, no repacking: the loader may hand over memory-mapped tensors.
//                        int4 is the exception: group-wise, in the panel layout of int4.h.
//   bias  [rows]         float32 or nullptr
//   y     [m][rows]      float32, overwritten; must not overlap x, W or bias
//   int8: w[r][c] = q[r][c] * scales[r]
//
// Activations (WeightView::activations). kF32 (the precise mode) multiplies the f32 x by the
// weights. kReduced lets the kernels round x first, once per call, where the weight type has a
// dot-product kernel: bf16 weights take x rounded to bf16 (round to nearest even; products exact
// in f32, f32 sums: vdpbf16ps), int8 weights take x quantized per row to int8 (W8A8: scale =
// max|x_row| / 127, q = round(x * 127 / max|x_row|); exact int32 sums of q_x * q_w: vpdpbusd,
// then y = s_x * s_w * sum). f32/f16 weights always keep f32 x. m == 1 (decode GEMV, bandwidth-
// bound either way) keeps f32 x for bf16 and int8 too. int4 weights always take int8 x (kReduced
// or not: an f32 path would make the 4-bit GEMV arithmetic-bound). Every kernel path computes the
// same rounded x, so paths differ only in f32 summation order.
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

enum class Activations : uint8_t { kF32, kReduced };

struct WeightView {
  DType dtype = DType::kF32;
  int64_t rows = 0;  // out_features
  int64_t cols = 0;  // in_features
  const void* data = nullptr;
  const float* scales = nullptr;  // int8 only: one per row
  Activations activations = Activations::kF32;
  // int4 only (int4.h): the group size and the other parts of the packed weight.
  int64_t group_size = 0;
  const uint16_t* group_scales = nullptr;  // f16 [panel][group][16]
  const uint8_t* group_zeros = nullptr;    // u8 [panel][group][16]; nullptr: symmetric (8)
  const float* row_comp = nullptr;         // f32 [padded rows]
};

// OK when the view is usable by Linear: rows, cols > 0, data set, scales set iff int8, the int4
// fields set iff int4. Call it
// once at load time; Linear itself does not re-check (hot path).
Status ValidateWeightView(const WeightView& w);

// y[m][w.rows] = x[m][w.cols] · Wᵀ + bias. m == 0 does nothing. Work is split over pool.
void Linear(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool);

}  // namespace mies::kernels
