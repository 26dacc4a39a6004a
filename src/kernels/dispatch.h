// Run-time choice of the kernel path: portable scalar, AVX2/FMA/F16C, or AVX-512.
//
// The default is the best path the CPU (and the OS: __builtin_cpu_supports checks that XSAVE
// enables the AVX/AVX-512 register state) supports: avx512 when it reports avx512f/bw/vl/dq
// plus the AVX2 set, else avx2 when it reports avx2, fma and f16c, else scalar. The environment
// variable MIES_KERNELS=scalar|avx2|avx512 forces a path (read once, at first use); a path the
// CPU lacks falls back to the best supported one with a warning. Tests switch paths in process
// with SetKernelPath to compare them on the same inputs.
//
// The avx512 path uses AVX-512 for Linear (GEMV and small-batch GEMM) and the AVX2 kernels for
// everything else (norms, attention, conversions), so it implies the avx2 path's features.
//
// Dot-product extensions of the avx512 path, each checked on its own at run time: AVX512_BF16
// (vdpbf16ps: the bf16 GEMM) and AVX512_VNNI (vpdpbusd: the W8A8 GEMM and the int4 kernels). On
// the avx512 path without them, and on the avx2 and scalar paths, the same arithmetic runs on the
// portable or f32 kernels (activations rounded the same way), so results agree across paths.
#pragma once

#include <string_view>

#include "common/status.h"

namespace mies::kernels {

// Ordered: a path implies the features of every path before it.
enum class KernelPath { kScalar, kAvx2, kAvx512 };

std::string_view KernelPathName(KernelPath path);
// Whether this CPU can run the given path (kScalar always can).
bool CpuSupports(KernelPath path);
// The path every kernel call uses now.
KernelPath ActiveKernelPath();
// Whether the active path may use the AVX2/FMA/F16C kernels (avx2 and avx512 paths).
inline bool Avx2Active() { return ActiveKernelPath() >= KernelPath::kAvx2; }
// Whether the CPU (and OS) has AVX512_BF16 / AVX512_VNNI next to the avx512 path's features.
bool CpuHasAvx512Bf16();
bool CpuHasAvx512Vnni();
// Whether the active path uses them: the avx512 path is active and the CPU has the extension.
inline bool Bf16DotActive() {
  return ActiveKernelPath() == KernelPath::kAvx512 && CpuHasAvx512Bf16();
}
inline bool VnniActive() { return ActiveKernelPath() == KernelPath::kAvx512 && CpuHasAvx512Vnni(); }
// Selects the path for all later calls (not thread-safe against running kernels; meant for
// tests and start-up). FailedPrecondition if the CPU lacks the features.
Status SetKernelPath(KernelPath path);
// "scalar", "avx2" or "avx512" (case-sensitive); anything else is InvalidArgument naming it.
StatusOr<KernelPath> ParseKernelPath(std::string_view name);

}  // namespace mies::kernels
