// Weights of a LLaMA-family decoder, loaded for one tensor-parallel rank.
//
// Sharding rules (Megatron-style; the one place they are written down — see ShardFor() in
// weights.cc, which implements exactly this table):
//
//   tensor                          split        what rank r of tp keeps
//   embed_tokens      [V][D]        replicated   all of it (a lookup, not a matmul)
//   q_proj (+bias)    [H*hd][D]     column       output rows of its query heads
//   k_proj, v_proj    [KV*hd][D]    column       output rows of its KV heads (see below)
//   q_norm, k_norm    [hd]          replicated   all (per-head weights shared by every head)
//   o_proj            [D][H*hd]     row          input columns of its query heads
//   o_proj bias       [D]           replicated   added once, after the all-reduce
//   gate/up_proj      [I][D]        column       output rows [r*I/tp, (r+1)*I/tp)
//   down_proj         [D][I]        row          input columns, same range as gate/up
//   lm_head           [V][D]        vocab        rows [r*V/tp, (r+1)*V/tp) (uneven allowed;
//                                                logits are all-gathered in rank order)
//   norms             [D]           replicated
//
// MoE layers (ParallelConfig: moe_ep expert groups of moe_tp ranks; g = ep_rank, s = moe_tp_rank):
//   router (mlp.gate) [E][D]        replicated   all of it, f32 (routing must agree on every rank)
//   experts.{e}       gate/up [Ie][D], down [D][Ie]
//                                   expert       experts [g*E/ep, (g+1)*E/ep) only (others are
//                                                never read); within them, gate/up rows and down
//                                                columns [s*Ie/moe_tp, (s+1)*Ie/moe_tp)
//   shared_expert     gate/up/down  like the dense MLP (column / row over all tp ranks)
//   shared_expert_gate [1][D]       replicated   f32
//
// MLA attention (DeepSeek): heads split as above; q_a_proj, kv_a_proj_with_mqa and their norms
// replicated (every rank computes the whole latent, which its KV cache keeps); q_b_proj (or
// q_proj) rows and kv_b_proj rows of its heads; o_proj input columns of its heads' values.
// num_experts must divide by moe_ep (an error names both numbers). Every rank's MoE output is a
// partial sum: the all-reduce that ends a dense MLP ends the MoE block too.
//
// Heads: num_attention_heads must divide by tp_size (an uneven split is refused at load with
// a message naming both numbers). KV heads: when tp_size <= num_key_value_heads they must
// divide by tp_size and each rank keeps KV/tp of them; when tp_size > num_key_value_heads,
// tp_size must be a multiple of KV and each rank keeps the one KV head its query heads read
// (replicated across tp/KV ranks). The intermediate and vocab dimensions may split unevenly.
//
// q/k/v are fused into one [q_local; k_local; v_local] matrix and gate/up into one
// [gate_local; up_local] matrix, so a layer runs four matmuls instead of seven.
//
// Storage dtype (ModelConfig key `dtype`): "auto" (the checkpoint's dtype, read from
// embed_tokens), "float32", "bfloat16", "float16", "int8" (one f32 scale per output row,
// symmetric, quantized after sharding so a row-parallel shard has its own row scales), or "int4"
// / "int4-g128" (group-wise 4-bit, groups of 32 / 128 columns, symmetric, kernels/int4.h; the
// lm_head stays int8). Norm weights and biases are always f32. The embedding table is stored in
// the matmul dtype, except for int8 and int4 where it stays f32 (a lookup reads one row per
// token; the table's size is what they would save, not bandwidth).
//
// Activations (ModelConfig key `activationDtype`, kernels/matmul.h): "auto" lets bf16 weights
// run with bf16-rounded activations and int8 weights with int8 ones (W8A8) in prefill and batched
// decode; "float32" (the precise mode) keeps f32 activations (bf16 x f32, W8A16). int4 always
// takes int8 activations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kernels/dtype.h"
#include "kernels/matmul.h"
#include "model/collective.h"
#include "model/hf_config.h"
#include "model/safetensors.h"

