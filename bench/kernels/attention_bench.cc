// PagedAttention at TinyLlama-1.1B head layout (32 query heads, 4 kv heads, head_dim 64, blocks
// of 16 tokens): decode (1 new token over a context of `ctx`) and prefill (`n_new` tokens from
// position 0). Counter: GFLOP/s of the QKᵀ and PV products (4·head_dim per query-key pair).
// Args: n_new, ctx (positions before the new tokens), threads.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/attention.h"

namespace mies::kernels {
namespace {

void BM_PagedAttention(benchmark::State& state) {
  const int64_t n_new = state.range(0), start = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const int64_t heads = 32, kv_heads = 4, hd = 64, bs = 16;
  const int64_t total = start + n_new, blocks = (total + bs - 1) / bs;
  std::vector<int32_t> table(blocks);
  std::iota(table.rbegin(), table.rend(), 0);  // reversed: blocks not in position order
  std::vector<float> k(blocks * bs * kv_heads * hd), v(k.size());
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = std::sin(0.1f * static_cast<float>(i));
    v[i] = std::cos(0.07f * static_cast<float>(i));
  }
  std::vector<float> q(n_new * heads * hd, 0.05f), out(q.size());
  ThreadPool pool(threads);
  for (auto _ : state) {
    PagedAttention(q.data(), n_new, start, k.data(), v.data(), table, bs, heads, kv_heads, hd,
                   0.125f, out.data(), pool);
    benchmark::DoNotOptimize(out.data());
  }
  // Query i sees start + i + 1 keys.
  const double pairs = static_cast<double>(n_new) * start + n_new * (n_new + 1) / 2.0;
  state.counters["GFLOP/s"] = benchmark::Counter(pairs * heads * 4.0 * hd / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_PagedAttention)
    ->ArgNames({"n_new", "ctx", "threads"})
    ->Args({1, 512, 1})
    ->Args({1, 2048, 1})
    ->Args({1, 2048, 2})
    ->Args({512, 0, 1})
    ->Args({512, 0, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mies::kernels

BENCHMARK_MAIN();
