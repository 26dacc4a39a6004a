// Synthetic Hugging Face model directories with seeded random weights, for shapes and features
// the real test model (stories260K) lacks and for speed measurements at real model sizes.
//
// Written files: config.json (mode 0640, as MindIE's model-file rule wants),
// generation_config.json, model.safetensors (or N shards + model.safetensors.index.json) and, when
// given, a copy of a tokenizer.json. Weights: matrices N(0, init_std²) (0.02 keeps activations sane
// at any size); norm weights 1 + norm_jitter·N(0,1); biases N(0, init_std²). Each tensor's values
// depend only on (seed, tensor name), so a model is reproducible whatever the file layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::tools {

struct SyntheticModelSpec {
  std::string architecture = "LlamaForCausalLM";
  int64_t hidden_size = 64;
  int64_t intermediate_size = 128;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 0;  // 0: hidden_size / num_attention_heads (not written to config.json)
  int64_t vocab_size = 256;
  int64_t max_position_embeddings = 512;
  double rope_theta = 10000.0;
  std::string rope_scaling = "none";  // none | linear | llama3
  double rope_factor = 4.0;
  int64_t rope_original_max = 64;  // llama3: original_max_position_embeddings
  bool qkv_bias = false;           // Qwen2: always; Llama: attention_bias (adds o bias too)
  bool qk_norm = false;            // Qwen3: always
  bool tie_word_embeddings = false;
  std::string dtype = "float32";  // float32 | bfloat16 | float16
  uint64_t seed = 1;
  double init_std = 0.02;
  double norm_jitter = 0.0;
  double rms_norm_eps = 1e-5;
  int shards = 1;              // > 1: sharded checkpoint with an index
  int64_t sliding_window = 0;  // Mistral / Mixtral: written when > 0 (else null)
  // Mixture of experts (Qwen3MoeForCausalLM, Qwen2MoeForCausalLM, MixtralForCausalLM).
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;  // Mixtral: its experts use intermediate_size
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  int64_t shared_expert_intermediate_size = 0;  // Qwen2-MoE
  double router_std = 0.5;  // router weights: large enough that top-k choices are not near-ties
  // Every expert of a layer gets the values of that layer's dense MLP (mlp.{gate,up,down}_proj
  // of a dense model with the same seed and intermediate_size = moe_intermediate_size): the MoE
  // then equals that dense model, a check of the MoE path.
  bool equal_experts = false;
  // DeepSeek V2/V3 (DeepseekV2ForCausalLM, DeepseekV3ForCausalLM): multi-head latent attention,
  // routing, shared experts (see hf_config.h MlaConfig / MoeConfig for their meaning).
  int64_t q_lora_rank = 0;  // 0: plain q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
  bool rope_interleave = true;
  int64_t n_shared_experts = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  std::string scoring_func = "softmax";  // softmax | sigmoid
  std::string topk_method = "greedy";    // greedy | group_limited_greedy | noaux_tc
  int64_t n_group = 1, topk_group = 1;
  double routed_scaling_factor = 1.0;
  double correction_bias_std = 0.1;      // noaux_tc: e_score_correction_bias ~ N(0, std^2)
  int64_t num_nextn_predict_layers = 0;  // DeepSeek-V3's MTP layer: written, never loaded
  // rope_scaling "yarn" (rope_factor, rope_original_max as above).
  double yarn_beta_fast = 32, yarn_beta_slow = 1, yarn_mscale = 1.0, yarn_mscale_all_dim = 1.0;
  // Matrices stored as float8_e4m3fn with f32 weight_scale_inv per fp8_block x fp8_block tile
  // (DeepSeek's published format): every linear weight but embeddings, lm_head and the router.
  int64_t fp8_block = 0;  // 0: not FP8
  // "gptq" or "awq": the q/k/v/o/gate/up/down matrices are written 4-bit as those tools publish
  // them (GPTQ: symmetric, zero 8 stored as 7, g_idx; AWQ: asymmetric, GEMM packing), from the
  // same seeded values a float model would hold; embeddings, norms and lm_head stay float.
  std::string quant = "none";
  int64_t quant_group_size = 128;
  std::string tokenizer_json;  // copied to the directory when not empty
};

// Named presets: "tinyllama-1.1b" (hidden 2048, intermediate 5632, 22 layers, 32 heads, 4 KV
// heads, vocab 32000), "moe-4b" (Qwen3-30B-A3B's ratios at a size this machine holds: hidden
// 2048, 24 layers, 32 experts, top-4, moe_intermediate 768, 32 heads / 4 KV heads, head_dim 64,
// vocab 32000) and small test presets "tiny", "tiny-gqa4", "tiny-qwen2", "tiny-qwen3",
// "tiny-tied", "tiny-llama3", "tiny-mistral-window", "tiny-qwen3-moe", "tiny-qwen2-moe",
// "tiny-mixtral", "tiny-deepseek-v3" (FP8, noaux_tc, yarn, an MTP layer), "tiny-deepseek-v2"
// (q_proj, group_limited_greedy), and "deepseek-small" (a DeepSeek-V2-Lite-like shape at 1.3B for
// speed runs).
StatusOr<SyntheticModelSpec> PresetSpec(const std::string& name);
std::vector<std::string> PresetNames();

// Writes the model directory (created if needed; existing files are overwritten).
Status WriteSyntheticModel(const SyntheticModelSpec& spec, const std::string& dir);

}  // namespace mies::tools
