// A small JSON Schema validator for the tests (independent of the grammar code): the keywords
// the grammar supports, so a generated text can be checked against its schema.
#pragma once

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace mies::grammar::testing {

class SchemaValidator {
 public:
  explicit SchemaValidator(nlohmann::json root) : root_(std::move(root)) {}

  // Empty when `v` is valid; else where and why not.
  std::string Validate(const nlohmann::json& v) const { return Check(root_, v, "$"); }

 private:
  static size_t CodePoints(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  static bool HasType(const nlohmann::json& v, const std::string& t) {
    if (t == "null") return v.is_null();
    if (t == "boolean") return v.is_boolean();
    if (t == "string") return v.is_string();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "number") return v.is_number();
    if (t == "integer") {
      return v.is_number_integer() ||
             (v.is_number_float() &&
              v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
    }
    return false;
  }

  const nlohmann::json& Resolve(const std::string& ref) const {
    return root_.at(nlohmann::json::json_pointer(ref.substr(1)));
  }

  std::string Check(const nlohmann::json& s, const nlohmann::json& v, const std::string& at) const {
    if (s.is_boolean()) return s.get<bool>() ? "" : at + ": schema false";
    if (s.contains("$ref")) return Check(Resolve(s["$ref"]), v, at);
    if (s.contains("allOf")) {
      for (const auto& sub : s["allOf"]) {
        if (auto e = Check(sub, v, at); !e.empty()) return e;
      }
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      int ok = 0;
      for (const auto& sub : s[key]) ok += Check(sub, v, at).empty();
      if (ok == 0 || (std::string(key) == "oneOf" && ok > 1)) return at + ": " + key + " fails";
    }
    if (s.contains("const") && v != s["const"]) return at + ": not the const";
    if (s.contains("enum")) {
      bool found = false;
      for (const auto& e : s["enum"]) found = found || e == v;
      if (!found) return at + ": not in enum";
    }
    if (s.contains("type")) {
      bool ok = false;
      if (s["type"].is_string()) {
        ok = HasType(v, s["type"]);
      } else {
        for (const auto& t : s["type"]) ok = ok || HasType(v, t);
      }
      if (!ok) return at + ": wrong type";
    }
    if (v.is_string()) {
      const std::string str = v.get<std::string>();
      if (s.contains("minLength") && CodePoints(str) < s["minLength"].get<size_t>()) {
        return at + ": shorter than minLength";
      }
      if (s.contains("maxLength") && CodePoints(str) > s["maxLength"].get<size_t>()) {
        return at + ": longer than maxLength";
      }
      if (s.contains("pattern") &&
          !std::regex_search(str, std::regex(s["pattern"].get<std::string>()))) {
        return at + ": does not match pattern";
      }
      if (s.contains("format")) {
        static const std::string date = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
        static const std::string time =
            "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-"
            "9])";
        const std::string f = s["format"];
        std::string re = f == "date"        ? date
                         : f == "time"      ? time
                         : f == "date-time" ? date + "T" + time
                                            : "[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}";
        if (!std::regex_match(str, std::regex(re))) return at + ": not a " + f;
      }
    }
    if (v.is_number()) {
      const double d = v.get<double>();
      if (s.contains("minimum") && d < s["minimum"].get<double>()) return at + ": below minimum";
      if (s.contains("maximum") && d > s["maximum"].get<double>()) return at + ": above maximum";
      if (s.contains("exclusiveMinimum") && d <= s["exclusiveMinimum"].get<double>()) {
        return at + ": not above exclusiveMinimum";
      }
      if (s.contains("exclusiveMaximum") && d >= s["exclusiveMaximum"].get<double>()) {
        return at + ": not below exclusiveMaximum";
      }
    }
    if (v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) {
        return at + ": fewer than minItems";
      }
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) {
        return at + ": more than maxItems";
      }
      size_t prefix = 0;
      if (s.contains("prefixItems")) {
        prefix = s["prefixItems"].size();
        for (size_t i = 0; i < prefix && i < v.size(); ++i) {
          if (auto e = Check(s["prefixItems"][i], v[i], at + "[" + std::to_string(i) + "]");
              !e.empty()) {
            return e;
          }
        }
      }
      if (s.contains("items")) {
        for (size_t i = prefix; i < v.size(); ++i) {
          if (auto e = Check(s["items"], v[i], at + "[" + std::to_string(i) + "]"); !e.empty()) {
            return e;
          }
        }
      }
    }
    if (v.is_object()) {
      if (s.contains("required")) {
        for (const auto& r : s["required"]) {
          if (!v.contains(r.get<std::string>())) return at + ": missing " + r.get<std::string>();
        }
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string where = at + "." + it.key();
        if (s.contains("properties") && s["properties"].contains(it.key())) {
          if (auto e = Check(s["properties"][it.key()], it.value(), where); !e.empty()) return e;
        } else if (s.contains("additionalProperties")) {
          if (auto e = Check(s["additionalProperties"], it.value(), where); !e.empty()) return e;
        }
      }
    }
    return "";
  }

  nlohmann::json root_;
};

}  // namespace mies::grammar::testing
