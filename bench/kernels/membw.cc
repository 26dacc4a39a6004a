// Memory read-bandwidth probe: sums a large buffer (far beyond the caches) with 1 and 2 threads
// and prints the best GB/s of several passes. The decode GEMV targets are stated against these
// figures. Usage: mies_bench_membw [MiB per pass, default 1024] [passes, default 5]
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
    case 1: return SumAvx2<1>(p, n);
    case 4: return SumAvx2<4>(p, n);
    default: return SumAvx2<8>(p, n);
  }
}

double PassGBs(const float* buf, size_t n, int threads, int streams) {
  std::vector<std::thread> ts;
  std::vector<float> sink(threads);
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      size_t b = n / threads * t, e = n / threads * (t + 1);
      sink[t] = Sum(streams, buf + b, e - b);
    });
  }
  for (auto& t : ts) t.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float keep = sink[0];
  (void)keep;
  return static_cast<double>(n) * sizeof(float) / s / 1e9;
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
  for (size_t i = 0; i < n; ++i) raw[i] = static_cast<float>(i & 1023);
  if (!__builtin_cpu_supports("avx2")) {
    std::fprintf(stderr, "needs AVX2\n");
    return 1;
  }
  for (int threads : {1, 2}) {
    for (int streams : {1, 4, 8}) {
      double best = 0;
      for (int p = 0; p < passes; ++p) best = std::max(best, PassGBs(raw, n, threads, streams));
      std::printf("read bandwidth, %d thread%s, %d stream%s per thread, %zu MiB buffer: %.1f GB/s\n",
                  threads, threads == 1 ? "" : "s", streams, streams == 1 ? "" : "s", mib, best);
    }
  }
  return 0;
}
