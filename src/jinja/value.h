// The value model of the Jinja interpreter: Python's object model reduced to what chat templates
// touch (None, bool, int, float, str, list/tuple, dict, jinja's Undefined and namespace, and
// callables). Semantics (truthiness, str(), repr(), ==, <) follow Python 3 so that rendered
// text is byte-identical to jinja2's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "nlohmann/json.hpp"

namespace mies::jinja {

class Value;

// Ordered like a Python dict (insertion order); lookups are linear, dicts in templates are small.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  // Nesting depth and whether a namespace is inside, set by MakeDict / MakeNamespace and,
  // for a namespace's dict, again after each attribute assignment (UpdateShape).
  int depth = 1;
  bool has_namespace = false;

  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  void Set(Value key, Value value);
  void UpdateShape();
};

struct List {
  std::vector<Value> items;
  bool is_tuple = false;  // only changes repr(): "(1, 2)" instead of "[1, 2]"
  int depth = 1;          // as Dict's, set by MakeList
  bool has_namespace = false;
};

// Values a template builds nest at most this deep (Interpreter checks every result): printing,
// comparing and destroying a value recurse once per level, and a loop wrapping a list in a
// list 10^5 times would overflow the stack. (JSON inputs are already capped at kMaxJsonDepth.)
constexpr int kMaxValueDepth = 128;

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // Looks up a parameter the Python way: by position `index`, else by keyword `name`.
  // Returns nullptr when neither was passed.
  const Value* Get(size_t index, std::string_view name) const;
};

using NativeFunction = std::function<StatusOr<Value>(const CallArgs&)>;

struct Function {
  std::string name;
  NativeFunction call;
};

class Value {
 public:
  enum class Type {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kFunction
  };

  Value() = default;  // Undefined
  static Value Undefined(std::string message = "") {
    Value v;
    if (!message.empty()) v.str_ = std::make_shared<const std::string>(std::move(message));
    return v;
  }
  static Value None() { return Value(Type::kNone); }
  static Value Bool(bool b) {
    Value v(Type::kBool);
    v.int_ = b ? 1 : 0;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(Type::kInt);
    v.int_ = i;
    return v;
  }
  static Value Float(double d) {
    Value v(Type::kFloat);
    v.float_ = d;
    return v;
  }
  static Value String(std::string s) {
    Value v(Type::kString);
    v.str_ = std::make_shared<const std::string>(std::move(s));
    return v;
  }
  static Value MakeList(std::vector<Value> items, bool is_tuple = false) {
    Value v(Type::kList);
    v.list_ = std::make_shared<List>(List{std::move(items), is_tuple});
    for (const Value& item : v.list_->items) {
      v.list_->depth = std::max(v.list_->depth, item.depth() + 1);
      v.list_->has_namespace = v.list_->has_namespace || item.holds_namespace();
    }
    return v;
  }
  static Value MakeDict(Dict dict) {
    Value v(Type::kDict);
    v.dict_ = std::make_shared<Dict>(std::move(dict));
    v.dict_->UpdateShape();
    return v;
  }
  // jinja's namespace(): the one mutable object templates may assign attributes to. It may
  // not hold another namespace (ns.attr = ns would be a reference cycle: a leak, and endless
  // recursion when printed), so its depth stays exact through UpdateShape.
  static Value MakeNamespace(Dict dict) {
    Value v(Type::kNamespace);
    v.dict_ = std::make_shared<Dict>(std::move(dict));
    v.dict_->UpdateShape();
    return v;
  }
  static Value MakeFunction(std::string name, NativeFunction fn) {
    Value v(Type::kFunction);
    v.fn_ = std::make_shared<const Function>(Function{std::move(name), std::move(fn)});
    return v;
  }
  // Callers bound the nesting first (CheckJsonDepth): conversion recurses per level.
  static Value FromJson(const nlohmann::ordered_json& j);
  static Value FromJson(const nlohmann::json& j);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  // Python's numbers.Number: bool is an int subclass.
  bool is_number() const {
    return type_ == Type::kInt || type_ == Type::kFloat || type_ == Type::kBool;
  }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_namespace() const { return type_ == Type::kNamespace; }
  bool is_function() const { return type_ == Type::kFunction; }

  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // valid for kInt and kBool
  double as_double() const { return type_ == Type::kFloat ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return *str_; }
  const List& as_list() const { return *list_; }
  const std::vector<Value>& items() const { return list_->items; }
  const Dict& as_dict() const { return *dict_; }
  Dict& mutable_namespace() const { return *dict_; }
  const Function& as_function() const { return *fn_; }
  // Nesting depth: 0 for scalars, 1 for a flat list, dict or namespace.
  int depth() const {
    if (type_ == Type::kList) return list_->depth;
    if (type_ == Type::kDict || type_ == Type::kNamespace) return dict_->depth;
    return 0;
  }
  // Whether this is, or contains, a namespace.
  bool holds_namespace() const {
    if (type_ == Type::kNamespace) return true;
    if (type_ == Type::kList) return list_->has_namespace;
    if (type_ == Type::kDict) return dict_->has_namespace;
    return false;
  }
  // Why an Undefined is undefined, in jinja2's words ("'x' is undefined").
  std::string undefined_message() const { return str_ ? *str_ : "value is undefined"; }

  // Python bool(x).
  bool Truthy() const;
  // Python str(x); Undefined prints as "".
  std::string Str() const;
  // Python repr(x).
  std::string Repr() const;
  // Python's type name, as in error messages ("str", "dict", "NoneType").
  std::string TypeName() const;

 private:
  explicit Value(Type t) : type_(t) {}

  Type type_ = Type::kUndefined;
  int64_t int_ = 0;
  double float_ = 0;
  std::shared_ptr<const std::string> str_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<const Function> fn_;
};

// Repr() and Str() of lists and dicts stop after kMaxPrintBytes and set a per-thread flag
// rather than build terabytes ([s] * 500000 of one 30 MB string is a small list); the
// interpreter turns the flag into an error. TakePrintOverflow() reads and clears it.
inline constexpr size_t kMaxPrintBytes = size_t{32} << 20;
bool TakePrintOverflow();

// Rejects JSON nested deeper than `max_depth` (client-supplied messages reach the recursive
// conversion, printing and tojson code), naming `what`.
Status CheckJsonDepth(const nlohmann::ordered_json& j, int max_depth, std::string_view what);
constexpr int kMaxJsonDepth = 64;

// Python ==.
bool Equals(const Value& a, const Value& b);
// Python's ordering of a and b: negative, zero or positive; a TypeError-like status naming `op`
// for pairs Python cannot order ('<' not supported between instances of 'str' and 'int').
StatusOr<int> Compare(const Value& a, const Value& b, std::string_view op);
// Python repr(float).
std::string FloatRepr(double d);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  // Without indent (Python's indent=None) everything is on one line; otherwise each level is
  // indented by `indent_string`.
  bool has_indent = false;
  std::string indent_string;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// Python json.dumps(x, ...) for the options HF's tojson exposes.
StatusOr<std::string> JsonDumps(const Value& v, const JsonDumpOptions& options);

}  // namespace mies::jinja
