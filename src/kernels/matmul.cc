#include "kernels/matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/activations.h"
#include "kernels/dispatch.h"
#include "kernels/int4.h"
#include "kernels/simd_avx2.h"
#include "kernels/simd_avx512.h"
#include "kernels/simd_dot_avx512.h"

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
    case DType::kInt4:
      return Int4Weight(w, r, c);
  }
  return 0.0f;
}

// 64-byte aligned per-thread scratch that grows as needed; one slot per use in a call.
template <class T, int kSlot>
T* Scratch(int64_t n) {
  thread_local std::vector<unsigned char> buf;
  const size_t bytes = static_cast<size_t>(n) * sizeof(T) + 64;
  if (buf.size() < bytes) buf.resize(bytes);
  auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<T*>((addr + 63) / 64 * 64);
}

int64_t RoundUp(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

void LinearF32(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
               ThreadPool& pool);

// x rounded once per call as matmul.h describes; the dot-product kernel when the CPU has it,
// else the same rounded values as f32 through the f32-activation kernels.
void LinearReduced(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                   ThreadPool& pool) {
  const int64_t cols = w.cols, units = (w.rows + kRowUnit - 1) / kRowUnit;
  WeightView f32w = w;
  f32w.activations = Activations::kF32;
  if (w.dtype == DType::kBF16) {
    const int64_t ldx = RoundUp(cols, avx512dot::kRowAlignBytes / 2);
    auto* xb = Scratch<uint16_t, 0>(m * ldx);
    RoundRowsToBf16(x, m, cols, ldx, xb);
    if (Bf16DotActive()) {
      pool.ParallelFor(units, [&](int64_t u0, int64_t u1) {
        avx512dot::GemmBf16Rows(xb, ldx, m, w, bias, u0 * kRowUnit, std::min(w.rows, u1 * kRowUnit),
                                y);
      });
      return;
    }
    auto* xr = Scratch<float, 1>(m * cols);
    for (int64_t i = 0; i < m; ++i) ConvertBF16ToF32(xb + i * ldx, cols, xr + i * cols);
    return LinearF32(xr, m, f32w, bias, y, pool);
  }
  // int8: W8A8.
  const int64_t ldx = RoundUp(cols, avx512dot::kRowAlignBytes);
  auto* xq = Scratch<int8_t, 0>(m * ldx);
  auto* sx = Scratch<float, 2>(m);
  auto* xsum = Scratch<int32_t, 3>(m);
  QuantizeActivationRows(x, m, cols, ldx, /*u8_offset=*/false, xq, sx, xsum);
  if (VnniActive()) {
    pool.ParallelFor(units, [&](int64_t u0, int64_t u1) {
      avx512dot::GemmW8A8Rows(xq, ldx, m, sx, xsum, w, bias, u0 * kRowUnit,
                              std::min(w.rows, u1 * kRowUnit), y);
    });
    return;
  }
  auto* xr = Scratch<float, 1>(m * cols);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < cols; ++c) xr[i * cols + c] = xq[i * ldx + c] * sx[i];
  }
  LinearF32(xr, m, f32w, bias, y, pool);
}

void LinearInt4(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
                ThreadPool& pool) {
  const int64_t ldx = RoundUp(w.cols, avx512dot::kRowAlignBytes);
  const int64_t panels = (w.rows + kInt4PanelRows - 1) / kInt4PanelRows;
  auto* xq = Scratch<int8_t, 0>(m * ldx);
  auto* sx = Scratch<float, 2>(m);
  auto* xsum = Scratch<int32_t, 3>(m);
  const bool vnni = VnniActive();
  QuantizeActivationRows(x, m, w.cols, ldx, /*u8_offset=*/vnni, xq, sx, xsum);
  pool.ParallelFor(panels, [&](int64_t p0, int64_t p1) {
    if (vnni) {
      avx512dot::Int4Rows(reinterpret_cast<const uint8_t*>(xq), ldx, m, sx, w, bias, p0, p1, y);
    } else {
      Int4RowsPortable(xq, ldx, m, sx, w, bias, p0, p1, y);
    }
  });
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
  if (w.dtype == DType::kInt4) {
    if (w.group_size <= 0 || w.group_size % 8 != 0 || w.group_scales == nullptr ||
        w.row_comp == nullptr || w.scales != nullptr) {
      return InvalidArgument("int4 weight [", w.rows, "][", w.cols,
                             "] needs a group size (a positive multiple of 8, got ", w.group_size,
                             "), group scales and row compensation, and no row scales");
    }
    return OkStatus();
  }
  if (w.group_size != 0 || w.group_scales != nullptr || w.group_zeros != nullptr ||
      w.row_comp != nullptr) {
    return InvalidArgument("weight of dtype ", std::string(DTypeName(w.dtype)),
                           " has int4 group fields");
  }
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
  if (w.dtype == DType::kInt4) return LinearInt4(x, m, w, bias, y, pool);
  if (w.activations == Activations::kReduced && m > 1 &&
      (w.dtype == DType::kBF16 || w.dtype == DType::kInt8)) {
    return LinearReduced(x, m, w, bias, y, pool);
  }
  LinearF32(x, m, w, bias, y, pool);
}

namespace {

void LinearF32(const float* x, int64_t m, const WeightView& w, const float* bias, float* y,
               ThreadPool& pool) {
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

}  // namespace

}  // namespace mies::kernels
