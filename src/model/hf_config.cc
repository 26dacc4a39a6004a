#include "model/hf_config.h"

#include <absl/strings/str_cat.h>

#include <algorithm>
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
  if (kind == "yarn") {
    rs.kind = RopeScaling::Kind::kYarn;
    if (r.Get("factor") == nullptr) {
      return InvalidArgument(source, ": rope_scaling type yarn needs \"factor\"");
    }
    MIES_ASSIGN_OR_RETURN(rs.factor, r.Double("factor", 0, true));
    MIES_ASSIGN_OR_RETURN(rs.original_max_position_embeddings,
                          r.Double("original_max_position_embeddings", 0, false));
    MIES_ASSIGN_OR_RETURN(rs.beta_fast, r.Double("beta_fast", 32, true));
    MIES_ASSIGN_OR_RETURN(rs.beta_slow, r.Double("beta_slow", 1, true));
    MIES_ASSIGN_OR_RETURN(rs.mscale, r.Double("mscale", 0, false));
    MIES_ASSIGN_OR_RETURN(rs.mscale_all_dim, r.Double("mscale_all_dim", 0, false));
    MIES_ASSIGN_OR_RETURN(rs.attention_factor, r.Double("attention_factor", 0, false));
    MIES_ASSIGN_OR_RETURN(rs.truncate, r.Bool("truncate", true));
    return rs;
  }
  return InvalidArgument(source, ": rope_scaling type \"", kind,
                         "\" is not supported (supported: none, default, linear, llama3, yarn)");
}

