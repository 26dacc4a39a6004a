#include "kernels/dispatch.h"

#include <atomic>
#include <cstdlib>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <string>

#include "common/logging.h"

namespace mies::kernels {
namespace {

KernelPath BestSupported() {
  if (CpuSupports(KernelPath::kAvx512)) return KernelPath::kAvx512;
  if (CpuSupports(KernelPath::kAvx2)) return KernelPath::kAvx2;
  return KernelPath::kScalar;
}

KernelPath DefaultPath() {
  const KernelPath best = BestSupported();
  const char* env = std::getenv("MIES_KERNELS");
  if (env == nullptr || *env == '\0') return best;
  StatusOr<KernelPath> forced = ParseKernelPath(env);
  if (!forced.ok()) {
    MIES_LOG_WARN("MIES_KERNELS: {}; using '{}'", forced.status().ToString(), KernelPathName(best));
    return best;
  }
  if (!CpuSupports(*forced)) {
    MIES_LOG_WARN("MIES_KERNELS={}: this CPU lacks the features; using '{}'", env,
                  KernelPathName(best));
    return best;
  }
  return *forced;
}

std::atomic<KernelPath>& PathSlot() {
  static std::atomic<KernelPath> path{DefaultPath()};
  return path;
}

}  // namespace

std::string_view KernelPathName(KernelPath path) {
  switch (path) {
    case KernelPath::kScalar:
      return "scalar";
    case KernelPath::kAvx2:
      return "avx2";
    case KernelPath::kAvx512:
      return "avx512";
  }
  return "unknown";
}

StatusOr<KernelPath> ParseKernelPath(std::string_view name) {
  for (KernelPath p : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512}) {
    if (name == KernelPathName(p)) return p;
  }
  return InvalidArgument("kernel path '", std::string(name),
                         "' is not one of 'scalar', 'avx2', 'avx512'");
}

bool CpuSupports(KernelPath path) {
  if (path == KernelPath::kScalar) return true;
#if defined(__x86_64__)
  __builtin_cpu_init();
  // F16C straight from CPUID leaf 1: clang's __builtin_cpu_supports has no "f16c" (the clang
  // fuzz build compiles this file too).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  if (path == KernelPath::kAvx2) return avx2;
  return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

bool CpuHasAvx512Bf16() {
#if defined(__x86_64__)
  static const bool has =
      CpuSupports(KernelPath::kAvx512) && __builtin_cpu_supports("avx512bf16") != 0;
  return has;
#else
  return false;
#endif
}

bool CpuHasAvx512Vnni() {
#if defined(__x86_64__)
  static const bool has =
      CpuSupports(KernelPath::kAvx512) && __builtin_cpu_supports("avx512vnni") != 0;
  return has;
#else
  return false;
#endif
}

KernelPath ActiveKernelPath() { return PathSlot().load(std::memory_order_relaxed); }

Status SetKernelPath(KernelPath path) {
  if (!CpuSupports(path)) {
    return FailedPrecondition("kernel path '", std::string(KernelPathName(path)),
                              "' needs CPU features this CPU lacks (avx2: avx2, fma, f16c; "
                              "avx512: those and avx512f, avx512bw, avx512vl, avx512dq)");
  }
  PathSlot().store(path, std::memory_order_relaxed);
  return OkStatus();
}

}  // namespace mies::kernels
