// AVX512_VNNI GEMM: int8 weights (per-row scales) × int8 activations quantized per row (W8A8),
// exact int32 sums (vpdpbusd), for the m > 1 calls of int8 weights with Activations::kReduced.
// Shape contract and tiling: dot_gemm_avx512.h; entry points: simd_dot_avx512.h.
//
// vpdpbusd multiplies unsigned by signed bytes, 4 products per int32 lane (64 per instruction,
// 4x an f32 FMA). W is the unsigned side: w + 128 (a flip of the sign bit, once per W vector
// for the whole tile), so Σ (q_w + 128)·q_x = Σ q_w·q_x + 128·Σ q_x, and the last term comes from
// the row sum the quantizer already computed. Sums stay exact in int32 for cols < 66,000.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/simd_dot_avx512.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/dot_gemm_avx512.h"

namespace mies::kernels::avx512dot {
namespace {

struct W8A8Dot {
  using XT = int8_t;
  using WT = int8_t;
  using Acc = __m512i;
  using WVec = __m512i;
  struct Ctx {
    const float* sx;
    const int32_t* xsum;
  };
  static constexpr int64_t kStep = 64;
  static Acc Zero() { return _mm512_setzero_si512(); }
  static WVec LoadW(const int8_t* p) {
    return _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  static WVec LoadWMasked(const int8_t* p, int64_t n) {
    const __mmask64 k = n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
    return _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, p),
                            _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  static Acc Dot(Acc a, __m512i x, WVec w) { return _mm512_dpbusd_epi32(a, w, x); }
  static __m128 Finish(Acc a, Acc b, Acc c, Acc d, int64_t i, const Ctx& ctx) {
    const __m128i s = _mm_sub_epi32(Reduce4I(a, b, c, d), _mm_set1_epi32(128 * ctx.xsum[i]));
    return _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_set1_ps(ctx.sx[i]));
  }
  // Large-m form: a k block's sums as f32 (exact below 2^24, ~6e-8 relative above), the offset
  // and scale once at the end.
  static __m128 Sum4(Acc a, Acc b, Acc c, Acc d) { return _mm_cvtepi32_ps(Reduce4I(a, b, c, d)); }
  static float Final(float v, int64_t i, const Ctx& ctx) {
    return (v - 128.0f * static_cast<float>(ctx.xsum[i])) * ctx.sx[i];
  }
};

}  // namespace

void GemmW8A8Rows(const int8_t* xq, int64_t ldx, int64_t m, const float* sx, const int32_t* xsum,
                  const WeightView& w, const float* bias, int64_t r0, int64_t r1, float* y) {
  if (m > kSmallM) {
    return DotGemmRowsLarge<W8A8Dot, 6, 4>(xq, ldx, m, {sx, xsum}, w, bias, r0, r1, y);
  }
  DotGemmRows<W8A8Dot, 6, 4>(xq, ldx, m, {sx, xsum}, w, bias, r0, r1, y);
}

void QuantizeRowsInt8(const float* x, int64_t m, int64_t cols, int64_t ldx, bool u8_offset,
                      int8_t* q, float* scales, int32_t* sums) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(u8_offset ? 0x80 : 0));
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * cols;
    int8_t* qi = q + i * ldx;
    __m512 amax = _mm512_setzero_ps();
    __mmask16 nan = 0;  // max_ps drops a NaN in its first operand, so NaNs are tracked apart
    for (int64_t c = 0; c < cols; c += 16) {
      const int64_t n = std::min<int64_t>(16, cols - c);
      const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), xi + c);
      nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      amax = _mm512_max_ps(amax, _mm512_and_ps(v, abs_mask));
    }
    const float max_abs = _mm512_reduce_max_ps(amax);
    const bool finite = nan == 0 && std::isfinite(max_abs);
    if (!finite || max_abs == 0.0f) {
      // Zero row: q = 0, scale 0. Non-finite row: q = 0 and a NaN scale, so its outputs are NaN.
      scales[i] = finite ? 0.0f : std::nanf("");
      sums[i] = 0;
      for (int64_t j = 0; j < ldx; ++j) qi[j] = static_cast<int8_t>(u8_offset ? -128 : 0);
      continue;
    }
    scales[i] = max_abs / 127.0f;
    const __m512 inv = _mm512_set1_ps(127.0f / max_abs);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t c = 0; c < ldx; c += 16) {
      const int64_t n = std::min<int64_t>(16, std::max<int64_t>(0, cols - c));
      const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), xi + c);
      __m512i qv = _mm512_cvtps_epi32(_mm512_mul_ps(v, inv));  // round to nearest even
      qv = _mm512_min_epi32(hi, _mm512_max_epi32(lo, qv));
      sum = _mm512_add_epi32(sum, qv);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qi + c),
                       _mm_xor_si128(_mm512_cvtepi32_epi8(qv), _mm512_castsi512_si128(offset)));
    }
    sums[i] = _mm512_reduce_add_epi32(sum);
  }
}

}  // namespace mies::kernels::avx512dot
