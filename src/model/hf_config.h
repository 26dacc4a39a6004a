// Hugging Face model configuration: config.json (architecture and shapes) and
// generation_config.json (stop ids and sampling defaults), parsed into plain structs.
//
// Supported architectures: LlamaForCausalLM, MistralForCausalLM (sliding window honoured),
// Qwen2ForCausalLM (q/k/v biases), Qwen3ForCausalLM (per-head q_norm/k_norm), and the
// Mixture-of-Experts decoders Qwen3MoeForCausalLM, Qwen2MoeForCausalLM (shared expert) and
// MixtralForCausalLM (MoeConfig below). Anything else — another architecture, a rope_scaling
// type other than none/default/linear/llama3, an activation other than silu, mlp_bias, Qwen's
// per-layer sliding window — is an error naming the option.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::model {

enum class Architecture {
  kLlama,
  kMistral,
  kQwen2,
  kQwen3,
  kQwen2Moe,
  kQwen3Moe,
  kMixtral,
  kDeepseekV2,
  kDeepseekV3
};

struct RopeScaling {
  enum class Kind { kNone, kLinear, kLlama3, kYarn };
  Kind kind = Kind::kNone;
  double factor = 1.0;
  // llama3 (and yarn: original_max_position_embeddings).
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
  // yarn (transformers' _compute_yarn_parameters): the frequency ramp between beta_fast and
  // beta_slow rotations, cos/sin scaled by attention_factor (from mscale / mscale_all_dim when
  // not given), and DeepSeek's softmax scale times mscale(factor, mscale_all_dim)^2.
  double beta_fast = 32, beta_slow = 1;
  double mscale = 0, mscale_all_dim = 0;  // 0: absent
  double attention_factor = 0;            // 0: derived
  bool truncate = true;
};

// Multi-head latent attention (DeepSeek V2/V3): queries from q_lora_rank (or plain q_proj when 0),
// keys and values from one compressed latent of kv_lora_rank values plus a shared rotary key of
// qk_rope_head_dim; heads have qk_nope_head_dim + qk_rope_head_dim query/key dims and v_head_dim
// value dims. rope_interleave: the rope part rotates adjacent pairs (the published checkpoints).
struct MlaConfig {
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool rope_interleave = true;
};

// Sparse Mixture-of-Experts MLP (transformers' semantics): a router (gate) scores every expert
// for each token, the top_k are kept (ties to the lower expert index), their weights optionally
// renormalized to sum 1, and the token's output is the weighted sum of those experts' SwiGLU
// MLPs, plus a shared expert on every token when the model has one.
struct MoeConfig {
  int64_t num_experts = 0;               // 0: a dense model
  int64_t top_k = 0;                     // num_experts_per_tok
  int64_t expert_intermediate_size = 0;  // moe_intermediate_size (Mixtral: intermediate_size)
  bool norm_topk_prob = false;           // renormalize the top-k weights (Mixtral: always)
  // Qwen2Moe: mlp.shared_expert (this size) scaled by sigmoid(mlp.shared_expert_gate(x)).
  int64_t shared_expert_intermediate_size = 0;
  bool shared_expert_gated = false;  // Qwen2-MoE's sigmoid gate (DeepSeek's shared experts: none)
  std::vector<bool> sparse_layers;   // per layer: MoE block (true) or dense MLP
  // DeepSeek routing. Scores are a softmax over the experts (V2) or each expert's sigmoid (V3).
  // Selection: top_k of every expert (greedy), or only within the topk_group best of n_group
  // equal groups, a group scored by its best expert (group_limited_greedy) or by the sum of its
  // best two after adding e_score_correction_bias (noaux_tc; the bias is for selection only).
  // Weights are the selected scores, renormalized (+1e-20) when norm_topk_prob and top_k > 1,
  // then times routed_scaling_factor: always (V3), or only when not renormalized (V2).
  enum class Scoring { kSoftmax, kSigmoid };
  enum class TopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };
  Scoring scoring = Scoring::kSoftmax;
  TopkMethod topk_method = TopkMethod::kGreedy;
  int64_t n_group = 1, topk_group = 1;
  double routed_scaling_factor = 1.0;
  bool scale_when_normalized = false;  // V3: scale after renormalizing too
  bool deepseek_routing = false;       // the rules above (else: softmax, top-k, renormalize)
};