// The MoE fields of the three MoE architectures (MoeConfig in hf_config.h); nothing for dense
// ones. Training-only fields (router_aux_loss_coef, output_router_logits, router_jitter_noise)
// do not change inference and are ignored.
Status ParseMoe(const Reader& r, HfConfig& c) {
  const std::string& source = r.source();
  MoeConfig& m = c.moe;
  switch (c.architecture) {
    case Architecture::kMixtral: {
      MIES_ASSIGN_OR_RETURN(m.num_experts, r.Int("num_local_experts", 8, 1, 1 << 16));
      MIES_ASSIGN_OR_RETURN(m.top_k, r.Int("num_experts_per_tok", 2, 1, m.num_experts));
      m.expert_intermediate_size = c.intermediate_size;
      m.norm_topk_prob = true;  // Mixtral always renormalizes
      m.sparse_layers.assign(static_cast<size_t>(c.num_hidden_layers), true);
      return OkStatus();
    }
    case Architecture::kQwen2Moe:
    case Architecture::kQwen3Moe: {
      MIES_ASSIGN_OR_RETURN(m.num_experts, r.Int("num_experts", std::nullopt, 1, 1 << 16));
      MIES_ASSIGN_OR_RETURN(m.top_k, r.Int("num_experts_per_tok", std::nullopt, 1, m.num_experts));
      MIES_ASSIGN_OR_RETURN(m.expert_intermediate_size,
                            r.Int("moe_intermediate_size", std::nullopt, 1, kMaxHfDim));
      MIES_ASSIGN_OR_RETURN(m.norm_topk_prob, r.Bool("norm_topk_prob", false));
      MIES_ASSIGN_OR_RETURN(int64_t step, r.Int("decoder_sparse_step", 1, 1, kMaxHfLayers));
      std::vector<bool> dense_only(static_cast<size_t>(c.num_hidden_layers), false);
      if (const json* list = r.Get("mlp_only_layers")) {
        if (!list->is_array()) {
          return InvalidArgument(source,
                                 ": field \"mlp_only_layers\" must be a list of layer "
                                 "indices, got ",
                                 list->dump());
        }
        for (const json& e : *list) {
          if (!e.is_number_integer() || e.get<int64_t>() < 0 ||
              e.get<int64_t>() >= c.num_hidden_layers) {
            return InvalidArgument(source, ": mlp_only_layers entry ", e.dump(),
                                   " is not a layer index in [0, ", c.num_hidden_layers, ")");
          }
          dense_only[static_cast<size_t>(e.get<int64_t>())] = true;
        }
      }
      m.sparse_layers.resize(static_cast<size_t>(c.num_hidden_layers));
      for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        m.sparse_layers[l] = !dense_only[l] && (l + 1) % step == 0;
      }
      if (c.architecture == Architecture::kQwen2Moe) {
        MIES_ASSIGN_OR_RETURN(m.shared_expert_intermediate_size,
                              r.Int("shared_expert_intermediate_size", 0, 0, kMaxHfDim));
        m.shared_expert_gated = true;
      }
      return OkStatus();
    }
    case Architecture::kDeepseekV2:
    case Architecture::kDeepseekV3: {
      MIES_ASSIGN_OR_RETURN(m.num_experts, r.Int("n_routed_experts", 0, 0, 1 << 16));
      if (m.num_experts == 0) return OkStatus();  // a dense DeepSeek
      MIES_ASSIGN_OR_RETURN(m.top_k, r.Int("num_experts_per_tok", std::nullopt, 1, m.num_experts));
      MIES_ASSIGN_OR_RETURN(m.expert_intermediate_size,
                            r.Int("moe_intermediate_size", std::nullopt, 1, kMaxHfDim));
      MIES_ASSIGN_OR_RETURN(int64_t shared, r.Int("n_shared_experts", 0, 0, 1 << 10));
      m.shared_expert_intermediate_size = shared * m.expert_intermediate_size;
      MIES_ASSIGN_OR_RETURN(m.norm_topk_prob, r.Bool("norm_topk_prob", false));
      MIES_ASSIGN_OR_RETURN(m.routed_scaling_factor, r.Double("routed_scaling_factor", 1.0, true));
      MIES_ASSIGN_OR_RETURN(int64_t first_dense,
                            r.Int("first_k_dense_replace", 0, 0, c.num_hidden_layers));
      MIES_ASSIGN_OR_RETURN(int64_t freq, r.Int("moe_layer_freq", 1, 1, kMaxHfLayers));
      m.sparse_layers.resize(static_cast<size_t>(c.num_hidden_layers));
      for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        m.sparse_layers[l] = l >= first_dense && l % freq == 0;
      }
      m.deepseek_routing = true;
      m.scale_when_normalized = c.architecture == Architecture::kDeepseekV3;
      const bool v3 = c.architecture == Architecture::kDeepseekV3;
      std::string scoring = v3 ? "sigmoid" : "softmax", method = v3 ? "noaux_tc" : "greedy";
      for (auto [key, out] : {std::pair{"scoring_func", &scoring}, {"topk_method", &method}}) {
        if (const json* v = r.Get(key)) {
          if (!v->is_string()) {
            return InvalidArgument(source, ": field \"", key, "\" must be a string");
          }
          *out = v->get<std::string>();
        }
      }
      if (scoring == "softmax") {
        m.scoring = MoeConfig::Scoring::kSoftmax;
      } else if (scoring == "sigmoid") {
        m.scoring = MoeConfig::Scoring::kSigmoid;
      } else {
        return InvalidArgument(source, ": scoring_func \"", scoring,
                               "\" is not supported (supported: softmax, sigmoid)");
      }
      // DeepSeek-V2's published code spells greedy "gready".
      if (method == "greedy" || method == "gready") {
        m.topk_method = MoeConfig::TopkMethod::kGreedy;
      } else if (method == "group_limited_greedy") {
        m.topk_method = MoeConfig::TopkMethod::kGroupLimitedGreedy;
      } else if (method == "noaux_tc") {
        m.topk_method = MoeConfig::TopkMethod::kNoauxTc;
      } else {
        return InvalidArgument(source, ": topk_method \"", method,
                               "\" is not supported (supported: greedy, group_limited_greedy, "
                               "noaux_tc)");
      }
      if (m.topk_method != MoeConfig::TopkMethod::kGreedy) {
        MIES_ASSIGN_OR_RETURN(m.n_group, r.Int("n_group", std::nullopt, 1, m.num_experts));
        MIES_ASSIGN_OR_RETURN(m.topk_group, r.Int("topk_group", std::nullopt, 1, m.n_group));
        const int64_t per_group = m.num_experts / m.n_group;
        if (m.num_experts % m.n_group != 0) {
          return InvalidArgument(source, ": n_routed_experts ", m.num_experts,
                                 " is not a multiple of n_group ", m.n_group);
        }
        if (m.top_k > m.topk_group * per_group) {
          return InvalidArgument(source, ": num_experts_per_tok ", m.top_k, " exceeds the ",
                                 m.topk_group * per_group, " experts of topk_group ", m.topk_group,
                                 " groups");
        }
        if (m.topk_method == MoeConfig::TopkMethod::kNoauxTc && per_group < 2) {
          return InvalidArgument(source,
                                 ": noaux_tc scores a group by its best two experts; "
                                 "n_group ",
                                 m.n_group, " leaves ", per_group, " per group");
        }
      }
      return OkStatus();
    }
    default:
      return OkStatus();
  }
}

