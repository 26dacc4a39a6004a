#include "server/request_parsing.h"

#include <cfloat>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/json_depth.h"

namespace mies::server {

using nlohmann::json;

namespace {

constexpr int64_t kInt32Max = 2147483647;
constexpr uint64_t kSeedMax = 9223372036854775807ull;
constexpr int64_t kMaxInputIds = 1048576;

// Number formatting as MindIE prints floats ("0.5", "-1", "3e+38").
std::string Num(double v) {
  std::string s = json(v).dump();
  return s;
}

const json& Field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

Status TypeError(const char* key, const char* type) {
  return InvalidArgument(key, " must be ", type, " type.");
}

}  // namespace

int64_t Utf16Length(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    n += (c >= 0xF0) ? 2 : 1;          // 4-byte sequences are surrogate pairs
  }
  return n;
}

StatusOr<json> ParseJsonBody(std::string_view body, int max_depth) {
  if (int depth = JsonTextDepth(body); depth > max_depth) {
    return InvalidArgument("Failed to parse request context to json: nesting depth ", depth,
                           " exceeds maxJsonDepth ", max_depth);
  }
  json doc;
  try {
    // nlohmann rejects invalid UTF-8 inside strings, so this also covers bad encodings.
    doc = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    return InvalidArgument("Failed to parse request context to json: ", e.what());
  }
  if (!doc.is_object()) {
    return InvalidArgument("Failed to parse request context to json: the body must be an object");
  }
  return doc;
}

StatusOr<std::optional<bool>> GetBool(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<bool>();
  if (!v.is_boolean()) return TypeError(key, "boolean");
  return std::optional<bool>(v.get<bool>());
}

StatusOr<std::optional<int64_t>> GetInt(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<int64_t>();
  if (!v.is_number_integer()) return TypeError(key, "integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgument(key, " is out of the integer range");
  }
  return std::optional<int64_t>(v.get<int64_t>());
}

StatusOr<std::optional<uint64_t>> GetUnsigned(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<uint64_t>();
  if (!v.is_number_unsigned()) return TypeError(key, "unsigned");
  return std::optional<uint64_t>(v.get<uint64_t>());
}

StatusOr<std::optional<double>> GetFloat(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<double>();
  if (!v.is_number()) return TypeError(key, "float");
  double d = v.get<double>();
  if (!std::isfinite(d)) return InvalidArgument(key, " must be a finite number");
  return std::optional<double>(d);
}

StatusOr<std::optional<std::string>> GetString(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return TypeError(key, "string");
  return std::optional<std::string>(v.get<std::string>());
}

Status CheckInputText(const std::string& text, const ModelInfo& model, const char* what) {
  int64_t len = Utf16Length(text);
  if (len <= 0 || len > model.max_request_chars) {
    return InvalidArgument(what, " length must be in (0, ", model.max_request_chars, "], but got ",
                           len);
  }
  return OkStatus();
}

