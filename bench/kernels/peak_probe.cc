// Peak arithmetic probe: the machine's measured throughput of the instructions the Linear
// kernels are built on, on 1 and 2 threads (all threads at once, figures summed):
//
//   f32 FMA        vfmadd231ps zmm (AVX-512) and ymm (AVX2)   2 flops per lane
//   bf16 dot       vdpbf16ps zmm (AVX512_BF16)                 4 flops per f32 lane (2 products)
//   int8 dot       vpdpbusd zmm (AVX512_VNNI), ymm (AVX-VNNI)  8 ops per i32 lane (4 products)
//
// Each thread runs 16 independent accumulator chains (enough to cover a 4-6 cycle latency at
// 2-3 instructions per cycle); the best of several repetitions is printed, since the machine is
// shared. Two figures per thread count: wall clock (threads running at once, summed) and per CPU
// second of each thread (what a core does while it runs; preemption by other processes drops
// out, hypervisor steal does not). These are the ceilings the GEMM figures are compared with.
//
//   mies_bench_peak [repetitions, default 5]
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>
#include <vector>

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as an unused merge operand, which
// -W(maybe-)uninitialized reports at every inlined use.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

using Clock = std::chrono::steady_clock;

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}
constexpr int64_t kIters = 40'000'000;  // x 16 instructions per call: 0.1-0.4 s

// 16 named accumulators (an array would be kept in memory: GCC stores it back every iteration).
#define MIES_REP16(X) \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

// Each returns a value depending on every chain so nothing is optimized away.
__attribute__((target("avx512f"))) double FmaZmm(int64_t iters) {
  const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps(i * 1e-3f);
  MIES_REP16(DECL)
#undef DECL
  for (int64_t n = 0; n < iters; ++n) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
    MIES_REP16(STEP)
#undef STEP
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, a##i);
  MIES_REP16(SUM)
#undef SUM
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) double FmaYmm(int64_t iters) {
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps(i * 1e-3f);
  MIES_REP16(DECL)
#undef DECL
  for (int64_t n = 0; n < iters; ++n) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
    MIES_REP16(STEP)
#undef STEP
  }
  __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, a##i);
  MIES_REP16(SUM)
#undef SUM
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f,avx512bf16"))) double DotBf16Zmm(int64_t iters) {
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0
  const __m512bh y = (__m512bh)_mm512_set1_epi16(0x3380);  // 2^-24
#define DECL(i) __m512 a##i = _mm512_set1_ps(i);
  MIES_REP16(DECL)
#undef DECL
  for (int64_t n = 0; n < iters; ++n) {
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, x, y);
    MIES_REP16(STEP)
#undef STEP
  }
  __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, a##i);
  MIES_REP16(SUM)
#undef SUM
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) double DotI8Zmm(int64_t iters) {
  const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(-1);
#define DECL(i) __m512i a##i = _mm512_set1_epi32(i);
  MIES_REP16(DECL)
#undef DECL
  for (int64_t n = 0; n < iters; ++n) {
#define STEP(i) a##i = _mm512_dpbusd_epi32(a##i, x, y);
    MIES_REP16(STEP)
#undef STEP
  }
  __m512i s = _mm512_setzero_si512();
#define SUM(i) s = _mm512_add_epi32(s, a##i);
  MIES_REP16(SUM)
#undef SUM
  return static_cast<double>(_mm512_reduce_add_epi32(s));
}

__attribute__((target("avx2,avxvnni"))) double DotI8Ymm(int64_t iters) {
  const __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(-1);
#define DECL(i) __m256i a##i = _mm256_set1_epi32(i);
  MIES_REP16(DECL)
#undef DECL
  for (int64_t n = 0; n < iters; ++n) {
#define STEP(i) a##i = _mm256_dpbusd_avx_epi32(a##i, x, y);
    MIES_REP16(STEP)
#undef STEP
  }
  __m256i s = _mm256_setzero_si256();
#define SUM(i) s = _mm256_add_epi32(s, a##i);
  MIES_REP16(SUM)
#undef SUM
  return static_cast<double>(_mm256_extract_epi32(s, 0));
}

struct Probe {
  const char* name;
  const char* unit;
  double ops_per_iter;  // per call iteration: 16 instructions x ops per instruction
  double (*fn)(int64_t);
  bool supported;
};

struct Rate {
  double wall = 0, cpu = 0;  // summed over threads: ops per wall second, ops per CPU second
};

// Runs fn on `threads` threads at once (best of `reps`).
Rate Measure(const Probe& p, int threads, int reps) {
  Rate best;
  std::atomic<double> sink{0};
  for (int r = 0; r < reps; ++r) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<double> rate(static_cast<size_t>(threads)), cpu_rate(rate.size());
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        ready.fetch_add(1);
        while (!go.load()) {
        }
        auto a = Clock::now();
        const double c0 = ThreadCpuSeconds();
        double v = p.fn(kIters);
        const double c = ThreadCpuSeconds() - c0;
        double s = std::chrono::duration<double>(Clock::now() - a).count();
        rate[static_cast<size_t>(t)] = p.ops_per_iter * static_cast<double>(kIters) / s;
        cpu_rate[static_cast<size_t>(t)] = p.ops_per_iter * static_cast<double>(kIters) / c;
        sink.store(sink.load() + v);
      });
    }
    while (ready.load() != threads) {
    }
    go.store(true);
    for (auto& t : ts) t.join();
    double sum = 0, cpu_sum = 0;
    for (double x : rate) sum += x;
    for (double x : cpu_rate) cpu_sum += x;
    best.wall = std::max(best.wall, sum);
    best.cpu = std::max(best.cpu, cpu_sum);
  }
  if (sink.load() == 42.4242) std::puts("");
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const Probe probes[] = {
      {"f32 FMA zmm (vfmadd231ps)", "GFLOP/s", 16 * 32.0, FmaZmm, avx512},
      {"f32 FMA ymm (vfmadd231ps)", "GFLOP/s", 16 * 16.0, FmaYmm,
       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
      {"bf16 dot zmm (vdpbf16ps)", "GFLOP/s", 16 * 64.0, DotBf16Zmm,
       avx512 && __builtin_cpu_supports("avx512bf16")},
      {"int8 dot zmm (vpdpbusd)", "GOP/s", 16 * 128.0, DotI8Zmm,
       avx512 && __builtin_cpu_supports("avx512vnni")},
      {"int8 dot ymm (AVX-VNNI vpdpbusd)", "GOP/s", 16 * 64.0, DotI8Ymm,
       __builtin_cpu_supports("avxvnni") != 0},
  };
  std::printf("%-34s %8s %12s %12s %8s %12s %12s\n", "instruction", "unit", "1 thr wall",
              "2 thr wall", "scaling", "1 thr /cpu-s", "2 thr /cpu-s");
  for (const Probe& p : probes) {
    if (!p.supported) {
      std::printf("%-34s %8s %12s\n", p.name, p.unit, "n/a (the CPU lacks it)");
      continue;
    }
    const Rate one = Measure(p, 1, reps), two = Measure(p, 2, reps);
    std::printf("%-34s %8s %12.1f %12.1f %7.2fx %12.1f %12.1f\n", p.name, p.unit, one.wall / 1e9,
                two.wall / 1e9, two.wall / one.wall, one.cpu / 1e9, two.cpu / 1e9);
    std::fflush(stdout);
  }
  return 0;
}
