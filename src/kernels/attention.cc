#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/simd_avx2.h"

namespace mies::kernels {
namespace {

float DotScalar(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}
void AxpyScalar(float a, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void ScaleScalar(float a, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

float ExpShiftSumScalar(float* s, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += (s[i] = std::exp(s[i] - shift));
  return sum;
}

struct VecOps {
  float (*dot)(const float*, const float*, int64_t);
  void (*axpy)(float, const float*, int64_t, float*);
  void (*scale)(float, int64_t, float*);
  float (*exp_shift_sum)(float*, int64_t, float);
};

// Key positions handled per softmax update: scores of a chunk are computed first, so the running
// max/rescale happens once per chunk and the exps are vectorized.
constexpr int64_t kChunk = 64;

}  // namespace

Status WriteKv(const float* k, const float* v, int64_t n_new, int64_t start_pos,
               std::span<const int32_t> block_table, int64_t block_size, int64_t num_blocks,
               int64_t n_kv_heads, int64_t head_dim, float* k_cache, float* v_cache) {
  if (n_new < 0 || start_pos < 0) {
    return InvalidArgument("WriteKv: n_new ", n_new, " and start_pos ", start_pos,
                           " must be non-negative");
  }
  if (block_size <= 0 || num_blocks <= 0 || n_kv_heads <= 0 || head_dim <= 0) {
    return InvalidArgument("WriteKv: block_size ", block_size, ", num_blocks ", num_blocks,
                           ", n_kv_heads ", n_kv_heads, ", head_dim ", head_dim,
                           " must all be positive");
  }
  if (n_new == 0) return OkStatus();
  const int64_t last_block = (start_pos + n_new - 1) / block_size;
  if (last_block >= static_cast<int64_t>(block_table.size())) {
    return InvalidArgument("WriteKv: position ", start_pos + n_new - 1, " needs block index ",
                           last_block, " but the block table has ", block_table.size(), " entries");
  }
  for (int64_t b = start_pos / block_size; b <= last_block; ++b) {
    if (block_table[b] < 0 || block_table[b] >= num_blocks) {
      return InvalidArgument("WriteKv: block table entry ", b, " = ", block_table[b],
                             " is outside [0, ", num_blocks, ")");
    }
  }
  const int64_t row = n_kv_heads * head_dim;
  for (int64_t i = 0; i < n_new; ++i) {
    int64_t pos = start_pos + i;
    int64_t slot =
        static_cast<int64_t>(block_table[pos / block_size]) * block_size + pos % block_size;
    std::memcpy(k_cache + slot * row, k + i * row, static_cast<size_t>(row) * sizeof(float));
    if (v != nullptr) {
      std::memcpy(v_cache + slot * row, v + i * row, static_cast<size_t>(row) * sizeof(float));
    }
  }
  return OkStatus();
}

namespace {

// Where the keys and values of one cache slot live and how wide they are; q rows are k_dim wide,
// out rows v_dim wide.
struct KvLayout {
  const float* k;
  const float* v;
  int64_t k_row, v_row;    // floats per slot (all kv heads)
  int64_t k_dim, v_dim;    // floats per head
  int64_t k_head, v_head;  // offset between kv heads
};

// The online-softmax loop shared by the standard and the latent layouts.
void Attend(const float* q, int64_t n_new, int64_t start_pos, const KvLayout& kv,
            std::span<const int32_t> block_table, int64_t block_size, int64_t n_heads,
            int64_t n_kv_heads, float scale, float* out, ThreadPool& pool, int64_t window) {
  if (n_new <= 0) return;
  const VecOps ops = Avx2Active() ? VecOps{avx2::Dot, avx2::Axpy, avx2::Scale, avx2::ExpShiftSum}
                                  : VecOps{DotScalar, AxpyScalar, ScaleScalar, ExpShiftSumScalar};
  const int64_t group = n_heads / n_kv_heads;
  // One task = one query token × one kv head, covering the `group` query heads that share it,
  // so each chunk of K/V rows is fetched once and reused from L1 by the whole group.
  pool.ParallelFor(n_new * n_kv_heads, [&](int64_t t0, int64_t t1) {
    std::vector<float> running_max(group), running_sum(group), scores(kChunk);
    const float* k_rows[kChunk];
    const float* v_rows[kChunk];
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t i = task / n_kv_heads;
      const int64_t kvh = task % n_kv_heads;
      const int64_t h0 = kvh * group;
      const float* qi = q + (i * n_heads + h0) * kv.k_dim;
      float* oi = out + (i * n_heads + h0) * kv.v_dim;
      for (int64_t g = 0; g < group; ++g) {
        running_max[g] = -INFINITY;
        running_sum[g] = 0.0f;
        std::fill(oi + g * kv.v_dim, oi + (g + 1) * kv.v_dim, 0.0f);
      }
      const int64_t n_pos = start_pos + i + 1;
      const int64_t first = window > 0 ? std::max<int64_t>(0, n_pos - window) : 0;
      for (int64_t p0 = first; p0 < n_pos; p0 += kChunk) {
        const int64_t nc = std::min(kChunk, n_pos - p0);
        for (int64_t j = 0; j < nc; ++j) {
          const int64_t pos = p0 + j;
          const int64_t slot =
              static_cast<int64_t>(block_table[pos / block_size]) * block_size + pos % block_size;
          k_rows[j] = kv.k + slot * kv.k_row + kvh * kv.k_head;
          v_rows[j] = kv.v + slot * kv.v_row + kvh * kv.v_head;
        }
        for (int64_t g = 0; g < group; ++g) {
          const float* qg = qi + g * kv.k_dim;
          float* acc = oi + g * kv.v_dim;
          float chunk_max = -INFINITY;
          for (int64_t j = 0; j < nc; ++j) {
            scores[j] = ops.dot(qg, k_rows[j], kv.k_dim) * scale;
            chunk_max = std::fmax(chunk_max, scores[j]);
          }
          if (chunk_max > running_max[g]) {
            // New maximum: rescale what was accumulated under the old one (exp(-inf) = 0 on
            // the first chunk, when nothing was accumulated yet).
            const float corr = std::exp(running_max[g] - chunk_max);
            running_sum[g] *= corr;
            ops.scale(corr, kv.v_dim, acc);
            running_max[g] = chunk_max;
          }
          running_sum[g] += ops.exp_shift_sum(scores.data(), nc, running_max[g]);
          for (int64_t j = 0; j < nc; ++j) ops.axpy(scores[j], v_rows[j], kv.v_dim, acc);
        }
      }
      for (int64_t g = 0; g < group; ++g) {
        ops.scale(1.0f / running_sum[g], kv.v_dim, oi + g * kv.v_dim);
      }
    }
  });
}

}  // namespace

void PagedAttention(const float* q, int64_t n_new, int64_t start_pos, const float* k_cache,
                    const float* v_cache, std::span<const int32_t> block_table, int64_t block_size,
                    int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                    ThreadPool& pool, int64_t window) {
  const int64_t row = n_kv_heads * head_dim;
  const KvLayout kv{k_cache, v_cache, row, row, head_dim, head_dim, head_dim, head_dim};
  Attend(q, n_new, start_pos, kv, block_table, block_size, n_heads, n_kv_heads, scale, out, pool,
         window);
}

void PagedLatentAttention(const float* q, int64_t n_new, int64_t start_pos, const float* cache,
                          std::span<const int32_t> block_table, int64_t block_size, int64_t n_heads,
                          int64_t k_dim, int64_t v_dim, float scale, float* out, ThreadPool& pool) {
  const KvLayout kv{cache, cache, k_dim, k_dim, k_dim, v_dim, 0, 0};
  Attend(q, n_new, start_pos, kv, block_table, block_size, n_heads, 1, scale, out, pool, 0);
}

}  // namespace mies::kernels
