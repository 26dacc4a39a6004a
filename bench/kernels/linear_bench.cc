// Linear (y = x·Wᵀ) benchmarks at TinyLlama-1.1B shapes for every weight dtype, 1 and 2 threads.
//
// Counters: GB/s = weight bytes streamed per call / time (the figure that bounds decode);
// GFLOP/s = 2·m·rows·cols / time. Decode weights are never cache-resident in a real model (a
// token walks through ~1 GB of them), so each iteration uses the next of several copies of W
// totalling >= 256 MiB (measured here: 32 MiB of copies still partly hit the L3, 64 MiB no longer
// do): the numbers are from DRAM, not from the 1 MiB L2 or the L3. Args: dtype, rows, cols, m,
// threads. OpenBLAS sgemv/sgemm runs on the same f32 shapes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/dtype.h"
#include "kernels/matmul.h"

#ifdef MIES_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace mies::kernels {
namespace {

constexpr int64_t kRotationBytes = 256ll << 20;

// 64-byte aligned like the model's weight buffers (model/weights.h AlignedBuffer): with malloc's
// 16-byte alignment every 64-byte vector load would straddle two cache lines.
struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, FreeDeleter>;

struct WeightCopies {
  DType dtype;
  int64_t rows, cols;
  std::vector<AlignedBytes> data;
  std::vector<float> scales;
  int64_t Bytes() const { return rows * cols * DTypeSize(dtype); }
  WeightView View(size_t i) const {
    return {dtype, rows, cols, data[i % data.size()].get(),
            dtype == DType::kInt8 ? scales.data() : nullptr};
  }
};

WeightCopies MakeCopies(DType dtype, int64_t rows, int64_t cols) {
  WeightCopies w{dtype, rows, cols, {}, std::vector<float>(rows, 0.01f)};
  int64_t copies = std::max<int64_t>(2, kRotationBytes / w.Bytes() + 1);
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (int64_t c = 0; c < copies; ++c) {
    const size_t bytes = static_cast<size_t>(w.Bytes());
    AlignedBytes buf(static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
    if (buf == nullptr) std::abort();
    // Cheap pseudo-random fill (xorshift), masked so no dtype holds NaN/Inf or huge values.
    uint64_t mask = dtype == DType::kF32    ? 0x3dffffff3dffffffull
                    : dtype == DType::kInt8 ? ~0ull
                                            : 0x3bff3bff3bff3bffull;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      uint64_t v = state & mask;
      std::memcpy(buf.get() + i, &v, 8);
    }
    w.data.push_back(std::move(buf));
  }
  return w;
}

const DType kDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kInt8};

// Times each call itself as well: on a shared 2-core machine, other processes preempt some calls,
// which drags the mean (the framework's GB/s) down. best_* is the fastest call (an uncontended
// run; every call reads fresh W from DRAM, so no call can be faster than the memory allows) and
// p50_* the median call.
class CallTimes {
 public:
  CallTimes() { cpu0_ = ProcessCpuSeconds(); }
  void Start() { t0_ = std::chrono::steady_clock::now(); }
  void Stop() {
    times_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  void Report(benchmark::State& state, int64_t bytes, int64_t m, int64_t rows, int64_t cols) {
    const double flops = 2.0 * m * rows * cols;
    state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes) / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
    if (times_.empty()) return;
    // Per second of CPU time used by the process (all pool threads): with 1 thread, the rate of
    // an unpreempted run even when the machine is busy; for compute-bound (large m) cases.
    const double cpu = ProcessCpuSeconds() - cpu0_;
    state.counters["cpu_GFLOP/s"] = flops * static_cast<double>(times_.size()) / cpu / 1e9;
    std::sort(times_.begin(), times_.end());
    const double best = times_.front(), p50 = times_[times_.size() / 2];
    state.counters["best_GB/s"] = static_cast<double>(bytes) / best / 1e9;
    state.counters["p50_GB/s"] = static_cast<double>(bytes) / p50 / 1e9;
    state.counters["best_GFLOP/s"] = flops / best / 1e9;
    state.counters["best_us"] = best * 1e6;
  }

 private:
  static double ProcessCpuSeconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  double cpu0_ = 0;
  std::chrono::steady_clock::time_point t0_;
  std::vector<double> times_;
};

void BM_Linear(benchmark::State& state) {
  const DType dtype = kDTypes[state.range(0)];
  const int64_t rows = state.range(1), cols = state.range(2), m = state.range(3);
  const int threads = static_cast<int>(state.range(4));
  WeightCopies w = MakeCopies(dtype, rows, cols);
  std::vector<float> x(m * cols, 0.5f), y(m * rows);
  ThreadPool pool(threads);
  size_t i = 0;
  CallTimes times;
  for (auto _ : state) {
    times.Start();
    Linear(x.data(), m, w.View(i++), nullptr, y.data(), pool);
    times.Stop();
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(std::string(DTypeName(dtype)));
  times.Report(state, w.Bytes(), m, rows, cols);
}

#ifdef MIES_BENCH_HAVE_OPENBLAS
void BM_OpenBlas(benchmark::State& state) {
  const int64_t rows = state.range(1), cols = state.range(2), m = state.range(3);
  openblas_set_num_threads(static_cast<int>(state.range(4)));
  WeightCopies w = MakeCopies(DType::kF32, rows, cols);
  std::vector<float> x(m * cols, 0.5f), y(m * rows);
  size_t i = 0;
  CallTimes times;
  for (auto _ : state) {
    times.Start();
    const auto* wp = static_cast<const float*>(w.View(i++).data);
    if (m == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, wp, cols, x.data(), 1, 0.0f,
                  y.data(), 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, rows, cols, 1.0f, x.data(), cols, wp,
                  cols, 0.0f, y.data(), rows);
    }
    times.Stop();
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(m == 1 ? "openblas sgemv" : "openblas sgemm");
  times.Report(state, w.Bytes(), m, rows, cols);
}
#endif

// TinyLlama-1.1B: q/o proj, k/v proj (4 kv heads × 64), gate/up, down, lm_head.
const std::vector<std::pair<int64_t, int64_t>> kShapes = {
    {2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}};

void LinearArgs(benchmark::internal::Benchmark* b, bool all_dtypes) {
  b->ArgNames({"dtype", "rows", "cols", "m", "threads"});
  for (int64_t d = 0; d < (all_dtypes ? 4 : 1); ++d) {
    for (auto [rows, cols] : kShapes) {
      for (int64_t m : {1, 4, 16, 32, 128, 512}) {
        // Large-m runs are compute-bound: one representative shape keeps the suite short.
        if (m >= 128 && !(rows == 5632 && cols == 2048)) continue;
        if (m == 512 && rows != 5632) continue;
        for (int64_t t : {1, 2}) b->Args({d, rows, cols, m, t});
      }
    }
  }
  b->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.3);
}

BENCHMARK(BM_Linear)->Apply([](auto* b) { LinearArgs(b, true); });
#ifdef MIES_BENCH_HAVE_OPENBLAS
BENCHMARK(BM_OpenBlas)->Apply([](auto* b) { LinearArgs(b, false); });
#endif

}  // namespace
}  // namespace mies::kernels

BENCHMARK_MAIN();
