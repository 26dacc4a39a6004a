#include "model/hf_config.h"

#include <cmath>
#include <filesystem>
#include <numbers>

#include "common/file_check.h"
#include "common/json_depth.h"
#include "nlohmann/json.hpp"

namespace mies::model {
namespace {

using nlohmann::json;

// Field readers: absent (or null) -> default; wrong type or range -> error naming the field.
class Reader {
 public:
  Reader(const json& j, std::string source) : j_(j), source_(std::move(source)) {}

  const json* Get(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  StatusOr<int64_t> Int(const char* key, std::optional<int64_t> def, int64_t min_value,
                        int64_t max_value = INT64_MAX) const {
    const json* v = Get(key);
    if (v == nullptr) {
      if (!def) return InvalidArgument(source_, ": required field \"", key, "\" is missing");
      return *def;
    }
    // Above INT64_MAX, get<int64_t>() would wrap to a negative number.
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX})) {
      return InvalidArgument(source_, ": field \"", key, "\" must be a 64-bit integer, got ",
                             v->dump());
    }
    int64_t x = v->get<int64_t>();
    if (x < min_value) {
      return InvalidArgument(source_, ": field \"", key, "\" = ", x, " must be >= ", min_value);
    }
    if (x > max_value) {
      return InvalidArgument(source_, ": field \"", key, "\" = ", x, " must be <= ", max_value);
    }
    return x;
  }
  StatusOr<double> Double(const char* key, double def, bool positive) const {
    const json* v = Get(key);
    if (v == nullptr) return def;
    if (!v->is_number()) {
      return InvalidArgument(source_, ": field \"", key, "\" must be a number, got ", v->dump());
    }
    double x = v->get<double>();
    if (!std::isfinite(x) || (positive && x <= 0)) {
      return InvalidArgument(source_, ": field \"", key, "\" = ", v->dump(), " must be ",
                             positive ? "a positive" : "a finite", " number");
    }
    return x;
  }
  StatusOr<bool> Bool(const char* key, bool def) const {
    const json* v = Get(key);
    if (v == nullptr) return def;
    if (!v->is_boolean()) {
      return InvalidArgument(source_, ": field \"", key, "\" must be true or false, got ",
                             v->dump());
    }
    return v->get<bool>();
  }
  // An int or a list of ints (eos_token_id).
  StatusOr<std::vector<int64_t>> IntOrList(const char* key) const {
    std::vector<int64_t> out;
    const json* v = Get(key);
    if (v == nullptr) return out;
    // Above INT64_MAX an id would wrap to a negative one.
    auto fits = [](const json& e) {
      return e.is_number_integer() &&
             !(e.is_number_unsigned() && e.get<uint64_t>() > uint64_t{INT64_MAX});
    };
    if (fits(*v)) {
      out.push_back(v->get<int64_t>());
    } else if (v->is_array()) {
      for (const json& e : *v) {
        if (!fits(e)) {
          return InvalidArgument(source_, ": field \"", key,
                                 "\" must be an integer or a list of integers, got ", v->dump());
        }
        out.push_back(e.get<int64_t>());
      }
    } else {
      return InvalidArgument(source_, ": field \"", key,
                             "\" must be an integer or a list of integers, got ", v->dump());
    }
    for (int64_t id : out) {
      if (id < 0) return InvalidArgument(source_, ": field \"", key, "\" has negative id ", id);
    }
    return out;
  }
  StatusOr<std::optional<int64_t>> OptInt(const char* key) const {
    if (Get(key) == nullptr) return std::optional<int64_t>();
    MIES_ASSIGN_OR_RETURN(int64_t x, Int(key, std::nullopt, 0));
    return std::optional<int64_t>(x);
  }
  StatusOr<std::optional<double>> OptDouble(const char* key) const {
    if (Get(key) == nullptr) return std::optional<double>();
    MIES_ASSIGN_OR_RETURN(double x, Double(key, 0, false));
    return std::optional<double>(x);
  }
  const std::string& source() const { return source_; }

