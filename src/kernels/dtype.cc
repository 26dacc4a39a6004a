#include "kernels/dtype.h"

#include <cmath>
#include <string>

#include "absl/strings/ascii.h"
#include "kernels/dispatch.h"
#include "kernels/simd_avx2.h"

namespace mies::kernels {

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    case DType::kInt8:
      return "int8";
    case DType::kInt4:
      return "int4";
  }
  return "unknown";
}

int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 2;
    case DType::kInt8:
    case DType::kInt4:
      return 1;
  }
  return 0;
}

StatusOr<DType> ParseDType(std::string_view name) {
  std::string n = absl::AsciiStrToLower(std::string(name));
  if (n == "float32" || n == "f32" || n == "fp32") return DType::kF32;
  if (n == "float16" || n == "f16" || n == "fp16") return DType::kF16;
  if (n == "bfloat16" || n == "bf16") return DType::kBF16;
  if (n == "int8") return DType::kInt8;
  if (n == "int4") return DType::kInt4;
  return InvalidArgument("unknown weight dtype '", std::string(name),
                         "': expected float32, float16, bfloat16, int8 or int4");
}

float F16ToF32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in f32.
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return (sign != 0u) ? -v : v;
  }
  if (exp == 31) return BitsToFloat(sign | 0x7f800000u | (mant << 13));
  return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t F32ToF16(float f) {
  // F. Giesen's round-to-nearest-even conversion ("float_to_half_fast3_rtne").
  uint32_t u = FloatBits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (u >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
  if (u < 0x38800000u) {
    // Subnormal or zero: adding 0.5f lines the f16 subnormal bits up with the low mantissa bits
    // and lets the FPU do the round-to-nearest-even.
    float magic = BitsToFloat(126u << 23);
    uint32_t r = FloatBits(BitsToFloat(u) + magic) - FloatBits(magic);
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t mant_odd = (u >> 13) & 1u;
  u += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu;
  u += mant_odd;
  return sign | static_cast<uint16_t>(u >> 13);
}

void ConvertF16ToF32(const uint16_t* src, int64_t n, float* dst) {
  if (Avx2Active()) return avx2::ConvertF16ToF32(src, n, dst);
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(src[i]);
}

void ConvertBF16ToF32(const uint16_t* src, int64_t n, float* dst) {
  if (Avx2Active()) return avx2::ConvertBF16ToF32(src, n, dst);
  for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToF32(src[i]);
}

void ConvertF32ToF16(const float* src, int64_t n, uint16_t* dst) {
  if (Avx2Active()) return avx2::ConvertF32ToF16(src, n, dst);
  for (int64_t i = 0; i < n; ++i) dst[i] = F32ToF16(src[i]);
}

void ConvertF32ToBF16(const float* src, int64_t n, uint16_t* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = F32ToBF16(src[i]);
}

Status QuantizeRowsInt8(const float* src, int64_t rows, int64_t cols, int8_t* dst, float* scales) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = src + r * cols;
    float max_abs = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(row[c])) {
        return InvalidArgument("int8 quantization: weight [", r, "][", c, "] = ", row[c],
                               " is not finite");
      }
      max_abs = std::fmax(max_abs, std::fabs(row[c]));
    }
    float scale = max_abs / 127.0f;
    scales[r] = scale;
    int8_t* q = dst + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      float v = scale == 0.0f ? 0.0f : std::nearbyint(row[c] / scale);
      q[c] = static_cast<int8_t>(std::fmin(127.0f, std::fmax(-127.0f, v)));
    }
  }
  return OkStatus();
}

}  // namespace mies::kernels
