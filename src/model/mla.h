// Multi-head latent attention (DeepSeek V2/V3) of one layer on one rank, in the absorbed form
// for prefill and decode alike (hf_config.h MlaConfig, weights.h MlaWeights):
//
//   q       = q_b(rms(q_a(h))) or q_proj(h)           [T][Hl][nope + rope]
//   latent  = kv_a(h) = [c (r) ; k_rot (rope)]          [T][r + rope]; c = rms(c)
//   rope on q's rope part and k_rot (pairs or halves, times yarn's attention factor)
//   cache   <- latent rows (one row per token, every rank the same)
//   q_lat   = uk_tᵀ q_nope per head                     [T][Hl][r]   (kv_b's key part absorbed)
//   o_lat   = softmax(scale · (q_lat·c + q_rot·k_rot)) · c   over the sequence's positions
//   out     = o(concat_h uv_h · o_lat_h)                [T][D], this rank's partial sum
//
// The scores equal expanded attention's q_nope·(W_UK c) + q_rot·k_rot exactly in real
// arithmetic; the cache holds r + rope floats per token and layer instead of 2·H·head_dim.
// Expanding K/V for a long prefill would be cheaper in FLOPs; one path keeps the code small.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/thread_pool.h"
#include "model/hf_config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace mies::model {

struct SequenceInput;

class MlaAttention {
 public:
  // out[T][D] (overwritten) for the normed input h[T][D] of the batch's tokens (in batch order,
  // `positions` [T]); writes their latent rows into layer `layer` of `cache`.
  Status Run(const MlaWeights& w, const LinearWeight& o, const HfConfig& c, int64_t num_heads,
             std::span<const SequenceInput> batch, const float* h, int64_t T,
             const int32_t* positions, const std::vector<double>& inv_freq, KvCache& cache,
             int64_t layer, float* out, ThreadPool& pool);

 private:
  std::vector<float> qa_, q_, latent_, qq_, x_, y_, olat_, attn_;
};

}  // namespace mies::model
