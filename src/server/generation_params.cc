#include "server/generation_params.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "server/http_message.h"
#include "server/request_parsing.h"

namespace mies::server {

using nlohmann::json;

namespace {

constexpr int64_t kInt32Max = 2147483647;
constexpr int64_t kSeedMax = 9223372036854775807;
constexpr int64_t kTgiDefaultMaxNewTokens = 20;  // MindIE's default for the TGI-like APIs

// Numbers as MindIE prints floats ("0.5", "-1.0", "3.4028234663852886e+38").
std::string Num(double v) { return json(v).dump(); }

constexpr ApiSet kTgiOnly = ApiBits(Api::kTgi);
constexpr ApiSet kTgiAndNative = ApiBits(Api::kTgi, Api::kNative);
constexpr ApiSet kTritonApis = ApiBits(Api::kTriton, Api::kTritonToken);
constexpr ApiSet kNativeAndTriton = ApiBits(Api::kNative) | kTritonApis;
constexpr ApiSet kVllmAndOpenAi = ApiBits(Api::kVllm, Api::kOpenAi);
constexpr ApiSet kOpenAiNativeOnly = ApiBits(Api::kOpenAiNative);

// A row's `apply` that stores the value.
template <class Field, class Value>
Status Set(Field& field, Value value) {
  field = value;
  return OkStatus();
}

constexpr std::monostate kNoRange{};  // booleans, strings, kJson fields

IntRange Ints(int64_t lo, int64_t hi) { return IntRange{lo, hi, std::nullopt}; }
FloatRange Open(double lo, double hi) { return FloatRange{lo, true, hi, true}; }
FloatRange OpenClosed(double lo, double hi) { return FloatRange{lo, true, hi, false}; }
FloatRange Closed(double lo, double hi) { return FloatRange{lo, false, hi, false}; }

// "stop": a string, or a list of strings. TGI and OpenAI-native allow 1024 bytes for a single
// string, the others 32768.
Status ApplyStop(const ParamValue& v, ParamTarget& t) {
  const json& value = *v.json;
  auto& stop = t.request.stop;
  const bool strict = t.api == Api::kTgi || t.api == Api::kOpenAiNative;
  const size_t max_items = 1024;
  const size_t max_str = strict ? 1024 : 32768;
  const char* list_rule =
      "Input validation error: `stop` must be list[string] if list, and item length in [1, "
      "1024] with total <= 32768";
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (s.empty() || s.size() > max_str) {
      return InvalidArgument("Input validation error: `stop` string length must be in [1, ",
                             max_str, "], but got ", s.size());
    }
    stop.stop.push_back(std::move(s));
    return OkStatus();
  }
  if (!value.is_array()) return FieldTypeError("stop", "string or array");
  if (value.size() > max_items) {
    return InvalidArgument("Input validation error: length of `stop` must be in [1, ", max_items,
                           "], but got ", value.size());
  }
  size_t total = 0;
  for (const auto& item : value) {
    if (!item.is_string()) return InvalidArgument(list_rule);
    std::string s = item.get<std::string>();
    if (s.empty() || s.size() > 1024) return InvalidArgument(list_rule);
    total += s.size();
    if (total > 32768) return InvalidArgument(list_rule);
    stop.stop.push_back(std::move(s));
  }
  return OkStatus();
}

Status ApplyStopTokenIds(const ParamValue& v, ParamTarget& t) {
  const json& value = *v.json;
  if (!value.is_array()) return FieldTypeError("stop_token_ids", "array");
  auto& ids = t.request.stop.stop_token_ids;
  std::set<int32_t> seen;
  for (const auto& item : value) {
    if (!item.is_number_integer()) return InvalidArgument("stop_token_ids must be integer list.");
    // MindIE silently drops ids outside [0, 2^31-1] and duplicates.
    if (item.is_number_unsigned() ? item.get<uint64_t>() > static_cast<uint64_t>(kInt32Max)
                                  : item.get<int64_t>() < 0) {
      continue;
    }
    auto id = static_cast<int32_t>(item.get<int64_t>());
    if (seen.insert(id).second) ids.push_back(id);
  }
  return OkStatus();
}

// One structured-output field: at most one per request.
Status SetConstraint(ParamTarget& t, StatusOr<std::optional<ConstraintSpec>> spec) {
  if (!spec.ok()) return spec.status();
  if (!spec->has_value()) return OkStatus();
  if (t.options.constraint) {
    return InvalidArgument(t.options.constraint->field, " and ", (*spec)->field,
                           " both ask for structured output; use one");
  }
  t.options.constraint = std::move(*spec);
  return OkStatus();
}
Status SetConstraint(ParamTarget& t, StatusOr<ConstraintSpec> spec) {
  if (!spec.ok()) return spec.status();
  return SetConstraint(t, std::optional<ConstraintSpec>(std::move(*spec)));
}

Status Unsupported(const char* field, Api api) {
  return InvalidArgument(field, " is not supported by the ", ApiName(api), " API");
}

// vLLM and OpenAI: {"<token id>": bias in [-100, 100]}, added to the logits before sampling.
Status ApplyLogitBias(const ParamValue& v, ParamTarget& t) {
  const json& value = *v.json;
  if (!value.is_object()) return FieldTypeError("logit_bias", "object");
  std::vector<std::pair<int32_t, float>> bias;
  std::vector<int64_t> outside;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& key = it.key();
    int64_t id = 0;
    auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || key.empty()) {
      return InvalidArgument("logit_bias keys must be token ids, got \"", key, "\"");
    }
    if (!it.value().is_number()) {
      return InvalidArgument("logit_bias values must be numbers, got ", it.value().dump(),
                             " for token ", key);
    }
    const double b = it.value().get<double>();
    if (!(b >= -100 && b <= 100)) {
      return InvalidArgument("logit_bias values must be in [-100, 100], got ", Num(b),
                             " for token ", key);
    }
    if (id < 0 || (t.model.vocab_size > 0 && id >= t.model.vocab_size)) {
      outside.push_back(id);
      continue;
    }
    bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(b));
  }
  std::sort(bias.begin(), bias.end());
  if (!outside.empty()) {
    std::sort(outside.begin(), outside.end());
    return BadRequest(absl::StrCat("token_id(s) [", absl::StrJoin(outside, ", "),
                                   "] in logit_bias contain out-of-vocab token ids. Vocabulary "
                                   "size: ",
                                   t.model.vocab_size));
  }
  t.request.sampling.logit_bias = std::move(bias);
  return OkStatus();
}

