#include "model/mla.h"

#include <cstring>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/llama_model.h"

namespace mies::model {
namespace {

// Rows [begin, begin + rows) of a matrix as its own view (a head's slice of uk_t or uv).
kernels::WeightView RowSlice(const kernels::WeightView& w, int64_t begin, int64_t rows) {
  kernels::WeightView v = w;
  v.rows = rows;
  v.data = static_cast<const std::byte*>(w.data) + begin * w.cols * kernels::DTypeSize(w.dtype);
  if (w.scales != nullptr) v.scales = w.scales + begin;
  return v;
}

}  // namespace

Status MlaAttention::Run(const MlaWeights& w, const LinearWeight& o, const HfConfig& c, int64_t Hl,
                         std::span<const SequenceInput> batch, const float* h, int64_t T,
                         const int32_t* positions, const std::vector<double>& inv_freq,
                         KvCache& cache, int64_t layer, float* out, ThreadPool& pool) {
  const MlaConfig& m = c.mla;
  const int64_t D = c.hidden_size, r = m.kv_lora_rank, nope = m.qk_nope_head_dim;
  const int64_t rope = m.qk_rope_head_dim, v = m.v_head_dim, qk = nope + rope, lat = r + rope;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const auto layout =
      m.rope_interleave ? kernels::RopeLayout::kPairs : kernels::RopeLayout::kHalves;
  const float factor = static_cast<float>(c.RopeAttentionFactor());
  auto grow = [](std::vector<float>& x, int64_t n) { x.resize(static_cast<size_t>(n)); };

  // Queries [T][Hl][nope + rope].
  grow(q_, T * Hl * qk);
  if (m.q_lora_rank > 0) {
    grow(qa_, T * m.q_lora_rank);
    kernels::Linear(h, T, w.q_a.view, nullptr, qa_.data(), pool);
    kernels::RmsNorm(qa_.data(), T, m.q_lora_rank, w.q_a_norm.data(), eps, qa_.data());
    kernels::Linear(qa_.data(), T, w.q_b.view, nullptr, q_.data(), pool);
  } else {
    kernels::Linear(h, T, w.q_b.view, nullptr, q_.data(), pool);
  }
  // The latent [T][r + rope]: normed c, rotated k_rot.
  grow(latent_, T * lat);
  kernels::Linear(h, T, w.kv_a.view, nullptr, latent_.data(), pool);
  for (int64_t t = 0; t < T; ++t) {
    float* row = latent_.data() + t * lat;
    kernels::RmsNorm(row, 1, r, w.kv_a_norm.data(), eps, row);
  }
  kernels::ApplyRopeStrided(latent_.data() + r, T, 1, lat, 0, rope, positions, inv_freq.data(),
                            layout, factor);
  kernels::ApplyRopeStrided(q_.data() + nope, T, Hl, Hl * qk, qk, rope, positions, inv_freq.data(),
                            layout, factor);

  // Absorbed queries [T][Hl][r + rope]: q_lat = uk_tᵀ q_nope per head, then q_rot.
  grow(qq_, T * Hl * lat);
  grow(x_, T * nope);
  grow(y_, T * r);
  for (int64_t hh = 0; hh < Hl; ++hh) {
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(x_.data() + t * nope, q_.data() + (t * Hl + hh) * qk, nope * sizeof(float));
    }
    kernels::Linear(x_.data(), T, RowSlice(w.uk_t.view, hh * r, r), nullptr, y_.data(), pool);
    for (int64_t t = 0; t < T; ++t) {
      float* dst = qq_.data() + (t * Hl + hh) * lat;
      std::memcpy(dst, y_.data() + t * r, r * sizeof(float));
      std::memcpy(dst + r, q_.data() + (t * Hl + hh) * qk + nope, rope * sizeof(float));
    }
  }

  // Cache the latent rows, then attend over them per sequence.
  const int64_t block_size = cache.shape().block_size;
  float* kc = cache.k(layer);
  const float scale = static_cast<float>(c.SoftmaxScale());
  grow(olat_, T * Hl * r);
  int64_t t0 = 0;
  for (const SequenceInput& s : batch) {
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    MIES_RETURN_IF_ERROR(kernels::WriteKv(latent_.data() + t0 * lat, nullptr, n, s.start_pos,
                                          s.block_table, block_size, cache.num_blocks(), 1, lat, kc,
                                          nullptr));
    kernels::PagedLatentAttention(qq_.data() + t0 * Hl * lat, n, s.start_pos, kc, s.block_table,
                                  block_size, Hl, lat, r, scale, olat_.data() + t0 * Hl * r, pool);
    t0 += n;
  }

  // Head outputs [T][Hl][v] = uv_h · o_lat_h, then o_proj.
  grow(attn_, T * Hl * v);
  grow(x_, T * r);
  grow(y_, T * v);
  for (int64_t hh = 0; hh < Hl; ++hh) {
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(x_.data() + t * r, olat_.data() + (t * Hl + hh) * r, r * sizeof(float));
    }
    kernels::Linear(x_.data(), T, RowSlice(w.uv.view, hh * v, v), nullptr, y_.data(), pool);
    for (int64_t t = 0; t < T; ++t) {
      std::memcpy(attn_.data() + (t * Hl + hh) * v, y_.data() + t * v, v * sizeof(float));
    }
  }
  kernels::Linear(attn_.data(), T, o.view, nullptr, out, pool);
  (void)D;
  return OkStatus();
}

}  // namespace mies::model
