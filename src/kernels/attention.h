// Causal multi-head attention with grouped KV heads over a paged KV cache.
//
// Shape contract
//   k_cache, v_cache  [num_blocks][block_size][n_kv_heads][head_dim] float32 (one layer)
//   block_table       block ids of one sequence: logical position p lives in block
//                     block_table[p / block_size], slot p % block_size
//   q, out            [n_new][n_heads][head_dim]; query i sits at position start_pos + i and
//                     attends to positions 0 .. start_pos + i (their K/V already written), or
//                     with a sliding window W > 0 to the last W of them (start_pos + i - W + 1
//                     .. start_pos + i, as Mistral's sliding_window)
//   GQA               query head h reads kv head h / (n_heads / n_kv_heads); n_heads must be a
//                     multiple of n_kv_heads
//   out must not overlap q.
// Online softmax (running max and sum, rescaled as the max grows), so long sequences and large
// logits neither overflow nor need a [seq] scratch row.
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"
#include "common/thread_pool.h"

namespace mies::kernels {

// Copies the K and V rows of n_new tokens at positions start_pos .. start_pos+n_new-1
// (k, v: [n_new][n_kv_heads][head_dim]) into their cache slots; v == nullptr writes K only (a
// latent cache, which has no V). Checks the table (long enough,
// ids in [0, num_blocks)) and the shapes, returning InvalidArgument naming the offending value
// before writing anything.
Status WriteKv(const float* k, const float* v, int64_t n_new, int64_t start_pos,
               std::span<const int32_t> block_table, int64_t block_size, int64_t num_blocks,
               int64_t n_kv_heads, int64_t head_dim, float* k_cache, float* v_cache);

// Attention of n_new queries of one sequence (see the contract above); scale is usually
// 1/sqrt(head_dim). Preconditions, not re-checked on this hot path: shapes positive,
// n_heads % n_kv_heads == 0, block_table covers positions up to start_pos + n_new - 1 with
// valid ids (as WriteKv checked). Work is split over (query, kv head) pairs.
void PagedAttention(const float* q, int64_t n_new, int64_t start_pos, const float* k_cache,
                    const float* v_cache, std::span<const int32_t> block_table, int64_t block_size,
                    int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float scale, float* out,
                    ThreadPool& pool, int64_t window = 0);

// Multi-head latent attention in its absorbed form (DeepSeek MLA decode): every head attends over
// one shared latent row per position, cache [num_blocks][block_size][k_dim], with queries
// q [n_new][n_heads][k_dim] (the latent-space query and the rotary part) and values the first
// v_dim floats of the same rows (the normalized latent); out [n_new][n_heads][v_dim]. The same
// causal rule and online softmax as PagedAttention.
void PagedLatentAttention(const float* q, int64_t n_new, int64_t start_pos, const float* cache,
                          std::span<const int32_t> block_table, int64_t block_size, int64_t n_heads,
                          int64_t k_dim, int64_t v_dim, float scale, float* out, ThreadPool& pool);

}  // namespace mies::kernels
