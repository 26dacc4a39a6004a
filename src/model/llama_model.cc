#include "model/llama_model.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "common/logging.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace mies::model {

StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& model_dir,
                                                       const ModelOptions& options,
                                                       Collective* collective) {
  if (collective == nullptr || collective->size() != options.parallel.tp_size ||
      collective->rank() != options.parallel.tp_rank) {
    return InvalidArgument("collective (rank ", collective ? collective->rank() : -1, " of ",
                           collective ? collective->size() : 0,
                           ") does not match the parallel config (rank ", options.parallel.tp_rank,
                           " of ", options.parallel.tp_size, ")");
  }
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  MIES_ASSIGN_OR_RETURN(m->config_, LoadHfConfig(model_dir));
  MIES_ASSIGN_OR_RETURN(m->generation_, LoadGenerationDefaults(model_dir, m->config_));
  MIES_ASSIGN_OR_RETURN(WeightFormat format, ParseWeightFormat(options.dtype, options.activations));
  MIES_ASSIGN_OR_RETURN(auto ckpt, Checkpoint::Open(model_dir));
  MIES_ASSIGN_OR_RETURN(
      m->weights_, LoadWeights(*ckpt, m->config_, options.parallel, format.dtype, format.quant));
  m->inv_freq_ = m->config_.RopeInvFreq(m->config_.is_mla() ? m->config_.mla.qk_rope_head_dim : 0);
  m->collective_ = collective;
  m->pool_ = std::make_unique<ThreadPool>(options.num_threads, options.pin_cpus);
  return m;
}

KvCacheShape LlamaModel::CacheShape(int64_t block_size) const {
  return CacheShapeFor(config_, weights_.layout, block_size);
}

Status LlamaModel::Validate(std::span<const SequenceInput> batch, const KvCache& cache) const {
  const KvCacheShape want = CacheShape(cache.shape().block_size);
  const KvCacheShape& have = cache.shape();
  if (have.num_layers != want.num_layers || have.num_kv_heads != want.num_kv_heads ||
      have.head_dim != want.head_dim || have.v_dim() != want.v_dim()) {
    return InvalidArgument("KV cache shape (layers ", have.num_layers, ", kv heads ",
                           have.num_kv_heads, ", head_dim ", have.head_dim,
                           ") does not match the model's (", want.num_layers, ", ",
                           want.num_kv_heads, ", ", want.head_dim, ")");
  }
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceInput& in = batch[s];
    if (in.tokens.empty()) return InvalidArgument("sequence ", s, " of the batch has no tokens");
    if (in.start_pos < 0) {
      return InvalidArgument("sequence ", s, ": start_pos ", in.start_pos, " is negative");
    }
    // Positions are int32 in the kernels; the bound also keeps start_pos + n from overflowing
    // (a step plan from the data plane can carry any int64).
    if (in.start_pos >
        std::numeric_limits<int32_t>::max() - static_cast<int64_t>(in.tokens.size())) {
      return InvalidArgument("sequence ", s, ": positions from start_pos ", in.start_pos, " for ",
                             in.tokens.size(), " tokens exceed the int32 position range");
    }
    if (in.logit_rows < 0 || in.logit_rows > static_cast<int64_t>(in.tokens.size())) {
      return InvalidArgument("sequence ", s, ": logit_rows ", in.logit_rows, " outside [0, ",
                             in.tokens.size(), "] (its new tokens)");
    }
    for (int32_t t : in.tokens) {
      if (t < 0 || t >= config_.vocab_size) {
        return InvalidArgument("sequence ", s, ": token id ", t, " outside the vocabulary [0, ",
                               config_.vocab_size, ")");
      }
    }
    const int64_t last = in.start_pos + static_cast<int64_t>(in.tokens.size()) - 1;
    const int64_t need = last / have.block_size + 1;
    if (static_cast<int64_t>(in.block_table.size()) < need) {
      return InvalidArgument("sequence ", s, ": block table has ", in.block_table.size(),
                             " blocks, positions up to ", last, " need ", need);
    }
    for (int64_t b = 0; b < need; ++b) {
      if (in.block_table[b] < 0 || in.block_table[b] >= cache.num_blocks()) {
        return InvalidArgument("sequence ", s, ": block id ", in.block_table[b],
                               " outside the pool [0, ", cache.num_blocks(), ")");
      }
    }
  }
  return OkStatus();
}

