// Typed, range-checked reads from one JSON object that collect every error (with its full
// JSON path, the value and the rule) instead of stopping at the first, and remember which
// keys were read so the rest can be reported as unknown.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mies::config {

// Whether a key must be there: a missing compulsory key is an error naming it, a missing
// optional one reads as the default.
enum class Presence { kOptional, kRequired };
using enum Presence;

class ErrorList {
 public:
  void Add(std::string message) { errors_.push_back(std::move(message)); }
  bool empty() const { return errors_.empty(); }
  void AddUnknown(std::string path) { unknown_.push_back(std::move(path)); }
  const std::vector<std::string>& unknown() const { return unknown_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
  std::vector<std::string> unknown_;
};

// Compact rendering of a JSON value for messages (long values are shortened).
std::string DescribeValue(const nlohmann::json& value);

class JsonReader {
 public:
  // `object` may be null (then every read yields its default or a "missing" error).
  JsonReader(const nlohmann::json* object, std::string path, ErrorList* errors);

  const std::string& path() const { return path_; }
  bool present() const { return object_ != nullptr; }
  std::string PathOf(const std::string& key) const;
  bool Has(const std::string& key) const;
  // Marks a key as known without reading it (removed keys we accept and ignore).
  void Accept(const std::string& key) { read_.insert(key); }

  int64_t Int(const std::string& key, Presence presence, int64_t def, int64_t min, int64_t max);
  bool Bool(const std::string& key, Presence presence, bool def);
  std::string String(const std::string& key, Presence presence, const std::string& def,
                     size_t max_len = 4096);
  std::vector<std::string> StringList(const std::string& key, Presence presence,
                                      const std::vector<std::string>& def, size_t min_items,
                                      size_t max_items);
  // Returns a reader for a nested object; missing optional objects read as defaults.
  JsonReader Object(const std::string& key, Presence presence);
  const nlohmann::json* Raw(const std::string& key);

  // Keys present in the object that were never read or accepted, as full paths for messages.
  std::vector<std::string> UnknownKeys() const;
  // The same keys as they appear in the object (a key may itself contain '.').
  std::vector<std::string> UnknownNames() const;

  void Error(const std::string& key, const std::string& message);
  // Records UnknownKeys() in the error list's unknown-key list (warnings, not errors).
  void ReportUnknown();

 private:
  const nlohmann::json* Find(const std::string& key, Presence presence);

  const nlohmann::json* object_;
  std::string path_;
  ErrorList* errors_;
  std::set<std::string> read_;
};

}  // namespace mies::config