Status ApplyMinTokens(const ParamValue& v, ParamTarget& t) {
  auto& stop = t.request.stop;
  if (stop.max_tokens && v.i > *stop.max_tokens) {
    return InvalidArgument("min_tokens (", v.i, ") must be less than or equal to ", "max_tokens (",
                           *stop.max_tokens, ").");
  }
  stop.min_tokens = v.i;
  return OkStatus();
}

std::vector<ParamField> MakeTable() {
  const std::string flt_max = Num(FLT_MAX);
  std::vector<ParamField> rows = {
      {"temperature", kTgiLikeApis, ParamType::kFloat, OpenClosed(0, FLT_MAX),
       "Parameter temperature must be in (0.0," + flt_max + "], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.temperature, v.f); }},
      {"temperature", kVllmAndOpenAi, ParamType::kFloat, Closed(0, FLT_MAX),
       "Parameter temperature must be in [0.0," + flt_max + "], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.temperature, v.f); }},
      {"temperature", kOpenAiNativeOnly, ParamType::kFloat, Closed(0, 2),
       "Parameter temperature must be in [0.0,2.0], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.temperature, v.f); }},

      {"top_k", kTgiAndNative, ParamType::kInt, Ints(1, kInt32Max),
       "Parameter top_k must be in (0,2147483647], got {}",
       [](auto& v, auto& t) { return Set(t.request.sampling.top_k, v.i); }},
      {"top_k", kTritonApis, ParamType::kInt, Ints(0, kInt32Max),
       "Parameter top_k must be in [0,2147483647], got {}",
       [](auto& v, auto& t) { return Set(t.request.sampling.top_k, v.i); }},
      // The message says (0, though 0 is accepted here.
      {"top_k", kOpenAiNativeOnly, ParamType::kInt, Ints(0, kInt32Max),
       "Parameter top_k must be in (0,2147483647], got {}",
       [](auto& v, auto& t) { return Set(t.request.sampling.top_k, v.i); }},
      {"top_k", kVllmAndOpenAi, ParamType::kInt, IntRange{1, kInt32Max, -1},
       "Parameter top_k must be in -1 || (0,2147483647], got {}",
       [](auto& v, auto& t) { return Set(t.request.sampling.top_k, v.i); }},

      {"top_p", kTgiAndNative, ParamType::kFloat, Open(0, 1),
       "Parameter top_p must be in (0.0,1.0), got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.top_p, v.f); }},
      {"top_p", kAllApis & ~kTgiAndNative, ParamType::kFloat, OpenClosed(0, 1),
       "Parameter top_p must be in (0.0,1.0], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.top_p, v.f); }},

      {"typical_p", kTgiAndNative | ApiBits(Api::kTriton), ParamType::kFloat, OpenClosed(0, 1),
       "Parameter typical_p must be in (0.0,1.0], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.typical_p, v.f); }},

      {"min_p", kVllmLikeApis, ParamType::kFloat, Closed(0, 1),
       "Parameter min_p must be in [0.0, 1.0], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.min_p, v.f); }},

      {"repetition_penalty", kTgiLikeApis | ApiBits(Api::kVllm), ParamType::kFloat,
       OpenClosed(0, FLT_MAX),
       "Parameter 'repetition_penalty' must be in (0.0, " + flt_max + "], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.repetition_penalty, v.f); }},
      {"repetition_penalty", kOpenAiApis, ParamType::kFloat, OpenClosed(0, 2),
       "Parameter 'repetition_penalty' must be in (0.0, 2.0], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.repetition_penalty, v.f); }},

      {"presence_penalty", kVllmLikeApis, ParamType::kFloat, Closed(-2, 2),
       "Parameter presence_penalty not in [-2.0, 2.0], but got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.presence_penalty, v.f); }},
      {"frequency_penalty", kVllmLikeApis, ParamType::kFloat, Closed(-2, 2),
       "Parameter frequency_penalty should be in [-2.0, 2.0], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.frequency_penalty, v.f); }},

      {"do_sample", kTgiLikeApis, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.request.sampling.do_sample, v.b); }},
      {"watermark", kTgiLikeApis, ParamType::kBool, kNoRange, "",
       [](auto&, auto&) { return OkStatus(); }},  // no effect
      {"details", kTgiLikeApis, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.options.details, v.b); }},

      {"seed", kAllApis, ParamType::kUnsigned, Ints(0, kSeedMax),
       "Parameter seed must be in [0, 9223372036854775807], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.seed, v.u); }},

      {"max_new_tokens", kTgiLikeApis, ParamType::kInt, Ints(1, kInt32Max),
       "Parameter max_new_tokens must be in (0,2147483647], got {}.",
       [](auto& v, auto& t) { return Set(t.request.stop.max_tokens, v.i); }},
      {"max_tokens", kVllmLikeApis, ParamType::kInt, Ints(1, kInt32Max),
       "Parameter max_tokens must be (0,2147483647], got {}",
       [](auto& v, auto& t) { return Set(t.request.stop.max_tokens, v.i); }},
      {"max_completion_tokens", kOpenAiApis, ParamType::kInt, Ints(1, kInt32Max),
       "Parameter max_completion_tokens must be (0,2147483647], got {}",
       [](auto& v, auto& t) { return Set(t.request.stop.max_tokens, v.i); }},

      {"stop", kTgiOnly | kVllmLikeApis, ParamType::kJson, kNoRange, "", ApplyStop},
      {"stop_token_ids", kVllmLikeApis, ParamType::kJson, kNoRange, "", ApplyStopTokenIds},
      {"include_stop_str_in_output", kVllmLikeApis, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.request.stop.include_stop_str_in_output, v.b); },
       [](const ParamTarget& t) {  // read only with a stop string or id
         return !t.request.stop.stop.empty() || !t.request.stop.stop_token_ids.empty();
       }},
      {"ignore_eos", kVllmLikeApis, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.request.stop.ignore_eos, v.b); }},
      {"skip_special_tokens", kVllmLikeApis, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.request.skip_special_tokens, v.b); }},
      // After the max_tokens rows: it may not exceed them.
      {"min_tokens", kVllmLikeApis, ParamType::kInt, Ints(0, kInt32Max),
       "Parameter min_tokens must be in [0, 2147483647], got {}.", ApplyMinTokens},
      {"n", kVllmLikeApis, ParamType::kUnsigned, Ints(1, 8192),
       "Parameter [n] should be in [1, 8192], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.n, static_cast<int>(v.u)); }},
      {"best_of", kVllmLikeApis, ParamType::kUnsigned, Ints(1, 128),
       "Parameter best_of should be in [1, 128], got {}.",
       [](auto& v, auto& t) { return Set(t.request.sampling.best_of, static_cast<int>(v.u)); }},
      {"use_beam_search", kVllmLikeApis, ParamType::kBool, kNoRange, "",
       [](const ParamValue& v, ParamTarget&) {
         return v.b ? InvalidArgument("use_beam_search is not supported by mies") : OkStatus();
       }},

      {"decoder_input_details", kTgiOnly, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.options.decoder_input_details, v.b); }},
      {"return_full_text", kTgiOnly, ParamType::kBool, kNoRange, "",
       [](auto& v, auto& t) { return Set(t.options.return_full_text, v.b); }},
      {"truncate", kTgiOnly, ParamType::kInt, Ints(1, kInt32Max),
       "Parameter truncate must be in (0, 2147483647], got {}.",
       [](auto& v, auto& t) { return Set(t.options.truncate, v.i); }},
      {"adapter_id", kTgiOnly, ParamType::kString, kNoRange, "",
       [](const ParamValue& v, ParamTarget& t) {
         if (v.s == t.model.name) return OkStatus();
         return InvalidArgument("adapter_id ", v.s, " is not a loaded LoRA adapter.");
       }},

      {"priority", kNativeAndTriton, ParamType::kUnsigned, Ints(1, 5),
       "Parameter priority must be in [1,5], got {}.",
       [](auto& v, auto& t) { return Set(t.options.priority, static_cast<int>(v.u)); }},
      {"timeout", kNativeAndTriton, ParamType::kUnsigned, Ints(1, 65535),
       "Parameter timeout must be strictly positive and small than 65535 seconds, got {}.",
       [](auto& v, auto& t) { return Set(t.options.timeout_s, static_cast<int>(v.u)); }},
      {"batch_size", kTritonApis, ParamType::kInt, Ints(1, kInt32Max),
       "Parameter batch_size must be in (0, 2147483647], got {}.",
       [](auto&, auto&) { return OkStatus(); }},  // validated, not used

      {"logit_bias", kVllmLikeApis, ParamType::kJson, kNoRange, "", ApplyLogitBias},

      // Structured output. OpenAI's response_format (not on the native-OpenAI flavour, as
      // MindIE); vLLM's guided_* and structured_outputs on its /generate and the OpenAI routes;
      // TGI's grammar. Each is refused, naming it, where it is not defined.
      {"response_format", ApiBits(Api::kOpenAi), ParamType::kJson, kNoRange, "",
       [](auto& v, auto& t) { return SetConstraint(t, ParseResponseFormat(*v.json)); }},
      {"response_format", kAllApis & ~ApiBits(Api::kOpenAi), ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("response_format", t.api); }},
      {"guided_json", kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto& v, auto& t) { return SetConstraint(t, ParseGuidedField("guided_json", *v.json)); }},
      {"guided_json", kAllApis & ~kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("guided_json", t.api); }},
      {"guided_regex", kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto& v,
          auto& t) { return SetConstraint(t, ParseGuidedField("guided_regex", *v.json)); }},
      {"guided_regex", kAllApis & ~kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("guided_regex", t.api); }},
      {"guided_choice", kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto& v,
          auto& t) { return SetConstraint(t, ParseGuidedField("guided_choice", *v.json)); }},
      {"guided_choice", kAllApis & ~kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("guided_choice", t.api); }},
      {"guided_grammar", kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto& v,
          auto& t) { return SetConstraint(t, ParseGuidedField("guided_grammar", *v.json)); }},
      {"guided_grammar", kAllApis & ~kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("guided_grammar", t.api); }},
      {"structured_outputs", kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto& v, auto& t) { return SetConstraint(t, ParseStructuredOutputs(*v.json)); }},
      {"structured_outputs", kAllApis & ~kVllmAndOpenAi, ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("structured_outputs", t.api); }},
      {"grammar", kTgiOnly, ParamType::kJson, kNoRange, "",
       [](auto& v, auto& t) { return SetConstraint(t, ParseTgiGrammar(*v.json)); }},
      {"grammar", kAllApis & ~kTgiOnly, ParamType::kJson, kNoRange, "",
       [](auto&, auto& t) { return Unsupported("grammar", t.api); }},
  };
  return rows;
}

