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
  int shards = 1;  // > 1: sharded checkpoint with an index
  // "gptq" or "awq": the q/k/v/o/gate/up/down matrices are written 4-bit as those tools publish
  // them (GPTQ: symmetric, zero 8 stored as 7, g_idx; AWQ: asymmetric, GEMM packing), from the
  // same seeded values a float model would hold; embeddings, norms and lm_head stay float.
  std::string quant = "none";
  int64_t quant_group_size = 128;
  std::string tokenizer_json;  // copied to the directory when not empty
};

// Named presets: "tinyllama-1.1b" (hidden 2048, intermediate 5632, 22 layers, 32 heads, 4 KV
// heads, vocab 32000) and small test presets "tiny", "tiny-gqa4", "tiny-qwen2", "tiny-qwen3",
// "tiny-tied", "tiny-llama3".
StatusOr<SyntheticModelSpec> PresetSpec(const std::string& name);
std::vector<std::string> PresetNames();

// Writes the model directory (created if needed; existing files are overwritten).
Status WriteSyntheticModel(const SyntheticModelSpec& spec, const std::string& dir);

}  // namespace mies::tools
