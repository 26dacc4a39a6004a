// Hugging Face model configuration: config.json (architecture and shapes) and
// generation_config.json (stop ids and sampling defaults), parsed into plain structs.
//
// Supported architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (q/k/v
// biases), Qwen3ForCausalLM (per-head q_norm/k_norm). Anything else — another architecture, a
// rope_scaling type other than none/default/linear/llama3, an activation other than silu,
// mlp_bias, or a sliding window shorter than the context — is an error naming the option.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::model {

enum class Architecture { kLlama, kMistral, kQwen2, kQwen3 };

struct RopeScaling {
  enum class Kind { kNone, kLinear, kLlama3 };
  Kind kind = Kind::kNone;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
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
  bool qk_norm = false;     // Qwen3
  std::string torch_dtype;  // "float32" | "bfloat16" | "float16" | "" when absent
  std::optional<QuantizationConfig> quantization;  // quantization_config, when present
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