bool InRange(const ParamRange& range, ParamType type, const ParamValue& v) {
  if (const auto* r = std::get_if<IntRange>(&range)) {
    if (type == ParamType::kUnsigned) {
      if (v.u > static_cast<uint64_t>(INT64_MAX)) return false;
      const auto u = static_cast<int64_t>(v.u);
      return (u >= r->lo && u <= r->hi) || (r->also && u == *r->also);
    }
    return (v.i >= r->lo && v.i <= r->hi) || (r->also && v.i == *r->also);
  }
  if (const auto* r = std::get_if<FloatRange>(&range)) {
    return (r->lo_open ? v.f > r->lo : v.f >= r->lo) && (r->hi_open ? v.f < r->hi : v.f <= r->hi);
  }
  return true;
}

std::string ValueText(ParamType type, const ParamValue& v) {
  switch (type) {
    case ParamType::kInt:
      return absl::StrCat(v.i);
    case ParamType::kUnsigned:
      return absl::StrCat(v.u);
    case ParamType::kFloat:
      return Num(v.f);
    default:
      return v.json->dump();
  }
}

// Reads one row's field; absent or null fields are skipped.
Status ReadField(const ParamField& f, const json& params, ParamTarget& target) {
  ParamValue v;
  auto it = params.find(f.name);  // end() when params is null
  if (it == params.end() || it->is_null()) return OkStatus();
  v.json = &*it;
  switch (f.type) {
    case ParamType::kBool: {
      MIES_ASSIGN_OR_RETURN(auto b, GetBool(params, f.name));
      v.b = *b;
      break;
    }
    case ParamType::kInt: {
      MIES_ASSIGN_OR_RETURN(auto i, GetInt(params, f.name));
      v.i = *i;
      break;
    }
    case ParamType::kUnsigned: {
      MIES_ASSIGN_OR_RETURN(auto u, GetUnsigned(params, f.name));
      v.u = *u;
      break;
    }
    case ParamType::kFloat: {
      MIES_ASSIGN_OR_RETURN(auto d, GetFloat(params, f.name));
      v.f = *d;
      break;
    }
    case ParamType::kString: {
      MIES_RETURN_IF_ERROR(GetString(params, f.name).status());
      v.s = v.json->get<std::string>();
      break;
    }
    case ParamType::kJson:
      break;
  }
  if (!InRange(f.range, f.type, v)) {
    return InvalidArgument(absl::StrReplaceAll(f.range_error, {{"{}", ValueText(f.type, v)}}));
  }
  return f.apply(v, target);
}

}  // namespace

