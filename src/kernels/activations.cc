#include "kernels/activations.h"

#include <algorithm>
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/dtype.h"
#include "kernels/simd_dot_avx512.h"

namespace mies::kernels {

void RoundRowsToBf16(const float* x, int64_t m, int64_t cols, int64_t ldx, uint16_t* out) {
  if (Bf16DotActive() && ldx % 16 == 0) return avx512dot::RoundRowsToBf16(x, m, cols, ldx, out);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < cols; ++c) out[i * ldx + c] = F32ToBF16(x[i * cols + c]);
    std::fill(out + i * ldx + cols, out + (i + 1) * ldx, uint16_t{0});
  }
}

void QuantizeActivationRows(const float* x, int64_t m, int64_t cols, int64_t ldx, bool u8_offset,
                            int8_t* q, float* scales, int32_t* sums) {
  if (VnniActive() && ldx % 16 == 0) {
    return avx512dot::QuantizeRowsInt8(x, m, cols, ldx, u8_offset, q, scales, sums);
  }
  const int offset = u8_offset ? 128 : 0;
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * cols;
    int8_t* qi = q + i * ldx;
    float max_abs = 0;
    bool finite = true;
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(xi[c])) finite = false;
      max_abs = std::max(max_abs, std::fabs(xi[c]));
    }
    int32_t sum = 0;
    if (!finite || max_abs == 0.0f) {
      scales[i] = finite ? 0.0f : std::nanf("");
      std::fill(qi, qi + ldx, static_cast<int8_t>(offset == 0 ? 0 : -128));
    } else {
      scales[i] = max_abs / 127.0f;
      const float inv = 127.0f / max_abs;
      for (int64_t c = 0; c < cols; ++c) {
        const int v = static_cast<int>(std::clamp(std::nearbyint(xi[c] * inv), -127.0f, 127.0f));
        sum += v;
        qi[c] = static_cast<int8_t>(static_cast<uint8_t>(v + offset));
      }
      std::fill(qi + cols, qi + ldx, static_cast<int8_t>(offset == 0 ? 0 : -128));
    }
    sums[i] = sum;
  }
}

}  // namespace mies::kernels
