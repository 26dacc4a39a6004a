// The generation-parameter table (MINDIE-REFERENCE section 2.5.1): one row per field and range,
// naming the APIs that accept the field, its JSON type, the values it accepts with MindIE's
// message for any other, and where it goes in the engine request or the API options. An API
// that does not accept a field does not read it (ignored, as MindIE does). A field whose range
// differs between APIs has one row per range, next to each other. Errors are InvalidArgument
// (-> 422). Structured-output fields are refused by a row of their own on the APIs that do not
// define them, so a client never mistakes an ignored constraint for a kept one.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "common/status.h"
#include "engine/request.h"
#include "server/constraint_spec.h"
#include "server/serving_context.h"

namespace mies::server {

// Which API's rules apply.
enum class Api {
  kTgi,          // "/", "/generate" with inputs, "/generate_stream" (fields under parameters)
  kNative,       // /infer, /infer_token (under parameters)
  kTriton,       // /v2/models/{m}/generate(_stream) (under parameters)
  kTritonToken,  // /v2/models/{m}/infer (under inputs[0].parameters)
  kVllm,         // vLLM /generate (top level)
  kOpenAi,       // /v1/chat/completions (vLLM flavour) and /v1/completions (top level)
  kOpenAiNative  // /v1/chat/completions when openAiSupport != "vllm"
};

// A set of APIs, one bit per Api.
using ApiSet = unsigned;
constexpr ApiSet ApiBits(auto... apis) { return ((1u << static_cast<unsigned>(apis)) | ...); }
constexpr bool Accepts(ApiSet set, Api api) { return (set & ApiBits(api)) != 0; }
inline constexpr ApiSet kTgiLikeApis =
    ApiBits(Api::kTgi, Api::kNative, Api::kTriton, Api::kTritonToken);
inline constexpr ApiSet kOpenAiApis = ApiBits(Api::kOpenAi, Api::kOpenAiNative);
inline constexpr ApiSet kVllmLikeApis = ApiBits(Api::kVllm) | kOpenAiApis;
inline constexpr ApiSet kAllApis = kTgiLikeApis | kVllmLikeApis;

// Request options outside the engine's request.
struct ApiOptions {
  bool stream = false;
  bool details = false;
  bool decoder_input_details = false;
  bool return_full_text = false;
  std::optional<int64_t> truncate;  // TGI: keep the last N prompt tokens
  std::optional<int> timeout_s;     // native/Triton `timeout`
  int priority = 5;
  // Structured output the request asks for (response_format, guided_*, structured_outputs, TGI's
  // grammar); compiled by the route (AttachConstraint) once the prompt is known.
  std::optional<ConstraintSpec> constraint;
};

// The API's name in messages ("TGI", "vLLM /generate", ...).
const char* ApiName(Api api);

// Reads every sampling/stop field `api` accepts from `params` (a JSON object; null = empty)
// into a fresh `request` and `options`, validating types and ranges. Does not read logprobs or
// stream for the OpenAI APIs (their adapter does: the meaning differs between chat and
// completions).
Status ParseGenerationParams(const nlohmann::json& params, Api api, const ModelInfo& model,
                             engine::GenerateRequest* request, ApiOptions* options);

// Shared validation of n/best_of against the model's limits and the temperature rule.
Status CheckN(const engine::SamplingParams& sampling, const ModelInfo& model, bool stream);

// --- the table (exposed for tests) ------------------------------------------------------------

// The JSON type a field must have ("<field> must be <type> type." otherwise). kJson: the value
// as it is, for fields the row's `apply` checks itself.
enum class ParamType { kBool, kInt, kUnsigned, kFloat, kString, kJson };

struct IntRange {  // [lo, hi], plus one more accepted value
  int64_t lo = 0;
  int64_t hi = 0;
  std::optional<int64_t> also;
};
struct FloatRange {  // lo to hi, each end open or closed
  double lo = 0;
  bool lo_open = false;
  double hi = 0;
  bool hi_open = false;
};
using ParamRange = std::variant<std::monostate, IntRange, FloatRange>;

// A present (non-null) value of the row's type: b, i, u, f or s; `json` always.
struct ParamValue {
  const nlohmann::json* json = nullptr;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
};

// Where values go.
struct ParamTarget {
  Api api;
  const ModelInfo& model;
  engine::GenerateRequest& request;
  ApiOptions& options;
};

struct ParamField {
  const char* name;
  ApiSet apis;
  ParamType type;
  ParamRange range;         // numbers: the accepted values (monostate: any)
  std::string range_error;  // MindIE's message for a number outside `range`; "{}" is the value
  Status (*apply)(const ParamValue& value, ParamTarget& target);
  // Read only when this holds (nullptr: always).
  bool (*when)(const ParamTarget& target) = nullptr;
};

// In reading order: the first failing field is the one reported.
std::span<const ParamField> GenerationParamTable();

}  // namespace mies::server