const char* ApiName(Api api) {
  switch (api) {
    case Api::kTgi:
      return "TGI";
    case Api::kNative:
      return "MindIE /infer";
    case Api::kTriton:
      return "Triton generate";
    case Api::kTritonToken:
      return "Triton /infer";
    case Api::kVllm:
      return "vLLM /generate";
    case Api::kOpenAi:
      return "OpenAI";
    case Api::kOpenAiNative:
      return "OpenAI (openAiSupport other than vllm)";
  }
  return "?";
}

std::span<const ParamField> GenerationParamTable() {
  static const std::vector<ParamField> table = MakeTable();
  return table;
}

Status ParseGenerationParams(const json& params, Api api, const ModelInfo& model,
                             engine::GenerateRequest* request, ApiOptions* options) {
  if (!params.is_null() && !params.is_object()) return FieldTypeError("parameters", "object");
  ParamTarget target{api, model, *request, *options};
  if (Accepts(kTgiLikeApis, api)) request->stop.max_tokens = kTgiDefaultMaxNewTokens;
  for (const ParamField& f : GenerationParamTable()) {
    if (!Accepts(f.apis, api) || (f.when != nullptr && !f.when(target))) continue;
    MIES_RETURN_IF_ERROR(ReadField(f, params, target));
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

}  // namespace mies::server
