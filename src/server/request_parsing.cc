#include "server/request_parsing.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/json_depth.h"

namespace mies::server {

using nlohmann::json;

namespace {

constexpr int64_t kMaxInputIds = 1048576;

const json& Field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

}  // namespace

Status FieldTypeError(const char* key, const char* type) {
  return InvalidArgument(key, " must be ", type, " type.");
}

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
  if (!v.is_boolean()) return FieldTypeError(key, "boolean");
  return std::optional<bool>(v.get<bool>());
}

StatusOr<std::optional<int64_t>> GetInt(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<int64_t>();
  if (!v.is_number_integer()) return FieldTypeError(key, "integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgument(key, " is out of the integer range");
  }
  return std::optional<int64_t>(v.get<int64_t>());
}

StatusOr<std::optional<uint64_t>> GetUnsigned(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<uint64_t>();
  if (!v.is_number_unsigned()) return FieldTypeError(key, "unsigned");
  return std::optional<uint64_t>(v.get<uint64_t>());
}

StatusOr<std::optional<double>> GetFloat(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<double>();
  if (!v.is_number()) return FieldTypeError(key, "float");
  double d = v.get<double>();
  if (!std::isfinite(d)) return InvalidArgument(key, " must be a finite number");
  return std::optional<double>(d);
}

StatusOr<std::optional<std::string>> GetString(const json& obj, const char* key) {
  const json& v = Field(obj, key);
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return FieldTypeError(key, "string");
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
  if (!value.is_array()) return FieldTypeError(key, "array");
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

}  // namespace mies::server
