#include "make_model/synthetic_model.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "kernels/dtype.h"
#include "model/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace mies::tools {
namespace {

using model::SafetensorsWriter;
using model::TensorDType;

// splitmix64: a tiny, well-mixed generator whose output is the same on every platform (the
// standard library's distributions are not).
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
};

uint64_t HashName(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Fills n values mean + std·N(0,1) (Box–Muller), seeded by (seed, name).
void FillNormal(const std::string& name, uint64_t seed, double mean, double std, int64_t n,
                float* out) {
  Rng rng{seed ^ HashName(name)};
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = 1.0 - rng.Uniform(), u2 = rng.Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(mean + std * r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(mean + std * r * std::sin(2 * M_PI * u2));
  }
}

Status WriteText(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return Internal("cannot create ", path);
    f << text;
    if (!f) return Internal("cannot write ", path);
  }
  if (::chmod(path.c_str(), mode) != 0) return Internal("cannot chmod ", path);
  return OkStatus();
}

// float -> float8_e4m3fn, round to nearest (ties to even), saturating at +-448.
uint8_t EncodeE4m3(float x) {
  static const std::vector<float> positive = [] {
    std::vector<float> v(127);
    for (int b = 0; b < 127; ++b) {
      const int e = b >> 3, m = b & 7;
      v[b] = e == 0 ? std::ldexp(m / 8.0f, -6) : std::ldexp(1.0f + m / 8.0f, e - 7);
    }
    return v;
  }();
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const float a = std::min(std::abs(x), 448.0f);
  int best = 0;
  for (int b = 1; b < 127; ++b) {
    const float db = std::abs(positive[b] - a), dbest = std::abs(positive[best] - a);
    if (db < dbest || (db == dbest && b % 2 == 0)) best = b;
  }
  return static_cast<uint8_t>(sign | best);
}

}  // namespace

std::vector<std::string> PresetNames() {
  return {"tinyllama-1.1b", "moe-4b",           "tiny",
          "tiny-gqa4",      "tiny-qwen2",       "tiny-qwen3",
          "tiny-tied",      "tiny-llama3",      "tiny-mistral-window",
          "tiny-qwen3-moe", "tiny-qwen2-moe",   "tiny-mixtral",
          "deepseek-small", "tiny-deepseek-v3", "tiny-deepseek-v2"};
}