namespace mies::model {

// Parses the `dtype` option: "auto" -> nullopt (use the checkpoint's dtype), else one of the
// kernels' dtypes (float32 | bfloat16 | float16 | int8 | int4 and their short forms).
StatusOr<std::optional<kernels::DType>> ParseWeightDType(std::string_view name);

// The rest of the storage choice: int4 group size and the activations the kernels may use.
struct QuantOptions {
  int64_t int4_group_size = 32;
  kernels::Activations activations = kernels::Activations::kReduced;
};
struct WeightFormat {
  std::optional<kernels::DType> dtype;
  QuantOptions quant;
};
// `dtype` as ParseWeightDType plus "int4-g<N>" (group size N); `activations` "auto" (reduced
// where a kernel exists) or "float32" (precise).
StatusOr<WeightFormat> ParseWeightFormat(std::string_view dtype, std::string_view activations);

// 64-byte aligned heap memory (RAII).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  std::byte* data() { return ptr_.get(); }
  const std::byte* data() const { return ptr_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, Free> ptr_;
  size_t size_ = 0;
};

struct LinearWeight {
  AlignedBuffer data;         // int4: the whole packed blob (kernels/int4.h)
  std::vector<float> scales;  // int8 only
  kernels::WeightView view;   // points into data / scales
  int64_t bytes() const { return static_cast<int64_t>(data.size() + scales.size() * 4); }
};

// DeepSeek's multi-head latent attention on this rank (hf_config.h MlaConfig), kept in the
// absorbed form decode runs: per local head h, uk_t rows [h*r, (h+1)*r) are kv_b_proj's key rows
// of h transposed ([r][nope]: they turn q_nope into a latent-space query) and uv rows
// [h*v, (h+1)*v) its value rows ([v][r]: latent output -> head output).
struct MlaWeights {
  LinearWeight q_a;              // [q_lora][D] (q_lora_rank > 0), replicated
  std::vector<float> q_a_norm;   // [q_lora]
  LinearWeight q_b;              // [Hl*(nope+rope)][q_lora], or q_proj [Hl*(nope+rope)][D]
  LinearWeight kv_a;             // [r+rope][D] (kv_a_proj_with_mqa), replicated
  std::vector<float> kv_a_norm;  // [r]
  LinearWeight uk_t;             // [Hl*r][nope]
  LinearWeight uv;               // [Hl*v][r]
  int64_t bytes() const {
    return q_a.bytes() + q_b.bytes() + kv_a.bytes() + uk_t.bytes() + uv.bytes();
  }
};

// One expert's SwiGLU MLP (this rank's slice of it).
struct ExpertWeights {
  LinearWeight gate_up;  // [2*Ie_local][D]
  LinearWeight down;     // [D][Ie_local]
};

// A sparse MoE block (hf_config.h MoeConfig) on this rank.
struct MoeWeights {
  std::vector<float> router;  // [E][D] f32, every expert
  int64_t expert_begin = 0;   // this rank's experts: [expert_begin, expert_begin + experts.size())
  std::vector<ExpertWeights> experts;
  // The shared expert (Qwen2-MoE's, DeepSeek's n_shared_experts fused into one), when the model
  // has one; Qwen2-MoE's scales it by sigmoid(h · shared_expert_gate) ([D] f32, else empty).
  bool has_shared_expert = false;
  LinearWeight shared_gate_up;  // [2*Is_local][D]
  LinearWeight shared_down;     // [D][Is_local]
  std::vector<float> shared_expert_gate;
  std::vector<float> router_bias;  // DeepSeek-V3's e_score_correction_bias [E], or empty
};

struct LayerWeights {
  std::vector<float> input_norm;           // [D]
  std::vector<float> post_attention_norm;  // [D]
  LinearWeight qkv;                        // [(Hl + 2*KVl)*hd][D]
  std::vector<float> qkv_bias;             // [(Hl + 2*KVl)*hd] or empty
  std::vector<float> q_norm, k_norm;       // [hd] or empty (Qwen3)
  LinearWeight o;                          // [D][Hl*hd]
  std::vector<float> o_bias;               // [D] or empty
  LinearWeight gate_up;                    // [2*Il][D] (dense MLP layers)
  LinearWeight down;                       // [D][Il]
  std::unique_ptr<MoeWeights> moe;         // set on MoE layers instead of gate_up/down
  std::unique_ptr<MlaWeights> mla;         // set for MLA models instead of qkv (o stays)
};

// Which slice of each split dimension this rank holds.
struct ShardLayout {
  int64_t q_head_begin = 0, num_q_heads = 0;    // local query heads
  int64_t kv_head_begin = 0, num_kv_heads = 0;  // local KV heads
  int64_t inter_begin = 0, inter_size = 0;      // local intermediate slice
  std::vector<int64_t> vocab_begin;             // per rank, size tp+1 (last = vocab_size)
  int64_t vocab_local() const;
  int tp_rank = 0;
  // MoE: this rank's experts and its slice of their intermediate dimension, and its slice of
  // the shared expert's (zero sizes for dense models).
  int64_t expert_begin = 0, num_experts = 0;
  int64_t expert_inter_begin = 0, expert_inter_size = 0;
  int64_t shared_inter_begin = 0, shared_inter_size = 0;
};

// Computes the layout, or an error when the heads cannot be split as the rules above require.
StatusOr<ShardLayout> ComputeShardLayout(const HfConfig& config, const ParallelConfig& parallel);

struct ModelWeights {
  ShardLayout layout;
  kernels::DType dtype = kernels::DType::kF32;  // matmul weight dtype
  kernels::DType embed_dtype = kernels::DType::kF32;
  AlignedBuffer embedding;        // [V][D] in embed_dtype
  std::vector<float> final_norm;  // [D]
  LinearWeight lm_head;           // [V_local][D]
  std::vector<LayerWeights> layers;

  // Bytes of matmul weights this rank holds (a dense model's decode streams all of them once
  // per step: the bandwidth-bound denominator).
  int64_t MatmulWeightBytes() const;
  // Bytes of matmul weights one decode token reads on this rank when `experts_per_layer` of its
  // experts are active in each MoE layer (batch 1: top_k spread over the ranks' experts): the
  // bandwidth-bound denominator of a MoE model. Equals MatmulWeightBytes for dense models.
  int64_t ActiveWeightBytes(double experts_per_layer) const;
};

// Loads this rank's shard of every weight from `ckpt`, converting to `dtype` (nullopt: the
// checkpoint's own dtype). Reads only the slices it keeps from the memory map.
StatusOr<ModelWeights> LoadWeights(const Checkpoint& ckpt, const HfConfig& config,
                                   const ParallelConfig& parallel,
                                   std::optional<kernels::DType> dtype,
                                   const QuantOptions& quant = {});

}  // namespace mies::model
