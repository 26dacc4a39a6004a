#include "kernels/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <string>

namespace mies::kernels {
namespace {

KernelPath DefaultPath() {
  const char* env = std::getenv("MIES_KERNELS");
  if (env != nullptr && std::string(env) == "scalar") return KernelPath::kScalar;
  return CpuSupports(KernelPath::kAvx2) ? KernelPath::kAvx2 : KernelPath::kScalar;
}

std::atomic<KernelPath>& PathSlot() {
  static std::atomic<KernelPath> path{DefaultPath()};
  return path;
}

}  // namespace

std::string_view KernelPathName(KernelPath path) {
  return path == KernelPath::kAvx2 ? "avx2" : "scalar";
}

bool CpuSupports(KernelPath path) {
  if (path == KernelPath::kScalar) return true;
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

KernelPath ActiveKernelPath() { return PathSlot().load(std::memory_order_relaxed); }

Status SetKernelPath(KernelPath path) {
  if (!CpuSupports(path)) {
    return FailedPrecondition("kernel path '", std::string(KernelPathName(path)),
                              "' needs CPU features (avx2, fma, f16c) this CPU lacks");
  }
  PathSlot().store(path, std::memory_order_relaxed);
  return OkStatus();
}

}  // namespace mies::kernels