StatusOr<SyntheticModelSpec> PresetSpec(const std::string& name) {
  SyntheticModelSpec s;
  if (name == "tinyllama-1.1b") {
    s.hidden_size = 2048;
    s.intermediate_size = 5632;
    s.num_hidden_layers = 22;
    s.num_attention_heads = 32;
    s.num_key_value_heads = 4;
    s.vocab_size = 32000;
    s.max_position_embeddings = 2048;
    s.rms_norm_eps = 1e-5;
    return s;
  }
  if (name == "deepseek-small") {
    // DeepSeek-V2-Lite's layout (plain q_proj, kv_lora 512 -> 256 here, 2 shared experts, a dense
    // first layer, softmax greedy routing) at 1.3B: 16 layers, 32 routed experts, top-4.
    s.architecture = "DeepseekV2ForCausalLM";
    s.hidden_size = 1536;
    s.intermediate_size = 4096;
    s.num_hidden_layers = 16;
    s.num_attention_heads = 16;
    s.num_key_value_heads = 16;
    s.vocab_size = 32000;
    s.max_position_embeddings = 4096;
    s.kv_lora_rank = 256;
    s.qk_nope_head_dim = 64;
    s.qk_rope_head_dim = 32;
    s.v_head_dim = 64;
    s.num_experts = 32;
    s.num_experts_per_tok = 4;
    s.moe_intermediate_size = 512;
    s.n_shared_experts = 2;
    s.first_k_dense_replace = 1;
    s.router_std = 0.02;
    s.rms_norm_eps = 1e-6;
    s.dtype = "bfloat16";
    return s;
  }
  if (name == "moe-4b") {
    s.architecture = "Qwen3MoeForCausalLM";
    s.qk_norm = true;
    s.hidden_size = 2048;
    s.intermediate_size = 6144;  // no dense layer uses it
    s.num_hidden_layers = 24;
    s.num_attention_heads = 32;
    s.num_key_value_heads = 4;
    s.head_dim = 64;
    s.vocab_size = 32000;
    s.max_position_embeddings = 4096;
    s.rope_theta = 1000000.0;
    s.rms_norm_eps = 1e-6;
    s.num_experts = 32;
    s.num_experts_per_tok = 4;
    s.moe_intermediate_size = 768;
    s.norm_topk_prob = true;
    s.router_std = 0.02;
    s.dtype = "bfloat16";  // 7.9 GB on disk (float32 would be twice that)
    return s;
  }
  // Small test models: big enough to have several heads per KV group and uneven splits of the
  // intermediate size, small enough for numpy to check in a second.
  s.hidden_size = 64;
  s.intermediate_size = 160;
  s.num_hidden_layers = 2;
  s.num_attention_heads = 8;
  s.num_key_value_heads = 2;
  s.vocab_size = 384;
  s.max_position_embeddings = 512;
  s.init_std = 0.15;  // peaked enough that greedy choices are not near-ties
  s.norm_jitter = 0.1;
  if (name == "tiny") return s;
  if (name == "tiny-gqa4") {
    s.num_key_value_heads = 1;  // GQA 8:1 (also exercises KV-head replication under TP)
    s.intermediate_size = 150;  // uneven split over 4 ranks
    s.vocab_size = 383;         // uneven vocab shards
    return s;
  }
  if (name == "tiny-qwen2") {
    s.architecture = "Qwen2ForCausalLM";
    s.qkv_bias = true;
    s.rope_theta = 1000000.0;
    return s;
  }
  if (name == "tiny-qwen3") {
    s.architecture = "Qwen3ForCausalLM";
    s.qk_norm = true;
    s.head_dim = 16;  // head_dim * heads (128) differs from hidden_size (64), as in Qwen3
    s.rope_theta = 1000000.0;
    return s;
  }
  if (name == "tiny-tied") {
    s.tie_word_embeddings = true;
    return s;
  }
  if (name == "tiny-llama3") {
    s.rope_scaling = "llama3";
    s.rope_factor = 8.0;
    s.rope_original_max = 64;
    s.head_dim = 16;
    s.num_attention_heads = 4;
    return s;
  }
  if (name == "tiny-mistral-window") {
    s.architecture = "MistralForCausalLM";
    s.sliding_window = 8;  // shorter than the tests' prompts
    return s;
  }
  // MoE test models: 8 experts (4 per rank at EP 2, 2 at EP 4), top-2, an uneven expert slice
  // under MoE tensor parallelism (Ie = 40 over 3 ranks).
  if (name == "tiny-qwen3-moe") {
    s.architecture = "Qwen3MoeForCausalLM";
    s.qk_norm = true;
    s.head_dim = 16;
    s.rope_theta = 1000000.0;
    s.num_hidden_layers = 3;
    s.num_experts = 8;
    s.num_experts_per_tok = 2;
    s.moe_intermediate_size = 40;
    s.norm_topk_prob = true;
    s.mlp_only_layers = {1};  // one dense layer between two MoE layers
    return s;
  }
  if (name == "tiny-qwen2-moe") {
    s.architecture = "Qwen2MoeForCausalLM";
    s.qkv_bias = true;
    s.rope_theta = 1000000.0;
    s.num_experts = 8;
    s.num_experts_per_tok = 3;
    s.moe_intermediate_size = 40;
    s.shared_expert_intermediate_size = 96;
    return s;
  }
  if (name == "tiny-mixtral") {
    s.architecture = "MixtralForCausalLM";
    s.intermediate_size = 48;  // Mixtral's experts use intermediate_size
    s.num_experts = 8;
    s.num_experts_per_tok = 2;
    s.sliding_window = 16;
    return s;
  }
  if (name == "tiny-deepseek-v3" || name == "tiny-deepseek-v2") {
    // Every DeepSeek feature at a size numpy checks in a second: V3 with a q LoRA, sigmoid
    // noaux_tc routing over 4 groups, a shared expert, a dense first layer, yarn, FP8 block
    // scales (16 x 16 blocks, uneven at the edges) and an MTP layer; V2 with plain q_proj, softmax
    // group-limited routing and no renormalization.
    const bool v3 = name == "tiny-deepseek-v3";
    s.architecture = v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM";
    s.num_attention_heads = 4;
    s.num_key_value_heads = 4;
    s.intermediate_size = 96;
    s.num_hidden_layers = 3;
    s.q_lora_rank = v3 ? 40 : 0;
    s.kv_lora_rank = 24;
    s.qk_nope_head_dim = 16;
    s.qk_rope_head_dim = 8;
    s.v_head_dim = 12;
    s.num_experts = 8;
    s.num_experts_per_tok = 3;
    s.moe_intermediate_size = 20;
    s.n_shared_experts = v3 ? 1 : 2;
    s.first_k_dense_replace = 1;
    s.scoring_func = v3 ? "sigmoid" : "softmax";
    s.topk_method = v3 ? "noaux_tc" : "group_limited_greedy";
    s.n_group = 4;
    s.topk_group = 2;
    s.norm_topk_prob = v3;
    s.routed_scaling_factor = v3 ? 2.5 : 1.5;
    s.rope_scaling = "yarn";
    s.rope_factor = 4.0;
    s.rope_original_max = 64;
    s.yarn_mscale = v3 ? 1.0 : 0.707;
    s.yarn_mscale_all_dim = v3 ? 1.0 : 0.707;
    s.fp8_block = v3 ? 16 : 0;
    s.num_nextn_predict_layers = v3 ? 1 : 0;
    return s;
  }
  std::string names;
  for (const auto& n : PresetNames()) names += (names.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown preset \"", name, "\" (presets: ", names, ")");
}

