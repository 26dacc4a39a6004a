#include "kernels/matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/simd_avx2.h"
#include "kernels/simd_avx512.h"

namespace mies::kernels {
namespace {

// Threads split output rows in units of this many rows, so every band starts on a whole
// register tile.
constexpr int64_t kRowUnit = 16;

float LoadWeight(const WeightView& w, int64_t r, int64_t c) {
  int64_t i = r * w.cols + c;
  switch (w.dtype) {
    case DType::kF32:
      return static_cast<const float*>(w.data)[i];
    case DType::kF16:
      return F16ToF32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::kBF16:
      return BF16ToF32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::kInt8:
      return static_cast<float>(static_cast<const int8_t*>(w.data)[i]);
  }
  return 0.0f;
}

// Portable path: one dot product per output, int8 scale applied after the sum as in the AVX2
// path.
void ScalarRows(const float* x, int64_t m, const WeightView& w, const float* bias, int64_t r0,
                int64_t r1, float* y) {
  std::vector<float> row(w.cols);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t c = 0; c < w.cols; ++c) row[c] = LoadWeight(w, r, c);
    float scale = w.dtype == DType::kInt8 ? w.scales[r] : 1.0f;
    float b = bias != nullptr ? bias[r] : 0.0f;
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * w.cols;
      float acc = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) acc += xi[c] * row[c];
      y[i * w.rows + r] = acc * scale + b;
    }
  }
}

}  // namespace

Status ValidateWeightView(const WeightView& w) {
  if (w.rows <= 0 || w.cols <= 0) {
    return InvalidArgument("weight shape [", w.rows, "][", w.cols, "] must be positive");
  }
  if (w.data == nullptr) return InvalidArgument("weight data pointer is null");
  if (w.dtype == DType::kInt8 && w.scales == nullptr) {
    return InvalidArgument("int8 weight [", w.rows, "][", w.cols, "] has no per-row scales");
  }
  if (w.dtype != DType::kInt8 && w.scales != nullptr) {
    return InvalidArgument("weight of dtype ", std::string(DTypeName(w.dtype)),
                           " has scales; only int8 weights take them");
  }
  return OkStatus();
}

void Linear(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
            ThreadPool& pool) {
  if (m <= 0) return;
  const KernelPath path = ActiveKernelPath();
  const int64_t units = (w.rows + kRowUnit - 1) / kRowUnit;
  pool.ParallelFor(units, [&](int64_t u0, int64_t u1) {
    int64_t r0 = u0 * kRowUnit;
    int64_t r1 = std::min(w.rows, u1 * kRowUnit);
    if (path == KernelPath::kScalar) {
      ScalarRows(x, m, w, bias, r0, r1, y);
    } else if (path == KernelPath::kAvx512 && m == 1) {
      avx512::GemvRows(x, w, bias, r0, r1, y);
    } else if (path == KernelPath::kAvx512 && m <= avx512::kMaxSmallM) {
      avx512::GemmSmallRows(x, m, w, bias, r0, r1, y);
    } else if (m == 1) {
      avx2::GemvRows(x, w, bias, r0, r1, y);
    } else {
      thread_local std::vector<float> panel(avx2::kPanelFloats);
      avx2::GemmRows(x, m, w, bias, r0, r1, y, panel.data());
    }
  });
}

}  // namespace mies::kernels
