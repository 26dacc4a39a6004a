#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/simd_avx2.h"

namespace mies::kernels {

void RmsNorm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps,
             float* out) {
  const bool avx2 = Avx2Active();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    double ss;
    if (avx2) {
      ss = avx2::SumSquares(xr, dim);
    } else {
      ss = 0.0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    }
    float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    for (int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] * inv) * weight[i];
  }
}

void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  if (Avx2Active()) return avx2::SiluMul(gate, up, n, out);
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void ApplyRope(float* x, int64_t tokens, int64_t heads, int64_t head_dim, const int32_t* positions,
               const double* inv_freq) {
  ApplyRopeStrided(x, tokens, heads, heads * head_dim, head_dim, head_dim, positions, inv_freq,
                   RopeLayout::kHalves, 1.0f);
}

void ApplyRopeStrided(float* x, int64_t tokens, int64_t heads, int64_t token_stride,
                      int64_t head_stride, int64_t rot_dim, const int32_t* positions,
                      const double* inv_freq, RopeLayout layout, float factor) {
  const int64_t half = rot_dim / 2;
  std::vector<float> cos_t(half), sin_t(half);
  for (int64_t t = 0; t < tokens; ++t) {
    // One cos/sin table per token, shared by its heads; angles in double as the reference does.
    for (int64_t i = 0; i < half; ++i) {
      double angle = static_cast<double>(positions[t]) * inv_freq[i];
      cos_t[i] = static_cast<float>(std::cos(angle) * factor);
      sin_t[i] = static_cast<float>(std::sin(angle) * factor);
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + t * token_stride + h * head_stride;
      // kHalves pairs element i with i + half; kPairs pairs 2i with 2i + 1.
      const int64_t step = layout == RopeLayout::kHalves ? 1 : 2;
      const int64_t other = layout == RopeLayout::kHalves ? half : 1;
      for (int64_t i = 0; i < half; ++i) {
        float* p = v + i * step;
        const float a = p[0], b = p[other];
        p[0] = a * cos_t[i] - b * sin_t[i];
        p[other] = b * cos_t[i] + a * sin_t[i];
      }
    }
  }
}

void Softmax(float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x + r * cols;
    float mx = -INFINITY;
    for (int64_t i = 0; i < cols; ++i) mx = std::fmax(mx, v[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) {
      v[i] = std::exp(v[i] - mx);
      sum += v[i];
    }
    float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < cols; ++i) v[i] *= inv;
  }
}

void AddInPlace(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void ConvertRow(const void* src, DType dtype, int64_t n, float* dst, float scale) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      ConvertF16ToF32(static_cast<const uint16_t*>(src), n, dst);
      return;
    case DType::kBF16:
      ConvertBF16ToF32(static_cast<const uint16_t*>(src), n, dst);
      return;
    case DType::kInt8: {
      const int8_t* q = static_cast<const int8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(q[i]) * scale;
      return;
    }
    case DType::kInt4:  // not a row-major array: never an embedding table
      std::fill(dst, dst + n, 0.0f);
      return;
  }
}

}  // namespace mies::kernels
