// Run-time choice between the portable scalar kernels and the AVX2/FMA/F16C ones.
//
// The AVX2 path is used when the CPU reports avx2, fma and f16c, unless the environment variable
// MIES_KERNELS=scalar forces the portable path (read once, at first use). Tests switch paths in
// process with SetKernelPath to compare both on the same inputs.
#pragma once

#include <string_view>

#include "common/status.h"

namespace mies::kernels {

enum class KernelPath { kScalar, kAvx2 };

std::string_view KernelPathName(KernelPath path);
// Whether this CPU can run the given path (kScalar always can).
bool CpuSupports(KernelPath path);
// The path every kernel call uses now.
KernelPath ActiveKernelPath();
// Selects the path for all later calls (not thread-safe against running kernels; meant for
// tests and start-up). FailedPrecondition if the CPU lacks the features.
Status SetKernelPath(KernelPath path);

}  // namespace mies::kernels
