#include "config/json_reader.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace mies::config {

std::string DescribeValue(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  const char* type = value.type_name();
  return absl::StrCat(type, " ", text);
}

JsonReader::JsonReader(const nlohmann::json* object, std::string path, ErrorList* errors)
    : object_(object), path_(std::move(path)), errors_(errors) {}

std::string JsonReader::PathOf(const std::string& key) const {
  return path_.empty() ? key : absl::StrCat(path_, ".", key);
}

bool JsonReader::Has(const std::string& key) const {
  return object_ != nullptr && object_->is_object() && object_->contains(key);
}

void JsonReader::Error(const std::string& key, const std::string& message) {
  errors_->Add(absl::StrCat(PathOf(key), ": ", message));
}

const nlohmann::json* JsonReader::Find(const std::string& key, Presence presence) {
  read_.insert(key);
  // A missing section was reported once by its parent; its fields are not reported again.
  if (object_ == nullptr || !object_->is_object()) return nullptr;
  auto it = object_->find(key);
  if (it == object_->end()) {
    if (presence == kRequired) Error(key, "missing compulsory field");
    return nullptr;
  }
  return &*it;
}

const nlohmann::json* JsonReader::Raw(const std::string& key) { return Find(key, kOptional); }

int64_t JsonReader::Int(const std::string& key, Presence presence, int64_t def, int64_t min,
                        int64_t max) {
  const nlohmann::json* v = Find(key, presence);
  if (v == nullptr) return def;
  std::string range = absl::StrCat("[", min, ", ", max, "]");
  if (!v->is_number_integer()) {
    // 5.0 is accepted as 5; 5.5 and non-numbers are not.
    if (v->is_number_float()) {
      // Range first: casting a double outside int64's range is undefined behaviour
      // (2^63 itself is out: double(INT64_MAX) rounds up to it).
      double d = v->get<double>();
      if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) {
        int64_t i = static_cast<int64_t>(d);
        if (i >= min && i <= max) return i;
      }
    }
    Error(key, absl::StrCat("expected an integer in ", range, ", got ", DescribeValue(*v)));
    return def;
  }
  int64_t value;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Error(key, absl::StrCat("value ", u, " is out of range ", range));
      return def;
    }
    value = static_cast<int64_t>(u);
  } else {
    value = v->get<int64_t>();
  }
  if (value < min || value > max) {
    Error(key, absl::StrCat("value ", value, " is out of range ", range));
    return def;
  }
  return value;
}

bool JsonReader::Bool(const std::string& key, Presence presence, bool def) {
  const nlohmann::json* v = Find(key, presence);
  if (v == nullptr) return def;
  if (!v->is_boolean()) {
    Error(key, absl::StrCat("expected true or false, got ", DescribeValue(*v)));
    return def;
  }
  return v->get<bool>();
}

std::string JsonReader::String(const std::string& key, Presence presence, const std::string& def,
                               size_t max_len) {
  const nlohmann::json* v = Find(key, presence);
  if (v == nullptr) return def;
  if (!v->is_string()) {
    Error(key, absl::StrCat("expected a string, got ", DescribeValue(*v)));
    return def;
  }
  std::string s = v->get<std::string>();
  if (s.size() > max_len) {
    Error(key, absl::StrCat("string of ", s.size(), " characters exceeds the limit of ", max_len));
    return def;
  }
  return s;
}

std::vector<std::string> JsonReader::StringList(const std::string& key, Presence presence,
                                                const std::vector<std::string>& def,
                                                size_t min_items, size_t max_items) {
  const nlohmann::json* v = Find(key, presence);
  if (v == nullptr) return def;
  std::string rule = absl::StrCat("a list of ", min_items, " to ", max_items, " strings");
  if (!v->is_array()) {
    Error(key, absl::StrCat("expected ", rule, ", got ", DescribeValue(*v)));
    return def;
  }
  if (v->size() < min_items || v->size() > max_items) {
    Error(key, absl::StrCat("has ", v->size(), " items; expected ", rule));
    return def;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string() || item.get<std::string>().empty()) {
      Error(absl::StrCat(key, "[", i, "]"),
            absl::StrCat("expected a non-empty string, got ", DescribeValue(item)));
      return def;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

JsonReader JsonReader::Object(const std::string& key, Presence presence) {
  const nlohmann::json* v = Find(key, presence);
  if (v != nullptr && !v->is_object()) {
    Error(key, absl::StrCat("expected an object, got ", DescribeValue(*v)));
    v = nullptr;
  }
  return JsonReader(v, PathOf(key), errors_);
}

std::vector<std::string> JsonReader::UnknownNames() const {
  std::vector<std::string> unknown;
  if (object_ == nullptr || !object_->is_object()) return unknown;
  for (auto it = object_->begin(); it != object_->end(); ++it) {
    if (!read_.count(it.key())) unknown.push_back(it.key());
  }
  return unknown;
}

std::vector<std::string> JsonReader::UnknownKeys() const {
  std::vector<std::string> unknown = UnknownNames();
  for (auto& key : unknown) key = PathOf(key);
  return unknown;
}

void JsonReader::ReportUnknown() {
  for (auto& key : UnknownKeys()) errors_->AddUnknown(std::move(key));
}

}  // namespace mies::config