// DeepSeek's multi-head latent attention fields (MlaConfig).
Status ParseMla(const Reader& r, HfConfig& c) {
  if (c.architecture != Architecture::kDeepseekV2 && c.architecture != Architecture::kDeepseekV3) {
    return OkStatus();
  }
  MlaConfig& a = c.mla;
  if (r.Get("q_lora_rank") != nullptr) {
    MIES_ASSIGN_OR_RETURN(a.q_lora_rank, r.Int("q_lora_rank", std::nullopt, 1, kMaxHfDim));
  }
  MIES_ASSIGN_OR_RETURN(a.kv_lora_rank, r.Int("kv_lora_rank", std::nullopt, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(a.qk_nope_head_dim, r.Int("qk_nope_head_dim", std::nullopt, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(a.qk_rope_head_dim, r.Int("qk_rope_head_dim", std::nullopt, 2, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(a.v_head_dim, r.Int("v_head_dim", std::nullopt, 1, kMaxHfDim));
  MIES_ASSIGN_OR_RETURN(a.rope_interleave, r.Bool("rope_interleave", true));
  if (a.qk_rope_head_dim % 2 != 0) {
    return InvalidArgument(r.source(), ": qk_rope_head_dim ", a.qk_rope_head_dim,
                           " must be even for RoPE");
  }
  c.head_dim = a.qk_nope_head_dim + a.qk_rope_head_dim;
  return OkStatus();
}

// quantization_config: FP8 block-scaled weights (DeepSeek's published checkpoints).
Status ParseQuantization(const Reader& r, HfConfig& c) {
  const json* q = r.Get("quantization_config");
  if (q == nullptr) return OkStatus();
  const std::string source = r.source() + " quantization_config";
  if (!q->is_object()) return InvalidArgument(source, " must be an object");
  Reader qr(*q, source);
  const json* method = qr.Get("quant_method");
  const std::string name =
      method != nullptr && method->is_string() ? method->get<std::string>() : "";
  if (name != "fp8") return OkStatus();  // 4-bit methods: ParseQuantizationConfig
  if (const json* fmt = qr.Get("fmt"); fmt != nullptr && *fmt != "e4m3") {
    return InvalidArgument(source, ": fmt ", fmt->dump(), " is not supported (supported: e4m3)");
  }
  const json* block = qr.Get("weight_block_size");
  if (block == nullptr || !block->is_array() || block->size() != 2 ||
      !(*block)[0].is_number_integer() || !(*block)[1].is_number_integer() ||
      (*block)[0].get<int64_t>() < 1 || (*block)[1].get<int64_t>() < 1) {
    return InvalidArgument(source,
                           ": weight_block_size must be [rows, cols] of positive "
                           "integers (block-scaled FP8), got ",
                           block ? block->dump() : "(missing)");
  }
  c.fp8_block_rows = (*block)[0].get<int64_t>();
  c.fp8_block_cols = (*block)[1].get<int64_t>();
  return OkStatus();
}

}  // namespace

namespace {

double YarnMscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

std::vector<double> HfConfig::RopeInvFreq(int64_t rotary_dim) const {
  const int64_t dim = rotary_dim > 0 ? rotary_dim : head_dim;
  std::vector<double> inv(static_cast<size_t>(dim / 2));
  for (size_t i = 0; i < inv.size(); ++i) {
    inv[i] = 1.0 / std::pow(rope_theta, static_cast<double>(2 * i) / static_cast<double>(dim));
  }
  const RopeScaling& rs = rope_scaling;
  switch (rs.kind) {
    case RopeScaling::Kind::kNone:
      break;
    case RopeScaling::Kind::kLinear:
      for (double& f : inv) f /= rs.factor;
      break;
    case RopeScaling::Kind::kLlama3: {
      // Llama 3.1: long wavelengths are divided by factor, short ones kept, the band between
      // interpolated smoothly (transformers' _compute_llama3_parameters).
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
    case RopeScaling::Kind::kYarn: {
      // transformers' _compute_yarn_parameters: dimensions that rotate more than beta_fast times
      // over the original context keep their frequency, those under beta_slow are divided by
      // factor, a linear ramp between.
      const double original = rs.original_max_position_embeddings > 0
                                  ? rs.original_max_position_embeddings
                                  : static_cast<double>(max_position_embeddings);
      auto correction_dim = [&](double rotations) {
        return (static_cast<double>(dim) *
                std::log(original / (rotations * 2 * std::numbers::pi))) /
               (2 * std::log(rope_theta));
      };
      double low = correction_dim(rs.beta_fast), high = correction_dim(rs.beta_slow);
      if (rs.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      for (size_t i = 0; i < inv.size(); ++i) {
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        const double extrapolation = 1 - ramp;
        inv[i] = inv[i] / rs.factor * (1 - extrapolation) + inv[i] * extrapolation;
      }
      break;
    }
  }
  return inv;
}

double HfConfig::RopeAttentionFactor() const {
  const RopeScaling& rs = rope_scaling;
  if (rs.kind != RopeScaling::Kind::kYarn) return 1.0;
  if (rs.attention_factor > 0) return rs.attention_factor;
  if (rs.mscale > 0 && rs.mscale_all_dim > 0) {
    return YarnMscale(rs.factor, rs.mscale) / YarnMscale(rs.factor, rs.mscale_all_dim);
  }
  return YarnMscale(rs.factor, 1.0);
}

double HfConfig::SoftmaxScale() const {
  if (!is_mla()) return 1.0 / std::sqrt(static_cast<double>(head_dim));
  double scale = 1.0 / std::sqrt(static_cast<double>(mla.qk_nope_head_dim + mla.qk_rope_head_dim));
  if (rope_scaling.kind == RopeScaling::Kind::kYarn && rope_scaling.mscale_all_dim > 0) {
    const double m = YarnMscale(rope_scaling.factor, rope_scaling.mscale_all_dim);
    scale *= m * m;
  }
  return scale;
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
                           "\" is not supported (supported: gptq, awq, fp8)");
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
  static constexpr std::pair<const char*, Architecture> kArchitectures[] = {
      {"LlamaForCausalLM", Architecture::kLlama},
      {"MistralForCausalLM", Architecture::kMistral},
      {"Qwen2ForCausalLM", Architecture::kQwen2},
      {"Qwen3ForCausalLM", Architecture::kQwen3},
      {"Qwen2MoeForCausalLM", Architecture::kQwen2Moe},
      {"Qwen3MoeForCausalLM", Architecture::kQwen3Moe},
      {"MixtralForCausalLM", Architecture::kMixtral},
      {"DeepseekV2ForCausalLM", Architecture::kDeepseekV2},
      {"DeepseekV3ForCausalLM", Architecture::kDeepseekV3},
  };
  bool known = false;
  std::string names;
  for (const auto& [name, arch] : kArchitectures) {
    if (c.architecture_name == name) {
      c.architecture = arch;
      known = true;
    }
    absl::StrAppend(&names, names.empty() ? "" : ", ", name);
  }
  if (!known) {
    return InvalidArgument(source, ": architecture \"", c.architecture_name,
                           "\" is not supported (supported: ", names, ")");
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
  // DeepSeek's head dims are the MLA fields (ParseMla), not hidden_size / heads.
  const bool deepseek =
      c.architecture == Architecture::kDeepseekV2 || c.architecture == Architecture::kDeepseekV3;
  if (!deepseek && r.Get("head_dim") == nullptr && c.hidden_size % c.num_attention_heads != 0) {
    return InvalidArgument(source, ": hidden_size (", c.hidden_size,
                           ") is not a multiple of num_attention_heads (", c.num_attention_heads,
                           ") and head_dim is not given");
  }
  if (!deepseek && c.head_dim % 2 != 0) {
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
    case Architecture::kQwen2Moe:
      c.qkv_bias = true;  // Qwen2's attention always has q/k/v biases and no o bias
      break;
    case Architecture::kQwen3:
    case Architecture::kQwen3Moe:
      c.qk_norm = true;
      c.qkv_bias = attention_bias;
      c.o_bias = attention_bias;
      break;
    default:
      c.qkv_bias = attention_bias;
      c.o_bias = attention_bias;
  }
  // Sliding-window attention. Mistral and Mixtral apply one window to every layer, which the
  // attention kernel honours (a window covering max_position_embeddings changes nothing).
  // Qwen applies it only to layers past max_window_layers: refused.
  if (c.architecture == Architecture::kMistral || c.architecture == Architecture::kMixtral) {
    if (r.Get("sliding_window") != nullptr) {
      MIES_ASSIGN_OR_RETURN(int64_t window, r.Int("sliding_window", std::nullopt, 1, INT32_MAX));
      if (window < c.max_position_embeddings) c.sliding_window = window;
    }
  } else {
    MIES_ASSIGN_OR_RETURN(bool active, r.Bool("use_sliding_window", false));
    if (active) {
      MIES_ASSIGN_OR_RETURN(int64_t window, r.Int("sliding_window", std::nullopt, 1));
      if (window < c.max_position_embeddings) {
        return InvalidArgument(source, ": use_sliding_window with sliding_window ", window,
                               " shorter than max_position_embeddings ", c.max_position_embeddings,
                               " is not supported (Qwen's per-layer window)");
      }
    }
  }
  MIES_RETURN_IF_ERROR(ParseMoe(r, c));
  MIES_RETURN_IF_ERROR(ParseMla(r, c));
  MIES_RETURN_IF_ERROR(ParseQuantization(r, c));
  if (c.is_mla() && (c.qkv_bias || c.o_bias)) {
    return InvalidArgument(source, ": attention_bias true is not supported for ",
                           c.architecture_name);
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
  if (const json* q = r.Get("quantization_config");
      q != nullptr && !q->is_null() && c.fp8_block_rows == 0) {
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