Status WriteSyntheticModel(const SyntheticModelSpec& s, const std::string& dir) {
  namespace fs = std::filesystem;
  const bool mixtral = s.architecture == "MixtralForCausalLM";
  const bool qwen2 =
      s.architecture == "Qwen2ForCausalLM" || s.architecture == "Qwen2MoeForCausalLM";
  const bool qwen3 =
      s.architecture == "Qwen3ForCausalLM" || s.architecture == "Qwen3MoeForCausalLM";
  const bool deepseek =
      s.architecture == "DeepseekV2ForCausalLM" || s.architecture == "DeepseekV3ForCausalLM";
  const bool moe = mixtral || s.architecture == "Qwen2MoeForCausalLM" ||
                   s.architecture == "Qwen3MoeForCausalLM" || (deepseek && s.num_experts > 0);
  const bool mistral = s.architecture == "MistralForCausalLM";
  if (s.architecture != "LlamaForCausalLM" && !mistral && !qwen2 && !qwen3 && !mixtral &&
      !deepseek) {
    return InvalidArgument("architecture \"", s.architecture,
                           "\" is not one the generator writes (LlamaForCausalLM, "
                           "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
                           "Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, MixtralForCausalLM, "
                           "DeepseekV2ForCausalLM, DeepseekV3ForCausalLM)");
  }
  if (deepseek && (s.kv_lora_rank < 1 || s.qk_nope_head_dim < 1 || s.qk_rope_head_dim < 2 ||
                   s.v_head_dim < 1 || s.qk_rope_head_dim % 2 != 0)) {
    return InvalidArgument(
        "DeepSeek needs kv_lora_rank, qk_nope_head_dim, v_head_dim >= 1 and "
        "an even qk_rope_head_dim >= 2");
  }
  if (qwen2 && !s.qkv_bias) return InvalidArgument(s.architecture, " always has q/k/v biases");
  if (qwen3 && !s.qk_norm) return InvalidArgument(s.architecture, " always has q/k norms");
  if (s.qk_norm && !qwen3) return InvalidArgument("q/k norms need a Qwen3 architecture");
  if (moe &&
      (s.num_experts < 1 || s.num_experts_per_tok < 1 || s.num_experts_per_tok > s.num_experts ||
       (!mixtral && s.moe_intermediate_size < 1) || s.decoder_sparse_step < 1)) {
    return InvalidArgument(
        "a MoE model needs num_experts >= num_experts_per_tok >= 1, "
        "moe_intermediate_size >= 1 and decoder_sparse_step >= 1");
  }
  if (!moe && s.num_experts > 0) {
    return InvalidArgument(
        "experts need a MoE architecture (Qwen3MoeForCausalLM, "
        "Qwen2MoeForCausalLM, MixtralForCausalLM)");
  }
  if (s.sliding_window > 0 && !mistral && !mixtral) {
    return InvalidArgument("sliding_window needs MistralForCausalLM or MixtralForCausalLM");
  }
  if (s.hidden_size <= 0 || s.intermediate_size <= 0 || s.num_hidden_layers <= 0 ||
      s.num_attention_heads <= 0 || s.num_key_value_heads <= 0 || s.vocab_size <= 0 ||
      s.shards < 1) {
    return InvalidArgument("sizes, layer/head counts and shards must be positive");
  }
  if (s.num_attention_heads % s.num_key_value_heads != 0) {
    return InvalidArgument("num_attention_heads ", s.num_attention_heads,
                           " must be a multiple of num_key_value_heads ", s.num_key_value_heads);
  }
  const int64_t hd = s.head_dim > 0 ? s.head_dim : s.hidden_size / s.num_attention_heads;
  if (!deepseek &&
      (hd % 2 != 0 || (s.head_dim == 0 && s.hidden_size % s.num_attention_heads != 0))) {
    return InvalidArgument("head_dim ", hd, " must be even and hidden_size a multiple of heads");
  }
  TensorDType dtype;
  if (s.dtype == "float32") {
    dtype = TensorDType::kF32;
  } else if (s.dtype == "bfloat16") {
    dtype = TensorDType::kBF16;
  } else if (s.dtype == "float16") {
    dtype = TensorDType::kF16;
  } else {
    return InvalidArgument("dtype \"", s.dtype, "\" (supported: float32, bfloat16, float16)");
  }
  const bool gptq = s.quant == "gptq", awq = s.quant == "awq";
  if (!gptq && !awq && s.quant != "none") {
    return InvalidArgument("quant \"", s.quant, "\" (supported: none, gptq, awq)");
  }
  if ((gptq || awq) &&
      (s.quant_group_size <= 0 || s.quant_group_size % 8 != 0 || s.hidden_size % 8 != 0 ||
       s.intermediate_size % s.quant_group_size != 0 || s.hidden_size % s.quant_group_size != 0 ||
       (s.num_attention_heads * hd) % s.quant_group_size != 0 ||
       (s.num_key_value_heads * hd) % 8)) {
    return InvalidArgument(
        "4-bit checkpoints need matrix dimensions that are multiples of 8 and "
        "of the group size ",
        s.quant_group_size);
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create ", dir, ": ", ec.message());

  // config.json
  nlohmann::ordered_json cfg;
  cfg["architectures"] = {s.architecture};
  static const std::map<std::string, std::string> kModelType = {
      {"LlamaForCausalLM", "llama"},           {"MistralForCausalLM", "mistral"},
      {"Qwen2ForCausalLM", "qwen2"},           {"Qwen3ForCausalLM", "qwen3"},
      {"Qwen2MoeForCausalLM", "qwen2_moe"},    {"Qwen3MoeForCausalLM", "qwen3_moe"},
      {"MixtralForCausalLM", "mixtral"},       {"DeepseekV2ForCausalLM", "deepseek_v2"},
      {"DeepseekV3ForCausalLM", "deepseek_v3"}};
  cfg["model_type"] = kModelType.at(s.architecture);
  cfg["hidden_size"] = s.hidden_size;
  cfg["intermediate_size"] = s.intermediate_size;
  cfg["num_hidden_layers"] = s.num_hidden_layers;
  cfg["num_attention_heads"] = s.num_attention_heads;
  cfg["num_key_value_heads"] = s.num_key_value_heads;
  if (s.head_dim > 0) cfg["head_dim"] = s.head_dim;
  cfg["vocab_size"] = s.vocab_size;
  cfg["max_position_embeddings"] = s.max_position_embeddings;
  cfg["rms_norm_eps"] = s.rms_norm_eps;
  cfg["rope_theta"] = s.rope_theta;
  if (s.rope_scaling == "none") {
    cfg["rope_scaling"] = nullptr;
  } else if (s.rope_scaling == "linear") {
    cfg["rope_scaling"] = {{"rope_type", "linear"}, {"factor", s.rope_factor}};
  } else if (s.rope_scaling == "yarn") {
    cfg["rope_scaling"] = {{"type", "yarn"},
                           {"factor", s.rope_factor},
                           {"original_max_position_embeddings", s.rope_original_max},
                           {"beta_fast", s.yarn_beta_fast},
                           {"beta_slow", s.yarn_beta_slow},
                           {"mscale", s.yarn_mscale},
                           {"mscale_all_dim", s.yarn_mscale_all_dim}};
  } else if (s.rope_scaling == "llama3") {
    cfg["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", s.rope_factor},
                           {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", s.rope_original_max}};
  } else {
    return InvalidArgument("rope_scaling \"", s.rope_scaling,
                           "\" (supported: none, linear, llama3, yarn)");
  }
  cfg["hidden_act"] = "silu";
  const bool llama_bias = s.qkv_bias && !qwen2;  // Llama's attention_bias covers o_proj too
  if (!qwen2) cfg["attention_bias"] = llama_bias;
  if (mistral || mixtral) {
    cfg["sliding_window"] =
        s.sliding_window > 0 ? nlohmann::ordered_json(s.sliding_window) : nullptr;
  }
  if (mixtral) {
    cfg["num_local_experts"] = s.num_experts;
    cfg["num_experts_per_tok"] = s.num_experts_per_tok;
  } else if (moe) {
    cfg["num_experts"] = s.num_experts;
    cfg["num_experts_per_tok"] = s.num_experts_per_tok;
    cfg["moe_intermediate_size"] = s.moe_intermediate_size;
    cfg["norm_topk_prob"] = s.norm_topk_prob;
    cfg["decoder_sparse_step"] = s.decoder_sparse_step;
    cfg["mlp_only_layers"] = s.mlp_only_layers;
    if (s.architecture == "Qwen2MoeForCausalLM") {
      cfg["shared_expert_intermediate_size"] = s.shared_expert_intermediate_size;
    }
  }
  if (deepseek) {
    cfg["q_lora_rank"] = s.q_lora_rank > 0 ? nlohmann::ordered_json(s.q_lora_rank) : nullptr;
    cfg["kv_lora_rank"] = s.kv_lora_rank;
    cfg["qk_nope_head_dim"] = s.qk_nope_head_dim;
    cfg["qk_rope_head_dim"] = s.qk_rope_head_dim;
    cfg["v_head_dim"] = s.v_head_dim;
    cfg["rope_interleave"] = s.rope_interleave;
    cfg["attention_bias"] = false;
    cfg["n_routed_experts"] = s.num_experts > 0 ? nlohmann::ordered_json(s.num_experts) : nullptr;
    cfg["num_experts_per_tok"] = s.num_experts_per_tok;
    cfg["moe_intermediate_size"] = s.moe_intermediate_size;
    cfg["n_shared_experts"] = s.n_shared_experts;
    cfg["first_k_dense_replace"] = s.first_k_dense_replace;
    cfg["moe_layer_freq"] = s.moe_layer_freq;
    cfg["scoring_func"] = s.scoring_func;
    cfg["topk_method"] = s.topk_method;
    cfg["n_group"] = s.n_group;
    cfg["topk_group"] = s.topk_group;
    cfg["norm_topk_prob"] = s.norm_topk_prob;
    cfg["routed_scaling_factor"] = s.routed_scaling_factor;
    cfg["num_nextn_predict_layers"] = s.num_nextn_predict_layers;
    if (s.fp8_block > 0) {
      cfg["quantization_config"] = {{"quant_method", "fp8"},
                                    {"fmt", "e4m3"},
                                    {"activation_scheme", "dynamic"},
                                    {"weight_block_size", {s.fp8_block, s.fp8_block}}};
    }
  }
  cfg["tie_word_embeddings"] = s.tie_word_embeddings;
  cfg["torch_dtype"] = s.dtype;
  if (gptq) {
    cfg["quantization_config"] = {
        {"quant_method", "gptq"}, {"bits", 4},   {"group_size", s.quant_group_size},
        {"desc_act", false},      {"sym", true}, {"checkpoint_format", "gptq"}};
  } else if (awq) {
    cfg["quantization_config"] = {{"quant_method", "awq"},
                                  {"bits", 4},
                                  {"group_size", s.quant_group_size},
                                  {"zero_point", true},
                                  {"version", "gemm"}};
  }
  cfg["bos_token_id"] = 1;
  cfg["eos_token_id"] = 2;
  MIES_RETURN_IF_ERROR(
      WriteText((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n", 0640));
  nlohmann::ordered_json gen = {{"bos_token_id", 1}, {"eos_token_id", {2}}, {"do_sample", false}};
  MIES_RETURN_IF_ERROR(
      WriteText((fs::path(dir) / "generation_config.json").string(), gen.dump(2) + "\n", 0640));
  if (!s.tokenizer_json.empty()) {
    fs::copy_file(s.tokenizer_json, fs::path(dir) / "tokenizer.json",
                  fs::copy_options::overwrite_existing, ec);
    if (ec) return Internal("cannot copy ", s.tokenizer_json, ": ", ec.message());
  }

  // Tensors, grouped per shard file: shard k takes layers [k*L/n, (k+1)*L/n); embeddings go to
  // the first shard and the final norm / lm_head to the last.
  std::vector<SafetensorsWriter> writers(static_cast<size_t>(s.shards));
  std::map<std::string, int> weight_map;
  // `values_of` (default: the name itself) names the values: equal experts take the dense MLP's.
  auto add = [&](int shard, const std::string& name, std::vector<int64_t> shape, double mean,
                 double std, std::string values_of = "") -> Status {
    weight_map[name] = shard;
    const uint64_t seed = s.seed;
    if (values_of.empty()) values_of = name;
    return writers[shard].AddLazy(
        name, dtype, shape, [values_of, seed, mean, std, dtype](std::byte* dst, size_t size) {
          const int64_t n = static_cast<int64_t>(size) / model::TensorDTypeSize(dtype);
          std::vector<float> v(static_cast<size_t>(n));
          FillNormal(values_of, seed, mean, std, n, v.data());
          if (dtype == TensorDType::kF32) {
            std::memcpy(dst, v.data(), size);
          } else if (dtype == TensorDType::kBF16) {
            kernels::ConvertF32ToBF16(v.data(), n, reinterpret_cast<uint16_t*>(dst));
          } else {
            kernels::ConvertF32ToF16(v.data(), n, reinterpret_cast<uint16_t*>(dst));
          }
        });
  };
  // A linear weight: like `add`, or FP8 (fp8_block > 0, DeepSeek only) as float8_e4m3fn values
  // with one f32 `<name>_scale_inv` per block (max |w| of the block / 448, e4m3's largest value).
  auto add_matrix = [&](int shard, const std::string& name, std::vector<int64_t> shape, double std,
                        std::string values_of = "") -> Status {
    if (!(deepseek && s.fp8_block > 0)) return add(shard, name, shape, 0, std, values_of);
    if (values_of.empty()) values_of = name;
    const int64_t rows = shape[0], cols = shape[1], b = s.fp8_block;
    const int64_t br = (rows + b - 1) / b, bc = (cols + b - 1) / b;
    const uint64_t seed = s.seed;
    // The block scales of a tensor, from the same values its FP8 bytes are made from.
    auto scales = [=](const std::vector<float>& v) {
      std::vector<float> sc(static_cast<size_t>(br * bc), 0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          float& m = sc[(r / b) * bc + c / b];
          m = std::max(m, std::abs(v[r * cols + c]));
        }
      }
      for (float& m : sc) m = m > 0 ? m / 448.0f : 1.0f;
      return sc;
    };
    weight_map[name] = shard;
    weight_map[name + "_scale_inv"] = shard;
    MIES_RETURN_IF_ERROR(
        writers[shard].AddLazy(name, TensorDType::kF8E4M3, shape, [=](std::byte* dst, size_t size) {
          std::vector<float> v(size);
          FillNormal(values_of, seed, 0, std, static_cast<int64_t>(size), v.data());
          const std::vector<float> sc = scales(v);
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t c = 0; c < cols; ++c) {
              dst[r * cols + c] =
                  static_cast<std::byte>(EncodeE4m3(v[r * cols + c] / sc[(r / b) * bc + c / b]));
            }
          }
        }));
    return writers[shard].AddLazy(name + "_scale_inv", TensorDType::kF32, {br, bc},
                                  [=](std::byte* dst, size_t size) {
                                    std::vector<float> v(static_cast<size_t>(rows * cols));
                                    FillNormal(values_of, seed, 0, std, rows * cols, v.data());
                                    const std::vector<float> sc = scales(v);
                                    std::memcpy(dst, sc.data(), size);
                                  });
  };
  // A 4-bit matrix [out][in] under `base` (--quant gptq|awq; else a float `base`.weight): quantized
  // round-to-nearest per (output, group) from the values add() would write for base + ".weight",
  // packed as GPTQ or AWQ publish them.
  auto add_quantized = [&](int shard, const std::string& base, int64_t out, int64_t in) -> Status {
    if (!gptq && !awq) return add(shard, base + ".weight", {out, in}, 0, s.init_std);
    const int64_t g = s.quant_group_size, groups = in / g;
    std::vector<float> wv(static_cast<size_t>(out * in));
    FillNormal(base + ".weight", s.seed, 0, s.init_std, out * in, wv.data());
    auto qw = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(out * in / 8), 0);
    auto qz = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(groups * out / 8), 0);
    auto sc = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(groups * out));
    static constexpr int kAwqSlot[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // nibble j holds column slot[j]
    int awq_nibble[8];
    for (int j = 0; j < 8; ++j) awq_nibble[kAwqSlot[j]] = j;
    auto put = [](int32_t& word, int nibble, int v) {
      word = static_cast<int32_t>(static_cast<uint32_t>(word) |
                                  (static_cast<uint32_t>(v & 15) << (4 * nibble)));
    };
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t gi = 0; gi < groups; ++gi) {
        const float* w = wv.data() + o * in + gi * g;
        float lo = 0, hi = 0;
        for (int64_t k = 0; k < g; ++k) lo = std::min(lo, w[k]), hi = std::max(hi, w[k]);
        int zero;
        float scale;
        if (gptq) {  // symmetric: zero 8
          scale = kernels::F16ToF32(kernels::F32ToF16(2 * std::max(-lo, hi) / 15));
          zero = 8;
        } else {
          scale = kernels::F16ToF32(kernels::F32ToF16((hi - lo) / 15));
          zero =
              scale == 0 ? 0 : static_cast<int>(std::clamp(std::nearbyint(-lo / scale), 0.f, 15.f));
        }
        (*sc)[static_cast<size_t>(gi * out + o)] = kernels::F32ToF16(scale);
        const int stored_zero = gptq ? zero - 1 : zero;
        put((*qz)[static_cast<size_t>(gi * (out / 8) + o / 8)],
            gptq ? static_cast<int>(o % 8) : awq_nibble[o % 8], stored_zero);
        for (int64_t k = 0; k < g; ++k) {
          const int64_t i = gi * g + k;
          const int q =
              scale == 0
                  ? zero
                  : static_cast<int>(std::clamp(std::nearbyint(w[k] / scale) + zero, 0.f, 15.f));
          if (gptq) {
            put((*qw)[static_cast<size_t>((i / 8) * out + o)], static_cast<int>(i % 8), q);
          } else {
            put((*qw)[static_cast<size_t>(i * (out / 8) + o / 8)], awq_nibble[o % 8], q);
          }
        }
      }
    }
    auto write_vec = [&](const std::string& name, TensorDType dt, std::vector<int64_t> shape,
                         auto data) -> Status {
      weight_map[name] = shard;
      return writers[shard].AddLazy(name, dt, shape, [data](std::byte* dst, size_t size) {
        std::memcpy(dst, data->data(), size);
      });
    };
    MIES_RETURN_IF_ERROR(write_vec(
        base + ".qweight", TensorDType::kI32,
        gptq ? std::vector<int64_t>{in / 8, out} : std::vector<int64_t>{in, out / 8}, qw));
    MIES_RETURN_IF_ERROR(write_vec(base + ".qzeros", TensorDType::kI32, {groups, out / 8}, qz));
    MIES_RETURN_IF_ERROR(write_vec(base + ".scales", TensorDType::kF16, {groups, out}, sc));
    if (gptq) {
      auto gidx = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(in));
      for (int64_t i = 0; i < in; ++i)
        (*gidx)[static_cast<size_t>(i)] = static_cast<int32_t>(i / g);
      MIES_RETURN_IF_ERROR(write_vec(base + ".g_idx", TensorDType::kI32, {in}, gidx));
    }
    return OkStatus();
  };
  const int64_t D = s.hidden_size, I = s.intermediate_size, V = s.vocab_size;
  const int64_t H = s.num_attention_heads, KV = s.num_key_value_heads;
  const double w = s.init_std, nj = s.norm_jitter;
  const int last = s.shards - 1;
  MIES_RETURN_IF_ERROR(add(0, "model.embed_tokens.weight", {V, D}, 0, w));
  // DeepSeek-V3 files also hold its multi-token-prediction layers after the last decoder layer.
  const int64_t written_layers = s.num_hidden_layers + (deepseek ? s.num_nextn_predict_layers : 0);
  for (int64_t l = 0; l < written_layers; ++l) {
    const int k =
        static_cast<int>(std::min(l, s.num_hidden_layers - 1) * s.shards / s.num_hidden_layers);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    MIES_RETURN_IF_ERROR(add(k, p + "input_layernorm.weight", {D}, 1, nj));
    if (deepseek) {
      const std::string a = p + "self_attn.";
      const int64_t qk = s.qk_nope_head_dim + s.qk_rope_head_dim;
      if (s.q_lora_rank > 0) {
        MIES_RETURN_IF_ERROR(add_matrix(k, a + "q_a_proj.weight", {s.q_lora_rank, D}, w));
        MIES_RETURN_IF_ERROR(add(k, a + "q_a_layernorm.weight", {s.q_lora_rank}, 1, nj));
        MIES_RETURN_IF_ERROR(add_matrix(k, a + "q_b_proj.weight", {H * qk, s.q_lora_rank}, w));
      } else {
        MIES_RETURN_IF_ERROR(add_matrix(k, a + "q_proj.weight", {H * qk, D}, w));
      }
      MIES_RETURN_IF_ERROR(add_matrix(k, a + "kv_a_proj_with_mqa.weight",
                                      {s.kv_lora_rank + s.qk_rope_head_dim, D}, w));
      MIES_RETURN_IF_ERROR(add(k, a + "kv_a_layernorm.weight", {s.kv_lora_rank}, 1, nj));
      MIES_RETURN_IF_ERROR(add_matrix(
          k, a + "kv_b_proj.weight", {H * (s.qk_nope_head_dim + s.v_head_dim), s.kv_lora_rank}, w));
      MIES_RETURN_IF_ERROR(add_matrix(k, a + "o_proj.weight", {D, H * s.v_head_dim}, w));
    } else {
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "self_attn.q_proj", H * hd, D));
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "self_attn.k_proj", KV * hd, D));
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "self_attn.v_proj", KV * hd, D));
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "self_attn.o_proj", D, H * hd));
    }
    if (s.qkv_bias) {
      MIES_RETURN_IF_ERROR(add(k, p + "self_attn.q_proj.bias", {H * hd}, 0, w));
      MIES_RETURN_IF_ERROR(add(k, p + "self_attn.k_proj.bias", {KV * hd}, 0, w));
      MIES_RETURN_IF_ERROR(add(k, p + "self_attn.v_proj.bias", {KV * hd}, 0, w));
    }
    if (llama_bias) MIES_RETURN_IF_ERROR(add(k, p + "self_attn.o_proj.bias", {D}, 0, w));
    if (s.qk_norm) {
      MIES_RETURN_IF_ERROR(add(k, p + "self_attn.q_norm.weight", {hd}, 1, nj));
      MIES_RETURN_IF_ERROR(add(k, p + "self_attn.k_norm.weight", {hd}, 1, nj));
    }
    MIES_RETURN_IF_ERROR(add(k, p + "post_attention_layernorm.weight", {D}, 1, nj));
    const bool sparse =
        moe && (mixtral || (deepseek ? l >= s.first_k_dense_replace && l % s.moe_layer_freq == 0
                                     : std::find(s.mlp_only_layers.begin(), s.mlp_only_layers.end(),
                                                 l) == s.mlp_only_layers.end() &&
                                           (l + 1) % s.decoder_sparse_step == 0));
    if (l >= s.num_hidden_layers) {  // an MTP layer's own tensors (never loaded)
      MIES_RETURN_IF_ERROR(add(k, p + "enorm.weight", {D}, 1, nj));
      MIES_RETURN_IF_ERROR(add(k, p + "hnorm.weight", {D}, 1, nj));
      MIES_RETURN_IF_ERROR(add_matrix(k, p + "eh_proj.weight", {D, 2 * D}, w));
    }
    if (!sparse && deepseek) {
      MIES_RETURN_IF_ERROR(add_matrix(k, p + "mlp.gate_proj.weight", {I, D}, w));
      MIES_RETURN_IF_ERROR(add_matrix(k, p + "mlp.up_proj.weight", {I, D}, w));
      MIES_RETURN_IF_ERROR(add_matrix(k, p + "mlp.down_proj.weight", {D, I}, w));
      continue;
    }
    if (!sparse) {
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "mlp.gate_proj", I, D));
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "mlp.up_proj", I, D));
      MIES_RETURN_IF_ERROR(add_quantized(k, p + "mlp.down_proj", D, I));
      continue;
    }
    const int64_t Ie = mixtral ? I : s.moe_intermediate_size, E = s.num_experts;
    const std::string m = p + (mixtral ? "block_sparse_moe." : "mlp.");
    // Mixtral names an expert's gate/up/down w1/w3/w2.
    const char* gate = mixtral ? ".w1.weight" : ".gate_proj.weight";
    const char* up = mixtral ? ".w3.weight" : ".up_proj.weight";
    const char* down = mixtral ? ".w2.weight" : ".down_proj.weight";
    auto dense = [&](const char* t) { return s.equal_experts ? p + "mlp." + t : std::string(); };
    MIES_RETURN_IF_ERROR(add(k, m + "gate.weight", {E, D}, 0, s.router_std));
    for (int64_t e = 0; e < E; ++e) {
      const std::string x = m + "experts." + std::to_string(e);
      MIES_RETURN_IF_ERROR(add_matrix(k, x + gate, {Ie, D}, w, dense("gate_proj.weight")));
      MIES_RETURN_IF_ERROR(add_matrix(k, x + up, {Ie, D}, w, dense("up_proj.weight")));
      MIES_RETURN_IF_ERROR(add_matrix(k, x + down, {D, Ie}, w, dense("down_proj.weight")));
    }
    if (deepseek) {
      if (s.topk_method == "noaux_tc") {
        MIES_RETURN_IF_ERROR(writers[k].AddLazy(
            m + "gate.e_score_correction_bias", TensorDType::kF32, {E},
            [name = m + "gate.e_score_correction_bias", seed = s.seed, sd = s.correction_bias_std](
                std::byte* dst, size_t size) {
              std::vector<float> v(size / 4);
              FillNormal(name, seed, 0, sd, static_cast<int64_t>(v.size()), v.data());
              std::memcpy(dst, v.data(), size);
            }));
        weight_map[m + "gate.e_score_correction_bias"] = k;
      }
      const int64_t Is = s.n_shared_experts * Ie;
      if (Is > 0) {
        MIES_RETURN_IF_ERROR(add_matrix(k, m + "shared_experts.gate_proj.weight", {Is, D}, w));
        MIES_RETURN_IF_ERROR(add_matrix(k, m + "shared_experts.up_proj.weight", {Is, D}, w));
        MIES_RETURN_IF_ERROR(add_matrix(k, m + "shared_experts.down_proj.weight", {D, Is}, w));
      }
      continue;
    }
    const int64_t Is = s.shared_expert_intermediate_size;
    if (Is > 0) {
      MIES_RETURN_IF_ERROR(add(k, m + "shared_expert.gate_proj.weight", {Is, D}, 0, w));
      MIES_RETURN_IF_ERROR(add(k, m + "shared_expert.up_proj.weight", {Is, D}, 0, w));
      MIES_RETURN_IF_ERROR(add(k, m + "shared_expert.down_proj.weight", {D, Is}, 0, w));
      MIES_RETURN_IF_ERROR(add(k, m + "shared_expert_gate.weight", {1, D}, 0, s.router_std));
    }
  }
  MIES_RETURN_IF_ERROR(add(last, "model.norm.weight", {D}, 1, nj));
  if (!s.tie_word_embeddings) MIES_RETURN_IF_ERROR(add(last, "lm_head.weight", {V, D}, 0, w));

  if (s.shards == 1) {
    writers[0].SetMetadata("format", "pt");
    return writers[0].Write((fs::path(dir) / "model.safetensors").string());
  }
  nlohmann::ordered_json index;
  index["metadata"] = nlohmann::ordered_json::object();
  auto file_name = [&](int k) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", k + 1, s.shards);
    return std::string(buf);
  };
  for (const auto& [name, k] : weight_map) index["weight_map"][name] = file_name(k);
  for (int k = 0; k < s.shards; ++k) {
    writers[k].SetMetadata("format", "pt");
    MIES_RETURN_IF_ERROR(writers[k].Write((fs::path(dir) / file_name(k)).string()));
  }
  return WriteText((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n",
                   0640);
}

}  // namespace mies::tools
