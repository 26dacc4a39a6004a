// Reading a request: the JSON body under MindIE's limits, typed field access, and the checks of
// prompt inputs (text length, token ids). The generation parameters are generation_params.h's.
// Errors are InvalidArgument (-> 422) unless said otherwise.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/serving_context.h"

namespace mies::server {

// Parses a request body: valid UTF-8 JSON object, depth <= max_depth. Errors name the rule.
StatusOr<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth);

// Typed field access: absent or null -> nullopt; wrong type -> "<key> must be <type> type.".
StatusOr<std::optional<bool>> GetBool(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<int64_t>> GetInt(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<uint64_t>> GetUnsigned(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<double>> GetFloat(const nlohmann::json& obj, const char* key);
StatusOr<std::optional<std::string>> GetString(const nlohmann::json& obj, const char* key);
// "<key> must be <type> type.", the message of a field of the wrong type.
Status FieldTypeError(const char* key, const char* type);

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
