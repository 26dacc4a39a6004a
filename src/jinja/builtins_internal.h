// Internal helpers shared by builtins.cc, methods.cc and filters.cc; not part of the
// module's interface.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jinja/value.h"

namespace mies::jinja::internal {

// Python-style errors ("TypeError"-like and jinja's UndefinedError), as InvalidArgument.
Status TypeError(std::string_view msg);
Status UndefinedError(const Value& v);
// Undefined results of failed lookups, with jinja2's messages.
Value MissingAttr(const Value& obj, const std::string& name);
Value MissingItem(const Value& obj, const Value& key);
// Python's iter(), the implementation behind the public Iterate().
StatusOr<std::vector<Value>> IterateImpl(const Value& v);
// Python's index normalisation; false when out of range.
bool NormalizeIndex(int64_t& i, size_t size);
// Attribute path lookup used by map/selectattr/sort(attribute=...): "a.b" or "0".
StatusOr<Value> GetAttributePath(const Value& obj, const std::string& path);

// CheckBuiltBytes for py::Replace(s, old_sub, new_sub, count), before building it.
Status CheckReplaceSize(std::string_view s, std::string_view old_sub, std::string_view new_sub,
                        int64_t count);
// "%s" % x, printf-style.
StatusOr<std::string> PercentFormat(const std::string& fmt, const Value& args);
// Bound methods of str, dict and list values (nullopt when `name` is no such method).
std::optional<Value> StringMethod(const Value& obj, const std::string& name);
std::optional<Value> DictMethod(const Value& obj, const std::string& name);
std::optional<Value> Method(const Value& obj, const std::string& name);

// Positional-or-keyword argument access with Python-like type errors naming `fn`.
struct Params {
  const CallArgs& args;
  std::string_view fn;

  const Value* Get(size_t i, std::string_view name) const { return args.Get(i, name); }
  StatusOr<std::optional<std::string>> OptString(size_t i, std::string_view name) const {
    const Value* v = Get(i, name);
    if (!v || v->is_none()) return std::optional<std::string>();
    if (!v->is_string()) {
      return TypeError(std::string(fn) + "() argument '" + std::string(name) +
                       "' must be str, not " + v->TypeName());
    }
    return std::optional<std::string>(v->as_string());
  }
  StatusOr<std::string> String(size_t i, std::string_view name) const {
    const Value* v = Get(i, name);
    if (!v) {
      return TypeError(std::string(fn) + "() missing required argument '" + std::string(name) +
                       "'");
    }
    if (!v->is_string()) {
      return TypeError(std::string(fn) + "() argument '" + std::string(name) +
                       "' must be str, not " + v->TypeName());
    }
    return v->as_string();
  }
  StatusOr<int64_t> Int(size_t i, std::string_view name, int64_t def) const {
    const Value* v = Get(i, name);
    if (!v || v->is_none()) return def;
    if (!(v->is_int() || v->is_bool())) {
      return TypeError(std::string(fn) + "() argument '" + std::string(name) +
                       "' must be an integer, not " + v->TypeName());
    }
    return v->as_int();
  }
  bool Bool(size_t i, std::string_view name, bool def) const {
    const Value* v = Get(i, name);
    return v ? v->Truthy() : def;
  }
};

}  // namespace mies::jinja::internal
