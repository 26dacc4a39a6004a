// JSON body parsing under MindIE's limits and the per-API sampling-parameter validation matrix
// (MINDIE-REFERENCE section 2.5.1): which fields each API accepts, their types and ranges, and
// MindIE's messages for violations. Errors are InvalidArgument (-> 422).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/request.h"
#include "server/serving_context.h"

namespace mies::server {

// Parses a request body: valid UTF-8 JSON object, depth <= max_depth. Errors name the rule.
StatusOr<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth);

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

// Request options outside the engine's request.
struct ApiOptions {
  bool stream = false;
  bool details = false;
  bool decoder_input_details = false;
  bool return_full_text = false;
  std::optional<int64_t> truncate;  // TGI: keep the last N prompt tokens
  std::optional<int> timeout_s;     // native/Triton `timeout`
  int priority = 5;
};

// Reads every sampling/stop field `api` accepts from `params` (a JSON object; null = empty)
// into `request`, validating types and ranges. Does not read n, logprobs or stream for the
// OpenAI APIs (their adapter does: the meaning differs between chat and completions).
Status ParseGenerationParams(const nlohmann::json& params, Api api, const ModelInfo& model,
                             engine::GenerateRequest* request, ApiOptions* options);

// Shared validation of n/best_of against the model's limits and the temperature rule.
Status CheckN(const engine::SamplingParams& sampling, const ModelInfo& model, bool stream);

// Typed field access: absent or null -> nullopt; wrong type -> "<key> must be <type> type.".
StatusOr<std::optional<bool>> GetBool(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<int64_t>> GetInt(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<uint64_t>> GetUnsigned(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<double>> GetFloat(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<std::string>> GetString(const nlohmann::json& obj, const char* key);

// Text input length check: (0, max_request_chars] UTF-16 units.
Status CheckInputText(const std::string& text, const ModelInfo& model, const char* what);
// Token-id input check: 1..1048576 ids, each in [0, 1048576] (422), each < vocab (424 via
// FailedPrecondition "Invalid Input Ids").
Status CheckInputIds(const std::vector<int32_t>& ids, const ModelInfo& model);
// Reads a JSON array of integers as token ids (422 naming `key` on anything else).
StatusOr<std::vector<int32_t>> ReadIdArray(const nlohmann::json& value, const char* key);

// Number of UTF-16 code units of a UTF-8 string.
int64_t Utf16Length(std::string_view utf8);

}  // namespace mies::server