StatusOr<std::vector<int32_t>> ReadIdArray(const json& value, const char* key) {
  if (!value.is_array()) return TypeError(key, "array");
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  for (const auto& v : value) {
    if (!v.is_number_integer()) {
      return InvalidArgument(key, " must be an array of integers");
    }
    int64_t id = v.get<int64_t>();
    if (id < 0 || id > kMaxInputIds) {
      return InvalidArgument(key, " items must be in [0, ", kMaxInputIds, "], got ", id);
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

Status CheckInputIds(const std::vector<int32_t>& ids, const ModelInfo& model) {
  if (ids.empty() || static_cast<int64_t>(ids.size()) > kMaxInputIds) {
    return InvalidArgument("Input ids length must be in (0, ", kMaxInputIds, "], but got ",
                           ids.size());
  }
  for (int32_t id : ids) {
    if (id < 0 || id >= model.vocab_size) {
      return FailedPrecondition("Invalid Input Ids: token id ", id,
                                " is outside the vocabulary [0, ", model.vocab_size, ")");
    }
  }
  return OkStatus();
}

Status CheckN(const engine::SamplingParams& s, const ModelInfo& model, bool stream) {
  int n = s.n;
  int best_of = s.best_of.value_or(n);
  if (n < 1 || n > 8192)
    return InvalidArgument("Parameter [n] should be in [1, 8192], got ", n, ".");
  if (n > model.max_batch_size) {
    return InvalidArgument("The n parameter (", n, ") exceeds 'max_batch_size' (",
                           model.max_batch_size, ").");
  }
  if (n > model.max_prefill_batch_size) {
    return InvalidArgument("The n parameter (", n, ") exceeds 'maxPrefillBatchSize' (",
                           model.max_prefill_batch_size, ").");
  }
  if (n > model.max_n) {
    return InvalidArgument("The n parameter (", n, ") exceeds 'maxN' (", model.max_n, ").");
  }
  if (best_of < 1 || best_of > 128) {
    return InvalidArgument("Parameter best_of should be in [1, 128], got ", best_of, ".");
  }
  if (stream && best_of != n) {
    return InvalidArgument("best_of must be equal to n in stream mode, got best_of ", best_of,
                           " and n ", n, ".");
  }
  if (best_of < n) {
    return InvalidArgument("best_of must be greater than or equal to n, got best_of ", best_of,
                           " and n ", n, ".");
  }
  bool greedy = !s.temperature.has_value() || *s.temperature == 0.0;
  if (greedy && (n > 1 || best_of > 1)) {
    return InvalidArgument(
        "best_of/n can not greater than 1 without using beam search when temperature is 0 or not "
        "set.");
  }
  return OkStatus();
}

namespace {

Status ParseStop(const json& params, Api api, engine::StopConditions* stop) {
  const json& v = Field(params, "stop");
  if (v.is_null()) return OkStatus();
  const bool strict = api == Api::kTgi || api == Api::kOpenAiNative;
  const size_t max_items = 1024;
  const size_t max_str = strict ? 1024 : 32768;
  const char* list_rule =
      "Input validation error: `stop` must be list[string] if list, and item length in [1, "
      "1024] with total <= 32768";
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.empty() || s.size() > max_str) {
      return InvalidArgument("Input validation error: `stop` string length must be in [1, ",
                             max_str, "], but got ", s.size());
    }
    stop->stop.push_back(std::move(s));
    return OkStatus();
  }
  if (!v.is_array()) return TypeError("stop", "string or array");
  if (v.size() > max_items) {
    return InvalidArgument("Input validation error: length of `stop` must be in [1, ", max_items,
                           "], but got ", v.size());
  }
  size_t total = 0;
  for (const auto& item : v) {
    if (!item.is_string()) return InvalidArgument(list_rule);
    std::string s = item.get<std::string>();
    if (s.empty() || s.size() > 1024) return InvalidArgument(list_rule);
    total += s.size();
    if (total > 32768) return InvalidArgument(list_rule);
    stop->stop.push_back(std::move(s));
  }
  return OkStatus();
}

Status ParseStopTokenIds(const json& params, engine::StopConditions* stop) {
  const json& v = Field(params, "stop_token_ids");
  if (v.is_null()) return OkStatus();
  if (!v.is_array()) return TypeError("stop_token_ids", "array");
  std::set<int32_t> seen;
  for (const auto& item : v) {
    if (!item.is_number_integer()) return InvalidArgument("stop_token_ids must be integer list.");
    // MindIE silently drops ids outside [0, 2^31-1] and duplicates.
    if (item.is_number_unsigned() ? item.get<uint64_t>() > static_cast<uint64_t>(kInt32Max)
                                  : item.get<int64_t>() < 0) {
      continue;
    }
    auto id = static_cast<int32_t>(item.get<int64_t>());
    if (seen.insert(id).second) stop->stop_token_ids.push_back(id);
  }
  return OkStatus();
}

}  // namespace

Status ParseGenerationParams(const json& p, Api api, const ModelInfo& model,
                             engine::GenerateRequest* req, ApiOptions* opt) {
  if (!p.is_null() && !p.is_object()) return TypeError("parameters", "object");
  auto& s = req->sampling;
  auto& stop = req->stop;
  const bool openai = api == Api::kOpenAi || api == Api::kOpenAiNative;
  const bool tgi_like =
      api == Api::kTgi || api == Api::kNative || api == Api::kTriton || api == Api::kTritonToken;
  const bool vllm_like = api == Api::kVllm || openai;

  // temperature
  MIES_ASSIGN_OR_RETURN(auto temperature, GetFloat(p, "temperature"));
  if (temperature) {
    double t = *temperature;
    if (tgi_like && !(t > 0 && t <= FLT_MAX)) {
      return InvalidArgument("Parameter temperature must be in (0.0,", Num(FLT_MAX), "], got ",
                             Num(t), ".");
    }
    double max = api == Api::kOpenAiNative ? 2.0 : FLT_MAX;
    if (vllm_like && !(t >= 0 && t <= max)) {
      return InvalidArgument("Parameter temperature must be in [0.0,", Num(max), "], got ", Num(t),
                             ".");
    }
    s.temperature = t;
  }
  // top_k
  MIES_ASSIGN_OR_RETURN(auto top_k, GetInt(p, "top_k"));
  if (top_k) {
    int64_t k = *top_k;
    bool ok;
    if (api == Api::kTgi || api == Api::kNative) {
      ok = k > 0 && k <= kInt32Max;
    } else if (api == Api::kTriton || api == Api::kTritonToken || api == Api::kOpenAiNative) {
      ok = k >= 0 && k <= kInt32Max;
    } else {
      ok = k == -1 || (k > 0 && k <= kInt32Max);
    }
    if (!ok) {
      return InvalidArgument("Parameter top_k must be in ",
                             vllm_like && api != Api::kOpenAiNative ? "-1 || " : "",
                             tgi_like && api != Api::kTgi && api != Api::kNative ? "[0," : "(0,",
                             kInt32Max, "], got ", k);
    }
    s.top_k = k;
  }
  // top_p
  MIES_ASSIGN_OR_RETURN(auto top_p, GetFloat(p, "top_p"));
  if (top_p) {
    double v = *top_p;
    bool open_top = api == Api::kTgi || api == Api::kNative;  // 1.0 rejected there
    if (!(v > 0 && (open_top ? v < 1 : v <= 1))) {
      return InvalidArgument("Parameter top_p must be in (0.0,1.0", open_top ? ")" : "]", ", got ",
                             Num(v), ".");
    }
    s.top_p = v;
  }
  // typical_p (TGI/native/Triton text only)
  if (api == Api::kTgi || api == Api::kNative || api == Api::kTriton) {
    MIES_ASSIGN_OR_RETURN(auto typical, GetFloat(p, "typical_p"));
    if (typical) {
      if (!(*typical > 0 && *typical <= 1)) {
        return InvalidArgument("Parameter typical_p must be in (0.0,1.0], got ", Num(*typical),
                               ".");
      }
      s.typical_p = *typical;
    }
  }
  // min_p (vLLM extension)
  if (vllm_like) {
    MIES_ASSIGN_OR_RETURN(auto min_p, GetFloat(p, "min_p"));
    if (min_p) {
      if (!(*min_p >= 0 && *min_p <= 1)) {
        return InvalidArgument("Parameter min_p must be in [0.0, 1.0], got ", Num(*min_p), ".");
      }
      s.min_p = *min_p;
    }
  }
  // repetition_penalty
  MIES_ASSIGN_OR_RETURN(auto rep, GetFloat(p, "repetition_penalty"));
  if (rep) {
    double max = openai ? 2.0 : FLT_MAX;
    if (!(*rep > 0 && *rep <= max)) {
      return InvalidArgument("Parameter 'repetition_penalty' must be in (0.0, ", Num(max),
                             "], got ", Num(*rep), ".");
    }
    s.repetition_penalty = *rep;
  }
  // presence / frequency penalties (vLLM and OpenAI)
  if (vllm_like) {
    MIES_ASSIGN_OR_RETURN(auto presence, GetFloat(p, "presence_penalty"));
    if (presence) {
      if (!(*presence >= -2 && *presence <= 2)) {
        return InvalidArgument("Parameter presence_penalty not in [-2.0, 2.0], but got ",
                               Num(*presence), ".");
      }
      s.presence_penalty = *presence;
    }
    MIES_ASSIGN_OR_RETURN(auto frequency, GetFloat(p, "frequency_penalty"));
    if (frequency) {
      if (!(*frequency >= -2 && *frequency <= 2)) {
        return InvalidArgument("Parameter frequency_penalty should be in [-2.0, 2.0], got ",
                               Num(*frequency), ".");
      }
      s.frequency_penalty = *frequency;
    }
  }
  // do_sample, watermark, details (TGI-like)
  if (tgi_like) {
    MIES_ASSIGN_OR_RETURN(auto do_sample, GetBool(p, "do_sample"));
    s.do_sample = do_sample;
    MIES_ASSIGN_OR_RETURN(auto watermark, GetBool(p, "watermark"));
    (void)watermark;  // accepted, no effect (as MindIE)
    MIES_ASSIGN_OR_RETURN(auto details, GetBool(p, "details"));
    opt->details = details.value_or(false);
  }
  // seed: unsigned [0, 2^63-1]
  {
    const json& v = Field(p, "seed");
    if (!v.is_null()) {
      if (!v.is_number_unsigned()) return TypeError("seed", "unsigned");
      uint64_t seed = v.get<uint64_t>();
      if (seed > kSeedMax) {
        return InvalidArgument("Parameter seed must be in [0, 9223372036854775807], got ", seed,
                               ".");
      }
      s.seed = seed;
    }
  }
  // max_new_tokens (TGI-like) / max_tokens (vLLM, OpenAI)
  if (tgi_like) {
    MIES_ASSIGN_OR_RETURN(auto max_new, GetInt(p, "max_new_tokens"));
    if (max_new) {
      if (*max_new <= 0 || *max_new > kInt32Max) {
        return InvalidArgument("Parameter max_new_tokens must be in (0,2147483647], got ", *max_new,
                               ".");
      }
      stop.max_tokens = *max_new;
    } else {
      stop.max_tokens = 20;  // MindIE's default for these APIs
    }
  } else {
    for (const char* key : {"max_tokens", "max_completion_tokens"}) {
      if (api == Api::kVllm && std::string(key) == "max_completion_tokens") continue;
      MIES_ASSIGN_OR_RETURN(auto max_tokens, GetInt(p, key));
      if (max_tokens) {
        if (*max_tokens <= 0 || *max_tokens > kInt32Max) {
          return InvalidArgument("Parameter ", key, " must be (0,2147483647], got ", *max_tokens);
        }
        stop.max_tokens = *max_tokens;
      }
    }
  }
  // stop strings and ids
  if (api == Api::kTgi || vllm_like) MIES_RETURN_IF_ERROR(ParseStop(p, api, &stop));
  if (vllm_like) {
    MIES_RETURN_IF_ERROR(ParseStopTokenIds(p, &stop));
    if (!stop.stop.empty() || !stop.stop_token_ids.empty()) {
      MIES_ASSIGN_OR_RETURN(auto include, GetBool(p, "include_stop_str_in_output"));
      stop.include_stop_str_in_output = include.value_or(false);
    }
    MIES_ASSIGN_OR_RETURN(auto ignore_eos, GetBool(p, "ignore_eos"));
    stop.ignore_eos = ignore_eos.value_or(false);
    MIES_ASSIGN_OR_RETURN(auto skip_special, GetBool(p, "skip_special_tokens"));
    req->skip_special_tokens = skip_special.value_or(true);
    MIES_ASSIGN_OR_RETURN(auto min_tokens, GetInt(p, "min_tokens"));
    if (min_tokens) {
      if (*min_tokens < 0 || *min_tokens > kInt32Max) {
        return InvalidArgument("Parameter min_tokens must be in [0, 2147483647], got ", *min_tokens,
                               ".");
      }
      if (stop.max_tokens && *min_tokens > *stop.max_tokens) {
        return InvalidArgument("min_tokens (", *min_tokens, ") must be less than or equal to ",
                               "max_tokens (", *stop.max_tokens, ").");
      }
      stop.min_tokens = *min_tokens;
    }
    MIES_ASSIGN_OR_RETURN(auto n, GetUnsigned(p, "n"));
    if (n) {
      if (*n < 1 || *n > 8192)
        return InvalidArgument("Parameter [n] should be in [1, 8192], got ", *n, ".");
      s.n = static_cast<int>(*n);
    }
    MIES_ASSIGN_OR_RETURN(auto best_of, GetUnsigned(p, "best_of"));
    if (best_of) {
      if (*best_of < 1 || *best_of > 128) {
        return InvalidArgument("Parameter best_of should be in [1, 128], got ", *best_of, ".");
      }
      s.best_of = static_cast<int>(*best_of);
    }
    MIES_ASSIGN_OR_RETURN(auto beam, GetBool(p, "use_beam_search"));
    if (beam.value_or(false)) {
      return InvalidArgument("use_beam_search is not supported by mies");
    }
  }
  // TGI: decoder_input_details, return_full_text, truncate
  if (api == Api::kTgi) {
    MIES_ASSIGN_OR_RETURN(auto did, GetBool(p, "decoder_input_details"));
    opt->decoder_input_details = did.value_or(false);
    MIES_ASSIGN_OR_RETURN(auto rft, GetBool(p, "return_full_text"));
    opt->return_full_text = rft.value_or(false);
    MIES_ASSIGN_OR_RETURN(auto truncate, GetInt(p, "truncate"));
    if (truncate) {
      if (*truncate <= 0 || *truncate > kInt32Max) {
        return InvalidArgument("Parameter truncate must be in (0, 2147483647], got ", *truncate,
                               ".");
      }
      opt->truncate = *truncate;
    }
    MIES_ASSIGN_OR_RETURN(auto adapter, GetString(p, "adapter_id"));
    if (adapter && *adapter != model.name) {
      return InvalidArgument("adapter_id ", *adapter, " is not a loaded LoRA adapter.");
    }
  }
  // native/Triton: priority, timeout, batch_size
  if (api == Api::kNative || api == Api::kTriton || api == Api::kTritonToken) {
    MIES_ASSIGN_OR_RETURN(auto priority, GetUnsigned(p, "priority"));
    if (priority) {
      if (*priority < 1 || *priority > 5) {
        return InvalidArgument("Parameter priority must be in [1,5], got ", *priority, ".");
      }
      opt->priority = static_cast<int>(*priority);
    }
    MIES_ASSIGN_OR_RETURN(auto timeout, GetUnsigned(p, "timeout"));
    if (timeout) {
      if (*timeout == 0 || *timeout > 65535) {
        return InvalidArgument(
            "Parameter timeout must be strictly positive and small than 65535 seconds, got ",
            *timeout, ".");
      }
      opt->timeout_s = static_cast<int>(*timeout);
    }
    if (api != Api::kNative) {
      MIES_ASSIGN_OR_RETURN(auto batch_size, GetInt(p, "batch_size"));
      if (batch_size && (*batch_size <= 0 || *batch_size > kInt32Max)) {
        return InvalidArgument("Parameter batch_size must be in (0, 2147483647], got ", *batch_size,
                               ".");
      }
    }
  }
  return OkStatus();
}

}  // namespace mies::server
