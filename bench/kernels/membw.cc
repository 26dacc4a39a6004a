// Memory read-bandwidth probe: sums a large buffer (far beyond the caches) with 1 and 2 threads
// and prints GB/s (best, p90 and median 16 MiB chunk). The decode GEMV targets are stated against
// these figures. Usage: mies_bench_membw [MiB per pass, default 1024] [passes, default 5]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "common/thread_pool.h"

namespace {

// Sums `streams` equal, far-apart parts of [p, p+n) concurrently (interleaved 64-byte steps),
// eight independent 256-bit add chains, so the loads, not the adds, limit the speed. One stream
// is a plain sequential read; several streams is how a GEMV tile reads its W rows, and gives the
// hardware prefetchers more to work with.
template <int kStreams>
__attribute__((target("avx2"))) float SumAvx2(const float* p, size_t n) {
  __m256 a[8];
  for (auto& v : a) v = _mm256_setzero_ps();
  const size_t part = n / kStreams;
  for (size_t i = 0; i + 64 <= part; i += 64) {
    for (int s = 0; s < kStreams; ++s) {
      const float* q = p + s * part + i;
      for (int j = 0; j < 8; ++j) a[j] = _mm256_add_ps(a[j], _mm256_load_ps(q + 8 * j));
    }
  }
  for (int j = 1; j < 8; ++j) a[0] = _mm256_add_ps(a[0], a[j]);
  float out[8];
  _mm256_storeu_ps(out, a[0]);
  float s = 0;
  for (float f : out) s += f;
  return s;
}

float Sum(int streams, const float* p, size_t n) {
  switch (streams) {
    case 1:
      return SumAvx2<1>(p, n);
    case 4:
      return SumAvx2<4>(p, n);
    default:
      return SumAvx2<8>(p, n);
  }
}

// Reads the buffer in 16 MiB chunks, each split over the pool's threads, and returns the per-chunk
// rates (GB/s). The VM shares its 2 cores with other work: a whole-buffer timing mixes in
// preemptions, while the fastest chunks show what the memory delivers to an unpreempted reader,
// which is what the GEMV benchmark's best_GB/s is compared with.
std::vector<double> ChunkRates(const float* buf, size_t n, mies::ThreadPool& pool, int streams) {
  const size_t chunk = (16u << 20) / sizeof(float);
  std::vector<double> rates;
  std::vector<float> sink(pool.size());
  for (size_t c0 = 0; c0 + chunk <= n; c0 += chunk) {
    auto t0 = std::chrono::steady_clock::now();
    pool.ParallelFor(pool.size(), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        size_t part = chunk / pool.size();
        sink[t] = Sum(streams, buf + c0 + part * t, part);
      }
    });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(chunk) * sizeof(float) / s / 1e9);
  }
  volatile float keep = sink[0];
  (void)keep;
  return rates;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
  int passes = argc > 2 ? std::atoi(argv[2]) : 5;
  if (mib < 64 || passes < 1) {
    std::fprintf(stderr, "usage: %s [MiB >= 64] [passes >= 1]\n", argv[0]);
    return 2;
  }
  size_t n = mib * (1u << 20) / sizeof(float);
  n -= n % (64 * 8 * 2);
  auto* raw = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (raw == nullptr) {
    std::fprintf(stderr, "cannot allocate %zu MiB\n", mib);
    return 1;
  }
  std::unique_ptr<float, decltype(&std::free)> buf(raw, &std::free);
  // Distinct pseudo-random contents: a repeating pattern makes identical pages, which a host
  // may merge into one physical page, and then the "DRAM" reads hit the cache.
  uint32_t state = 2463534242u;
  for (size_t i = 0; i < n; ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    raw[i] = static_cast<float>(state >> 8);
  }
  if (!__builtin_cpu_supports("avx2")) {
    std::fprintf(stderr, "needs AVX2\n");
    return 1;
  }
  for (int threads : {1, 2}) {
    mies::ThreadPool pool(threads);
    for (int streams : {1, 4, 8}) {
      std::vector<double> rates;
      for (int p = 0; p < passes; ++p) {
        std::vector<double> r = ChunkRates(raw, n, pool, streams);
        rates.insert(rates.end(), r.begin(), r.end());
      }
      std::sort(rates.begin(), rates.end());
      std::printf(
          "read bandwidth, %d thread%s, %d stream%s per thread, %zu MiB buffer: "
          "best %.1f GB/s, p90 %.1f GB/s, median %.1f GB/s\n",
          threads, threads == 1 ? "" : "s", streams, streams == 1 ? "" : "s", mib, rates.back(),
          rates[rates.size() * 9 / 10], rates[rates.size() / 2]);
    }
  }
  return 0;
}