 private:
  const json& j_;
  std::string source_;
};

constexpr int64_t kMaxHfDim = int64_t{1} << 20;
constexpr int64_t kMaxHfLayers = 4096;
constexpr int64_t kMaxHfVocab = int64_t{1} << 26;

StatusOr<json> ParseObject(const std::string& text, const std::string& source) {
  MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, source));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(source, ": not valid JSON");
  if (!j.is_object()) return InvalidArgument(source, ": must be a JSON object");
  return j;
}

StatusOr<RopeScaling> ParseRopeScaling(const json* v, const std::string& source) {
  RopeScaling rs;
  if (v == nullptr) return rs;
  if (!v->is_object()) {
    return InvalidArgument(source, ": field \"rope_scaling\" must be an object or null");
  }
  std::string kind;
  for (const char* key : {"rope_type", "type"}) {
    auto it = v->find(key);
    if (it != v->end() && it->is_string()) {
      kind = it->get<std::string>();
      break;
    }
  }
  Reader r(*v, source + " rope_scaling");
  if (kind.empty() || kind == "default") return rs;
  if (kind == "linear") {
    rs.kind = RopeScaling::Kind::kLinear;
    MIES_ASSIGN_OR_RETURN(rs.factor, r.Double("factor", 0, true));
    if (r.Get("factor") == nullptr) {
      return InvalidArgument(source, ": rope_scaling type linear needs \"factor\"");
    }
    return rs;
  }
  if (kind == "llama3") {
    rs.kind = RopeScaling::Kind::kLlama3;
    if (r.Get("factor") == nullptr) {
      return InvalidArgument(source, ": rope_scaling type llama3 needs \"factor\"");
    }
    MIES_ASSIGN_OR_RETURN(rs.factor, r.Double("factor", 0, true));
    MIES_ASSIGN_OR_RETURN(rs.low_freq_factor, r.Double("low_freq_factor", 1.0, true));
    MIES_ASSIGN_OR_RETURN(rs.high_freq_factor, r.Double("high_freq_factor", 4.0, true));
    MIES_ASSIGN_OR_RETURN(rs.original_max_position_embeddings,
                          r.Double("original_max_position_embeddings", 8192, true));
    if (rs.high_freq_factor <= rs.low_freq_factor) {
      return InvalidArgument(source, ": rope_scaling high_freq_factor (", rs.high_freq_factor,
                             ") must exceed low_freq_factor (", rs.low_freq_factor, ")");
    }
    return rs;
  }
  return InvalidArgument(source, ": rope_scaling type \"", kind,
                         "\" is not supported (supported: none, default, linear, llama3)");
}

}  // namespace