// quantization_config of a published 4-bit checkpoint (GPTQ, AWQ); see model/weights.h.
struct QuantizationConfig {
  std::string method;  // "gptq" | "awq"
  int64_t bits = 4;
  int64_t group_size = 0;  // -1 (GPTQ: one group per column) is stored as 0
  bool desc_act = false;   // GPTQ act-order (g_idx not monotonic): refused
};

struct HfConfig {
  std::string architecture_name;  // as written in config.json, e.g. "LlamaForCausalLM"
  Architecture architecture = Architecture::kLlama;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // = num_attention_heads when absent
  int64_t head_dim = 0;             // = hidden_size / num_attention_heads when absent
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  // q/k/v (and for Llama with attention_bias, o) projections carry biases. Qwen2 always has
  // q/k/v biases; Llama/Mistral only with "attention_bias": true.
  bool qkv_bias = false;
  bool o_bias = false;
  bool qk_norm = false;  // Qwen3
  // Mistral/Mixtral: each token attends to the last sliding_window positions (itself included);
  // 0: the whole context.
  int64_t sliding_window = 0;
  MoeConfig moe;
  bool is_moe() const { return moe.num_experts > 0; }
  MlaConfig mla;  // kv_lora_rank > 0: the attention is multi-head latent attention
  bool is_mla() const { return mla.kv_lora_rank > 0; }
  // Checkpoint weights stored as float8_e4m3fn with one f32 weight_scale_inv per block
  // (quantization_config quant_method "fp8"); 0 x 0 when the checkpoint is not FP8.
  int64_t fp8_block_rows = 0, fp8_block_cols = 0;
  bool IsSparseLayer(int64_t layer) const {
    return is_moe() && moe.sparse_layers[static_cast<size_t>(layer)];
  }
  std::string torch_dtype;  // "float32" | "bfloat16" | "float16" | "" when absent
  std::optional<QuantizationConfig> quantization;  // quantization_config, when present
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  // RoPE inverse frequencies (head_dim / 2 of them) with rope_scaling applied, computed in
  // double precision as Hugging Face does.
  // `rotary_dim` (0: head_dim) is the number of dimensions RoPE rotates (MLA: qk_rope_head_dim).
  std::vector<double> RopeInvFreq(int64_t rotary_dim = 0) const;
  // What cos/sin are multiplied by (yarn's attention factor; 1 otherwise).
  double RopeAttentionFactor() const;
  // The attention softmax scale: 1/sqrt(query-key head dim), times yarn's mscale² for MLA.
  double SoftmaxScale() const;
};

// Parses config.json text; `source` names the file in errors.
StatusOr<HfConfig> ParseHfConfig(const std::string& json_text, const std::string& source);
// Reads <model_dir>/config.json through the MindIE input-file rules (regular file, owned by the
// running user, mode no wider than 0750 unless MINDIE_CHECK_INPUTFILES_PERMISSION=0).
StatusOr<HfConfig> LoadHfConfig(const std::string& model_dir);

// generation_config.json: what the model's authors set as defaults. Absent fields stay empty.
struct GenerationDefaults {
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<int64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> repetition_penalty;
  std::optional<int64_t> max_length;
  std::optional<int64_t> max_new_tokens;
};

StatusOr<GenerationDefaults> ParseGenerationConfig(const std::string& json_text,
                                                   const std::string& source);
// Reads <model_dir>/generation_config.json when present; when absent, the eos/bos ids come from
// `config` (config.json) and the sampling fields stay empty.
StatusOr<GenerationDefaults> LoadGenerationDefaults(const std::string& model_dir,
                                                    const HfConfig& config);

}  // namespace mies::model
