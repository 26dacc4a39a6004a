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

enum class Architecture { kLlama, kMistral, kQwen2, kQwen3, kQwen2Moe, kQwen3Moe, kMixtral };

struct RopeScaling {
  enum class Kind { kNone, kLinear, kLlama3 };
  Kind kind = Kind::kNone;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
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
  std::vector<bool> sparse_layers;  // per layer: MoE block (true) or dense MLP
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
  bool IsSparseLayer(int64_t layer) const {
    return is_moe() && moe.sparse_layers[static_cast<size_t>(layer)];
  }
  std::string torch_dtype;  // "float32" | "bfloat16" | "float16" | "" when absent
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  // RoPE inverse frequencies (head_dim / 2 of them) with rope_scaling applied, computed in
  // double precision as Hugging Face does.
  std::vector<double> RopeInvFreq() const;
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
