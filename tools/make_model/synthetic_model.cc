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

}  // namespace

std::vector<std::string> PresetNames() {
  return {"tinyllama-1.1b", "tiny",      "tiny-gqa4",  "tiny-qwen2",
          "tiny-qwen3",     "tiny-tied", "tiny-llama3"};
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
  std::string names;
  for (const auto& n : PresetNames()) names += (names.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown preset \"", name, "\" (presets: ", names, ")");
}

Status WriteSyntheticModel(const SyntheticModelSpec& s, const std::string& dir) {
  namespace fs = std::filesystem;
  const bool qwen2 = s.architecture == "Qwen2ForCausalLM";
  const bool qwen3 = s.architecture == "Qwen3ForCausalLM";
  if (s.architecture != "LlamaForCausalLM" && s.architecture != "MistralForCausalLM" && !qwen2 &&
      !qwen3) {
    return InvalidArgument("architecture \"", s.architecture,
                           "\" is not one the generator writes (LlamaForCausalLM, "
                           "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  }
  if (qwen2 && !s.qkv_bias) return InvalidArgument("Qwen2ForCausalLM always has q/k/v biases");
  if (qwen3 && !s.qk_norm) return InvalidArgument("Qwen3ForCausalLM always has q/k norms");
  if (s.qk_norm && !qwen3) return InvalidArgument("q/k norms need Qwen3ForCausalLM");
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
  if (hd % 2 != 0 || (s.head_dim == 0 && s.hidden_size % s.num_attention_heads != 0)) {
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
  cfg["model_type"] = qwen2                                    ? "qwen2"
                      : qwen3                                  ? "qwen3"
                      : s.architecture == "MistralForCausalLM" ? "mistral"
                                                               : "llama";
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
  } else if (s.rope_scaling == "llama3") {
    cfg["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", s.rope_factor},
                           {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", s.rope_original_max}};
  } else {
    return InvalidArgument("rope_scaling \"", s.rope_scaling,
                           "\" (supported: none, linear, llama3)");
  }
  cfg["hidden_act"] = "silu";
  const bool llama_bias = s.qkv_bias && !qwen2;  // Llama's attention_bias covers o_proj too
  if (!qwen2) cfg["attention_bias"] = llama_bias;
  if (s.architecture == "MistralForCausalLM") cfg["sliding_window"] = nullptr;
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
  auto add = [&](int shard, const std::string& name, std::vector<int64_t> shape, double mean,
                 double std) -> Status {
    weight_map[name] = shard;
    const uint64_t seed = s.seed;
    return writers[shard].AddLazy(
        name, dtype, shape, [name, seed, mean, std, dtype](std::byte* dst, size_t size) {
          const int64_t n = static_cast<int64_t>(size) / model::TensorDTypeSize(dtype);
          std::vector<float> v(static_cast<size_t>(n));
          FillNormal(name, seed, mean, std, n, v.data());
          if (dtype == TensorDType::kF32) {
            std::memcpy(dst, v.data(), size);
          } else if (dtype == TensorDType::kBF16) {
            kernels::ConvertF32ToBF16(v.data(), n, reinterpret_cast<uint16_t*>(dst));
          } else {
            kernels::ConvertF32ToF16(v.data(), n, reinterpret_cast<uint16_t*>(dst));
          }
        });
  };
  // A 4-bit matrix [out][in] under `base`: quantized round-to-nearest per (output, group) from
  // the values add() would write for base + ".weight", packed as GPTQ or AWQ publish them.
  auto add_matrix = [&](int shard, const std::string& base, int64_t out, int64_t in) -> Status {
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
  for (int64_t l = 0; l < s.num_hidden_layers; ++l) {
    const int k = static_cast<int>(l * s.shards / s.num_hidden_layers);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    MIES_RETURN_IF_ERROR(add(k, p + "input_layernorm.weight", {D}, 1, nj));
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "self_attn.q_proj", H * hd, D));
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "self_attn.k_proj", KV * hd, D));
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "self_attn.v_proj", KV * hd, D));
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "self_attn.o_proj", D, H * hd));
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
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "mlp.gate_proj", I, D));
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "mlp.up_proj", I, D));
    MIES_RETURN_IF_ERROR(add_matrix(k, p + "mlp.down_proj", D, I));
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
