// AVX512_BF16 GEMM: bf16 weights × bf16-rounded activations, f32 sums (vdpbf16ps), for the
// m > 1 calls of weights with Activations::kReduced (prefill, batched decode). Shape contract and
// tiling: dot_gemm_avx512.h; entry points: simd_dot_avx512.h.
//
// One vdpbf16ps multiplies 32 bf16 pairs into 16 f32 lanes (each lane adds two exact products to
// its sum), twice the arithmetic of an f32 FMA per instruction: no conversion of W in registers
// (the f32 kernels widen every bf16 weight first) and half the bytes of x per element.
#include <immintrin.h>

#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/simd_dot_avx512.h"

#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge operand, which
// -Wmaybe-uninitialized reports at every inlined use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/dot_gemm_avx512.h"

namespace mies::kernels::avx512dot {
namespace {

struct Bf16Dot {
  using XT = uint16_t;
  using WT = uint16_t;
  using Acc = __m512;
  using WVec = __m512i;
  struct Ctx {};
  static constexpr int64_t kStep = 32;
  static Acc Zero() { return _mm512_setzero_ps(); }
  static WVec LoadW(const uint16_t* p) { return _mm512_loadu_si512(p); }
  static WVec LoadWMasked(const uint16_t* p, int64_t n) {
    return _mm512_maskz_loadu_epi16(static_cast<__mmask32>((uint64_t{1} << n) - 1), p);
  }
  static Acc Dot(Acc a, __m512i x, WVec w) {
    return _mm512_dpbf16_ps(a, reinterpret_cast<__m512bh>(x), reinterpret_cast<__m512bh>(w));
  }
  static __m128 Finish(Acc a, Acc b, Acc c, Acc d, int64_t /*i*/, const Ctx& /*ctx*/) {
    return Reduce4(a, b, c, d);
  }
  static __m128 Sum4(Acc a, Acc b, Acc c, Acc d) { return Reduce4(a, b, c, d); }
  static float Final(float v, int64_t /*i*/, const Ctx& /*ctx*/) { return v; }
};

}  // namespace

void GemmBf16Rows(const uint16_t* xb, int64_t ldx, int64_t m, const WeightView& w,
                  const float* bias, int64_t r0, int64_t r1, float* y) {
  if (m > kSmallM) return DotGemmRowsLarge<Bf16Dot, 6, 4>(xb, ldx, m, {}, w, bias, r0, r1, y);
  DotGemmRows<Bf16Dot, 6, 4>(xb, ldx, m, {}, w, bias, r0, r1, y);
}

void RoundRowsToBf16(const float* x, int64_t m, int64_t cols, int64_t ldx, uint16_t* out) {
  const __m512i qnan_bit = _mm512_set1_epi32(0x40), abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000), bias = _mm512_set1_epi32(0x7fff);
  const __m512i one = _mm512_set1_epi32(1);
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * cols;
    uint16_t* oi = out + i * ldx;
    for (int64_t c = 0; c < ldx; c += 16) {
      const int64_t n = std::min<int64_t>(16, std::max<int64_t>(0, cols - c));
      const __mmask16 k = static_cast<__mmask16>((1u << n) - 1u);
      const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(k, xi + c));
      // F32ToBF16: round to nearest even; NaN keeps its top bits and gets the quiet bit.
      const __m512i rounded = _mm512_srli_epi32(
          _mm512_add_epi32(u,
                           _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(u, 16), one))),
          16);
      const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
      const __m512i h = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), qnan_bit);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(oi + c), _mm512_cvtepi32_epi16(h));
    }
  }
}

}  // namespace mies::kernels::avx512dot