Status LlamaModel::Forward(std::span<const SequenceInput> batch, KvCache& cache,
                           ForwardOutput* out) {
  MIES_RETURN_IF_ERROR(Validate(batch, cache));
  const HfConfig& c = config_;
  const ShardLayout& l = weights_.layout;
  const int64_t D = c.hidden_size, hd = c.head_dim;
  const int64_t Hl = l.num_q_heads, KVl = l.num_kv_heads;
  const int64_t nq = Hl * hd, nkv = KVl * hd, nqkv = nq + 2 * nkv;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float scale = static_cast<float>(c.SoftmaxScale());
  const float rope_factor = static_cast<float>(c.RopeAttentionFactor());
  const int64_t block_size = cache.shape().block_size;
  ThreadPool& pool = *pool_;

  int64_t T = 0;
  for (const auto& s : batch) T += static_cast<int64_t>(s.tokens.size());
  auto grow = [](std::vector<float>& v, int64_t n) { v.resize(static_cast<size_t>(n)); };
  grow(x_, T * D);
  grow(h_, T * D);
  grow(qkv_, T * nqkv);
  grow(q_, T * nq);
  grow(k_, T * nkv);
  grow(v_, T * nkv);
  grow(attn_, T * nq);
  grow(o_, T * D);
  positions_.resize(static_cast<size_t>(T));

  // Embedding lookup and positions.
  {
    const int64_t row_bytes = D * kernels::DTypeSize(weights_.embed_dtype);
    int64_t t = 0;
    for (const auto& s : batch) {
      for (size_t i = 0; i < s.tokens.size(); ++i, ++t) {
        kernels::ConvertRow(weights_.embedding.data() + s.tokens[i] * row_bytes,
                            weights_.embed_dtype, D, x_.data() + t * D);
        positions_[t] = static_cast<int32_t>(s.start_pos + static_cast<int64_t>(i));
      }
    }
  }

  for (size_t li = 0; li < weights_.layers.size(); ++li) {
    const LayerWeights& L = weights_.layers[li];
    // Attention block: grouped-query or latent (MLA); either ends in one all-reduce.
    kernels::RmsNorm(x_.data(), T, D, L.input_norm.data(), eps, h_.data());
    if (L.mla) {
      MIES_RETURN_IF_ERROR(mla_.Run(*L.mla, L.o, c, l.num_q_heads, batch, h_.data(), T,
                                    positions_.data(), inv_freq_, cache, static_cast<int64_t>(li),
                                    o_.data(), pool));
    } else {
      kernels::Linear(h_.data(), T, L.qkv.view, L.qkv_bias.empty() ? nullptr : L.qkv_bias.data(),
                      qkv_.data(), pool);
      for (int64_t t = 0; t < T; ++t) {
        const float* row = qkv_.data() + t * nqkv;
        std::memcpy(q_.data() + t * nq, row, nq * sizeof(float));
        std::memcpy(k_.data() + t * nkv, row + nq, nkv * sizeof(float));
        std::memcpy(v_.data() + t * nkv, row + nq + nkv, nkv * sizeof(float));
      }
      if (!L.q_norm.empty()) {
        kernels::RmsNorm(q_.data(), T * Hl, hd, L.q_norm.data(), eps, q_.data());
        kernels::RmsNorm(k_.data(), T * KVl, hd, L.k_norm.data(), eps, k_.data());
      }
      kernels::ApplyRopeStrided(q_.data(), T, Hl, Hl * hd, hd, hd, positions_.data(),
                                inv_freq_.data(), kernels::RopeLayout::kHalves, rope_factor);
      kernels::ApplyRopeStrided(k_.data(), T, KVl, KVl * hd, hd, hd, positions_.data(),
                                inv_freq_.data(), kernels::RopeLayout::kHalves, rope_factor);
      float* kc = cache.k(static_cast<int64_t>(li));
      float* vc = cache.v(static_cast<int64_t>(li));
      int64_t t0 = 0;
      for (const auto& s : batch) {
        const int64_t n = static_cast<int64_t>(s.tokens.size());
        MIES_RETURN_IF_ERROR(kernels::WriteKv(k_.data() + t0 * nkv, v_.data() + t0 * nkv, n,
                                              s.start_pos, s.block_table, block_size,
                                              cache.num_blocks(), KVl, hd, kc, vc));
        kernels::PagedAttention(q_.data() + t0 * nq, n, s.start_pos, kc, vc, s.block_table,
                                block_size, Hl, KVl, hd, scale, attn_.data() + t0 * nq, pool,
                                c.sliding_window);
        t0 += n;
      }
      kernels::Linear(attn_.data(), T, L.o.view, nullptr, o_.data(), pool);
    }
    MIES_RETURN_IF_ERROR(collective_->AllReduceSum(o_));
    if (!L.o_bias.empty()) {
      for (int64_t t = 0; t < T; ++t) kernels::AddInPlace(o_.data() + t * D, L.o_bias.data(), D);
    }
    kernels::AddInPlace(x_.data(), o_.data(), T * D);

    // MLP block: dense, or this rank's share of the MoE block; either ends in one all-reduce.
    kernels::RmsNorm(x_.data(), T, D, L.post_attention_norm.data(), eps, h_.data());
    if (L.moe) {
      moe_.Run(*L.moe, c.moe, h_.data(), T, D, o_.data(), pool);
    } else {
      mlp_.Run(h_.data(), T, L.gate_up.view, L.down.view, o_.data(), pool);
    }
    MIES_RETURN_IF_ERROR(collective_->AllReduceSum(o_));
    kernels::AddInPlace(x_.data(), o_.data(), T * D);
  }

  // Rows that need logits: the last logit_rows tokens of each sequence.
  out->first_row.clear();
  out->num_rows.clear();
  std::vector<int64_t> rows;
  {
    int64_t t = 0;
    for (const auto& s : batch) {
      const int64_t n = static_cast<int64_t>(s.tokens.size());
      out->first_row.push_back(s.logit_rows > 0 ? static_cast<int64_t>(rows.size()) : -1);
      out->num_rows.push_back(s.logit_rows);
      for (int64_t i = n - s.logit_rows; i < n; ++i) rows.push_back(t + i);
      t += n;
    }
  }
  const int64_t R = static_cast<int64_t>(rows.size());
  grow(sel_, R * D);
  for (int64_t r = 0; r < R; ++r) {
    kernels::RmsNorm(x_.data() + rows[r] * D, 1, D, weights_.final_norm.data(), eps,
                     sel_.data() + r * D);
  }
  const int64_t Vl = l.vocab_local(), V = c.vocab_size;
  out->vocab = V;
  out->logits.resize(static_cast<size_t>(R * V));
  // Every rank runs the same plan, so all skip the lm_head (and its gather) together.
  if (R == 0) return OkStatus();
  grow(local_logits_, R * Vl);
  kernels::Linear(sel_.data(), R, weights_.lm_head.view, nullptr, local_logits_.data(), pool);
  if (collective_->size() == 1) {
    std::memcpy(out->logits.data(), local_logits_.data(), local_logits_.size() * sizeof(float));
    return OkStatus();
  }
  // Gathered as [rank][R][V_rank]; rearranged to [R][V].
  grow(gathered_, R * V);
  MIES_RETURN_IF_ERROR(collective_->AllGather(local_logits_, gathered_));
  for (int rank = 0; rank < collective_->size(); ++rank) {
    const int64_t vb = l.vocab_begin[rank], vn = l.vocab_begin[rank + 1] - vb;
    const float* src = gathered_.data() + R * vb;
    for (int64_t r = 0; r < R; ++r) {
      std::memcpy(out->logits.data() + r * V + vb, src + r * vn, vn * sizeof(float));
    }
  }
  return OkStatus();
}

}  // namespace mies::model