std::vector<double> HfConfig::RopeInvFreq() const {
  std::vector<double> inv(static_cast<size_t>(head_dim / 2));
  for (size_t i = 0; i < inv.size(); ++i) {
    inv[i] = 1.0 / std::pow(rope_theta, static_cast<double>(2 * i) / static_cast<double>(head_dim));
  }
  switch (rope_scaling.kind) {
    case RopeScaling::Kind::kNone:
      break;
    case RopeScaling::Kind::kLinear:
      for (double& f : inv) f /= rope_scaling.factor;
      break;
    case RopeScaling::Kind::kLlama3: {
      // Llama 3.1: long wavelengths are divided by factor, short ones kept, the band between
      // interpolated smoothly (transformers' _compute_llama3_parameters).
      const RopeScaling& rs = rope_scaling;
      const double old = rs.original_max_position_embeddings;
      const double lo_wl = old / rs.low_freq_factor;
      const double hi_wl = old / rs.high_freq_factor;
      for (double& f : inv) {
        const double wl = 2 * std::numbers::pi / f;
        const double scaled = wl > lo_wl ? f / rs.factor : f;
        if (wl >= hi_wl && wl <= lo_wl) {
          const double smooth =
              (old / wl - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
          f = (1 - smooth) * scaled / rs.factor + smooth * scaled;
        } else {
          f = scaled;
        }
      }
      break;
    }
  }
  return inv;
}

namespace {

// quantization_config: GPTQ (qweight/qzeros/scales/g_idx, zeros stored minus one) and AWQ
// (GEMM packing), 4 bits; anything else is refused by name.
StatusOr<QuantizationConfig> ParseQuantizationConfig(const json& q, const std::string& source) {
  if (!q.is_object()) return InvalidArgument(source, ": quantization_config must be an object");
  QuantizationConfig out;
  auto method = q.find("quant_method");
  if (method == q.end() || !method->is_string()) {
    return InvalidArgument(source, ": quantization_config.quant_method is missing");
  }
  out.method = method->get<std::string>();
  if (out.method != "gptq" && out.method != "awq") {
    return InvalidArgument(source, ": quantization_config.quant_method \"", out.method,
                           "\" is not supported (supported: gptq, awq)");
  }
  auto bits = q.find("bits");
  if (bits == q.end()) bits = q.find("w_bit");
  if (bits == q.end() || !bits->is_number_integer() || bits->get<int64_t>() != 4) {
    return InvalidArgument(source, ": quantization_config.bits must be 4, got ",
                           bits == q.end() ? "nothing" : bits->dump());
  }
  auto group = q.find("group_size");
  if (group == q.end()) group = q.find("q_group_size");
  if (group == q.end() || !group->is_number_integer()) {
    return InvalidArgument(source, ": quantization_config.group_size is missing");
  }
  const int64_t g = group->get<int64_t>();
  if (g != -1 && (g <= 0 || g % 8 != 0 || g > (1 << 20))) {
    return InvalidArgument(source, ": quantization_config.group_size ", g,
                           " must be -1 or a positive multiple of 8");
  }
  out.group_size = g == -1 ? 0 : g;
  if (auto d = q.find("desc_act"); d != q.end() && d->is_boolean()) out.desc_act = d->get<bool>();
  if (out.desc_act) {
    return InvalidArgument(source,
                           ": quantization_config.desc_act true (GPTQ act-order, input "
                           "channels permuted by g_idx) is not supported; use a checkpoint "
                           "quantized with desc_act false");
  }
  if (out.method == "awq") {
    auto v = q.find("version");
    const std::string version = v != q.end() && v->is_string() ? v->get<std::string>() : "gemm";
    if (version != "gemm" && version != "GEMM") {
      return InvalidArgument(source, ": AWQ version \"", version,
                             "\" is not supported (supported: gemm)");
    }
  }
  return out;
}

}  // namespace

StatusOr<HfConfig> ParseHfConfig(const std::string& json_text, const std::string& source) {
  MIES_ASSIGN_OR_RETURN(json j, ParseObject(json_text, source));
  Reader r(j, source);
  HfConfig c;
  const json* archs = r.Get("architectures");
  if (archs == nullptr || !archs->is_array() || archs->size() != 1 || !(*archs)[0].is_string()) {
    return InvalidArgument(source, ": field \"architectures\" must be a list with one name");
  }
  c.architecture_name = (*archs)[0].get<std::string>();
  if (c.architecture_name == "LlamaForCausalLM") {
    c.architecture = Architecture::kLlama;
  } else if (c.architecture_name == "MistralForCausalLM") {
    c.architecture = Architecture::kMistral;
  } else if (c.architecture_name == "Qwen2ForCausalLM") {
    c.architecture = Architecture::kQwen2;
  } else if (c.architecture_name == "Qwen3ForCausalLM") {
    c.architecture = Architecture::kQwen3;
  } else {
    return InvalidArgument(source, ": architecture \"", c.architecture_name,
                           "\" is not supported (supported: LlamaForCausalLM, "
                           "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  }
  // Upper bounds far above any real model (405B: hidden 16384, 126 layers, vocab < 2^18) so
  // that sizes derived from them (RoPE tables, weight shapes, products of two dimensions) fit
  // in memory and in int64, and token ids and positions fit in int32.
  MIES_ASSIGN_OR_RETURN(c.hidden_size, r.Int("hidden_size", std::nullopt, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(c.intermediate_size,
                        r.Int("intermediate_size", std::nullopt, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(c.num_hidden_layers,
                        r.Int("num_hidden_layers", std::nullopt, 1, kMaxHfLayers));
  MIES_ASSIGN_OR_RETURN(c.num_attention_heads,
                        r.Int("num_attention_heads", std::nullopt, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(c.num_key_value_heads,
                        r.Int("num_key_value_heads", c.num_attention_heads, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(c.vocab_size, r.Int("vocab_size", std::nullopt, 1, kMaxHfVocab));
  MIES_ASSIGN_OR_RETURN(c.max_position_embeddings,
                        r.Int("max_position_embeddings", 2048, 1, INT32_MAX));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return InvalidArgument(source, ": num_attention_heads (", c.num_attention_heads,
                           ") must be a multiple of num_key_value_heads (", c.num_key_value_heads,
                           ")");
  }
  const int64_t default_head_dim = c.hidden_size / c.num_attention_heads;
  MIES_ASSIGN_OR_RETURN(c.head_dim, r.Int("head_dim", default_head_dim, 1, kMaxHfDim));
  if (r.Get("head_dim") == nullptr && c.hidden_size % c.num_attention_heads != 0) {
    return InvalidArgument(source, ": hidden_size (", c.hidden_size,
                           ") is not a multiple of num_attention_heads (", c.num_attention_heads,
                           ") and head_dim is not given");
  }
  if (c.head_dim % 2 != 0) {
    return InvalidArgument(source, ": head_dim ", c.head_dim, " must be even for RoPE");
  }
  MIES_ASSIGN_OR_RETURN(c.rope_theta, r.Double("rope_theta", 10000.0, true));
  MIES_ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(r.Get("rope_scaling"), source));
  MIES_ASSIGN_OR_RETURN(c.rms_norm_eps, r.Double("rms_norm_eps", 1e-6, true));
  MIES_ASSIGN_OR_RETURN(c.tie_word_embeddings, r.Bool("tie_word_embeddings", false));
  for (const char* key : {"hidden_act", "hidden_activation"}) {
    if (const json* act = r.Get(key)) {
      if (!act->is_string() ||
          (act->get<std::string>() != "silu" && act->get<std::string>() != "swish")) {
        return InvalidArgument(source, ": ", key, " ", act->dump(),
                               " is not supported (supported: silu)");
      }
    }
  }
  MIES_ASSIGN_OR_RETURN(bool mlp_bias, r.Bool("mlp_bias", false));
  if (mlp_bias) return InvalidArgument(source, ": mlp_bias true is not supported");
  MIES_ASSIGN_OR_RETURN(bool attention_bias, r.Bool("attention_bias", false));
  switch (c.architecture) {
    case Architecture::kQwen2:
      c.qkv_bias = true;  // Qwen2's attention always has q/k/v biases and no o bias
      break;
    case Architecture::kQwen3:
      c.qk_norm = true;
      c.qkv_bias = attention_bias;
      c.o_bias = attention_bias;
      break;
    default:
      c.qkv_bias = attention_bias;
      c.o_bias = attention_bias;
  }
  // Sliding-window attention: we attend to the whole context. That is exact only while no
  // sequence is longer than the window, i.e. when the window covers max_position_embeddings.
  {
    bool active = false;
    if (c.architecture == Architecture::kMistral) {
      active = r.Get("sliding_window") != nullptr;
    } else if (c.architecture == Architecture::kQwen2 || c.architecture == Architecture::kQwen3) {
      MIES_ASSIGN_OR_RETURN(active, r.Bool("use_sliding_window", false));
    }
    if (active) {
      MIES_ASSIGN_OR_RETURN(int64_t window, r.Int("sliding_window", std::nullopt, 1));
      if (window < c.max_position_embeddings) {
        return InvalidArgument(
            source, ": sliding_window ", window, " is shorter than max_position_embeddings ",
            c.max_position_embeddings, "; sliding-window attention is not supported");
      }
    }
  }
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (const json* dt = r.Get(key)) {
      if (!dt->is_string()) {
        return InvalidArgument(source, ": field \"", key, "\" must be a string");
      }
      c.torch_dtype = dt->get<std::string>();
      break;
    }
  }
  if (!c.torch_dtype.empty() && c.torch_dtype != "float32" && c.torch_dtype != "float16" &&
      c.torch_dtype != "bfloat16") {
    return InvalidArgument(source, ": torch_dtype \"", c.torch_dtype,
                           "\" is not supported (supported: float32, float16, bfloat16)");
  }
  MIES_ASSIGN_OR_RETURN(c.bos_token_id, r.OptInt("bos_token_id"));
  MIES_ASSIGN_OR_RETURN(c.eos_token_ids, r.IntOrList("eos_token_id"));
  if (const json* q = r.Get("quantization_config"); q != nullptr && !q->is_null()) {
    MIES_ASSIGN_OR_RETURN(c.quantization, ParseQuantizationConfig(*q, source));
  }
  return c;
}

StatusOr<HfConfig> LoadHfConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  FileRule rule = RuleFromEnv(kModelDirMode);
  MIES_ASSIGN_OR_RETURN(std::string text, ReadCheckedFile(path, rule, "model config file"));
  return ParseHfConfig(text, path);
}

StatusOr<GenerationDefaults> ParseGenerationConfig(const std::string& json_text,
                                                   const std::string& source) {
  MIES_ASSIGN_OR_RETURN(json j, ParseObject(json_text, source));
  Reader r(j, source);
  GenerationDefaults g;
  MIES_ASSIGN_OR_RETURN(g.eos_token_ids, r.IntOrList("eos_token_id"));
  MIES_ASSIGN_OR_RETURN(g.bos_token_id, r.OptInt("bos_token_id"));
  MIES_ASSIGN_OR_RETURN(g.pad_token_id, r.OptInt("pad_token_id"));
  if (r.Get("do_sample") != nullptr) {
    MIES_ASSIGN_OR_RETURN(bool b, r.Bool("do_sample", false));
    g.do_sample = b;
  }
  MIES_ASSIGN_OR_RETURN(g.temperature, r.OptDouble("temperature"));
  if (g.temperature && *g.temperature < 0) {
    return InvalidArgument(source, ": temperature ", *g.temperature, " must be >= 0");
  }
  MIES_ASSIGN_OR_RETURN(g.top_k, r.OptInt("top_k"));
  MIES_ASSIGN_OR_RETURN(g.top_p, r.OptDouble("top_p"));
  if (g.top_p && (*g.top_p <= 0 || *g.top_p > 1)) {
    return InvalidArgument(source, ": top_p ", *g.top_p, " must be in (0, 1]");
  }
  MIES_ASSIGN_OR_RETURN(g.repetition_penalty, r.OptDouble("repetition_penalty"));
  if (g.repetition_penalty && *g.repetition_penalty <= 0) {
    return InvalidArgument(source, ": repetition_penalty ", *g.repetition_penalty, " must be > 0");
  }
  MIES_ASSIGN_OR_RETURN(g.max_length, r.OptInt("max_length"));
  MIES_ASSIGN_OR_RETURN(g.max_new_tokens, r.OptInt("max_new_tokens"));
  return g;
}

StatusOr<GenerationDefaults> LoadGenerationDefaults(const std::string& model_dir,
                                                    const HfConfig& config) {
  const std::string path = (std::filesystem::path(model_dir) / "generation_config.json").string();
  std::error_code ec;
  GenerationDefaults g;
  if (std::filesystem::exists(path, ec)) {
    MIES_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
    MIES_ASSIGN_OR_RETURN(g, ParseGenerationConfig(text, path));
  }
  if (g.eos_token_ids.empty()) g.eos_token_ids = config.eos_token_ids;
  if (!g.bos_token_id) g.bos_token_id = config.bos_token_id;
  return g;
}

}  // namespace mies::model
