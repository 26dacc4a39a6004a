// The LLaMA-family decoder (Llama, Mistral, Qwen2, Qwen3, and their Mixture-of-Experts
// relatives Qwen2-MoE, Qwen3-MoE, Mixtral) for one tensor-parallel rank.
//
// One Forward() call runs a batch that mixes prefills (many tokens) and decodes (one token) of
// different sequences. All tokens of the batch go through each matmul together, so a weight is
// read once per step however many sequences there are; attention runs per sequence over its
// own paged KV. Per layer:
//   RMSNorm → QKV (column-parallel, fused) → [q/k norm] → RoPE → write K/V → paged attention
//   (sliding window when the model has one) → O (row-parallel) → all-reduce → +residual →
//   RMSNorm → MLP → all-reduce → +residual
// where the MLP is dense (gate/up column-parallel and fused → SiLU·mul → down row-parallel) or
// a MoE block (moe.h: this rank's experts, or its slice of every expert) on MoE layers.
// then final RMSNorm → lm_head (vocab shard) → all-gather of logits. Activations are f32.
//
// A model instance is used by one thread at a time (it keeps its scratch buffers between calls);
// its ThreadPool runs the kernels.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "model/collective.h"
#include "model/hf_config.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/mlp.h"
#include "model/moe.h"
#include "model/weights.h"

namespace mies::model {

struct ModelOptions {
  ParallelConfig parallel;
  // ModelConfig `dtype`: auto | float32 | bfloat16 | float16 | int8 | int4 | int4-g<N>
  std::string dtype = "auto";
  // ModelConfig `activationDtype`: auto (bf16 / int8 activations in the dot-product kernels where
  // the weights allow) | float32 (precise: f32 activations); see model/weights.h.
  std::string activations = "auto";
  int num_threads = 1;        // this rank's ThreadPool size (the caller's thread included)
  std::vector<int> pin_cpus;  // cores to pin the pool to; empty: no pinning
};

// One sequence's part of a batch.
struct SequenceInput {
  std::span<const int32_t> tokens;       // new tokens (prefill: many; decode: one)
  int64_t start_pos = 0;                 // absolute position of tokens[0]
  std::span<const int32_t> block_table;  // KV blocks covering positions 0 .. start_pos+n-1
  // Logits of the last `logit_rows` new tokens: 0 (a prefill chunk that samples nothing), 1 (the
  // next token's distribution) or tokens.size() (every position, for prompt logprobs).
  int64_t logit_rows = 1;
};

struct ForwardOutput {
  // [rows][vocab]: for each sequence in batch order, its logit_rows rows.
  std::vector<float> logits;
  int64_t vocab = 0;
  std::vector<int64_t> first_row;  // per sequence: its first row in `logits`; -1 without rows
  std::vector<int64_t> num_rows;   // per sequence: its logit_rows
  const float* Row(size_t seq, int64_t i = 0) const {
    return logits.data() + (first_row[seq] + i) * vocab;
  }
};

class LlamaModel {
 public:
  // Loads config.json (with MindIE's model-file rule), generation_config.json and this rank's
  // weight shard. `collective` must outlive the model and match options.parallel.
  static StatusOr<std::unique_ptr<LlamaModel>> Load(const std::string& model_dir,
                                                    const ModelOptions& options,
                                                    Collective* collective);

  const HfConfig& config() const { return config_; }
  const GenerationDefaults& generation_defaults() const { return generation_; }
  const ModelWeights& weights() const { return weights_; }
  // The KV cache shape this rank needs for a given block size.
  KvCacheShape CacheShape(int64_t block_size) const;
  ThreadPool& pool() { return *pool_; }
  // Replaces the thread pool (e.g. a benchmark trying thread counts on one loaded model).
  void ResetThreadPool(int num_threads, std::vector<int> pin_cpus = {}) {
    pool_ = std::make_unique<ThreadPool>(num_threads, std::move(pin_cpus));
  }

  Status Forward(std::span<const SequenceInput> batch, KvCache& cache, ForwardOutput* out);

 private:
  LlamaModel() = default;
  Status Validate(std::span<const SequenceInput> batch, const KvCache& cache) const;

  HfConfig config_;
  GenerationDefaults generation_;
  ModelWeights weights_;
  std::vector<double> inv_freq_;
  Collective* collective_ = nullptr;
  std::unique_ptr<ThreadPool> pool_;

  // Scratch, reused between calls.
  std::vector<float> x_, h_, qkv_, q_, k_, v_, attn_, o_, sel_, local_logits_, gathered_;
  std::vector<int32_t> positions_;
  SwiGlu mlp_;
  MoeBlock moe_;
  MlaAttention mla_;
};

}  // namespace mies::model
