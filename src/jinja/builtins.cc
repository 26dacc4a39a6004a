#include "jinja/builtins.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "jinja/builtins_internal.h"
#include "jinja/py_string.h"

namespace mies::jinja {
namespace internal {

Status TypeError(std::string_view msg) { return InvalidArgument(std::string(msg)); }

Status UndefinedError(const Value& v) { return InvalidArgument(v.undefined_message()); }

// jinja2's object_type_repr, used in Undefined messages: "'dict object' has no attribute 'x'".
std::string ObjectTypeRepr(const Value& v) {
  if (v.is_none()) return "None";
  return v.TypeName() + " object";
}

Value MissingAttr(const Value& obj, const std::string& name) {
  std::string owner = ObjectTypeRepr(obj);
  return Value::Undefined(obj.is_none() ? "'None' has no attribute '" + name + "'"
                                        : "'" + owner + "' has no attribute '" + name + "'");
}

Value MissingItem(const Value& obj, const Value& key) {
  if (key.is_string()) return MissingAttr(obj, key.as_string());
  return Value::Undefined(ObjectTypeRepr(obj) + " has no element " + key.Repr());
}

// ---- iteration and lookup ----

StatusOr<std::vector<Value>> IterateImpl(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return std::vector<Value>();
    case Value::Type::kList:
      return v.items();
    case Value::Type::kDict: {
      std::vector<Value> keys;
      for (const auto& kv : v.as_dict().items) keys.push_back(kv.first);
      return keys;
    }
    case Value::Type::kString: {
      std::vector<Value> chars;
      for (char32_t c : py::Decode(v.as_string())) {
        std::string s;
        py::AppendUtf8(s, c);
        chars.push_back(Value::String(std::move(s)));
      }
      return chars;
    }
    default:
      return TypeError("'" + v.TypeName() + "' object is not iterable");
  }
}

bool NormalizeIndex(int64_t& i, size_t size) {
  if (i < 0) i += static_cast<int64_t>(size);
  return i >= 0 && i < static_cast<int64_t>(size);
}

StatusOr<Value> GetAttributePath(const Value& obj, const std::string& path) {
  Value cur = obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    if (numeric) {
      MIES_ASSIGN_OR_RETURN(cur, GetItem(cur, Value::Int(std::stoll(part))));
    } else {
      MIES_ASSIGN_OR_RETURN(cur, GetItem(cur, Value::String(part)));
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

}  // namespace internal

namespace {

constexpr std::string_view kRaisedPayload = "mies.jinja.raise_exception";

using internal::IterateImpl;
using internal::Method;
using internal::MissingAttr;
using internal::MissingItem;
using internal::NormalizeIndex;
using internal::Params;
using internal::PercentFormat;
using internal::TypeError;
using internal::UndefinedError;

// ---- arithmetic ----

StatusOr<Value> IntResult(bool overflow, int64_t r) {
  if (overflow) return InvalidArgument("integer overflow (beyond 64 bits) in template arithmetic");
  return Value::Int(r);
}

Status UnsupportedOperands(std::string_view op, const Value& a, const Value& b) {
  return TypeError("unsupported operand type(s) for " + std::string(op) + ": '" + a.TypeName() +
                   "' and '" + b.TypeName() + "'");
}

StatusOr<Value> Repeat(const Value& seq, int64_t n) {
  const uint64_t unit = seq.is_string() ? seq.as_string().size() : seq.items().size();
  // An empty sequence repeats to empty whatever n is (and must not loop n times).
  if (n <= 0 || unit == 0) {
    return seq.is_string() ? Value::String("") : Value::MakeList({}, seq.as_list().is_tuple);
  }
  const uint64_t count = static_cast<uint64_t>(n);
  // Saturated: count * unit may not fit in 64 bits.
  const uint64_t total = count > (uint64_t{1} << 62) / unit ? uint64_t{1} << 62 : count * unit;
  const std::string what = absl::StrCat(seq.TypeName(), " * ", n);
  MIES_RETURN_IF_ERROR(seq.is_string() ? CheckBuiltBytes(what, total)
                                       : CheckBuiltItems(what, total));
  if (seq.is_string()) {
    const std::string& unit_text = seq.as_string();
    if (unit == 1) return Value::String(std::string(count, unit_text[0]));
    std::string out;
    out.reserve(total);
    for (uint64_t i = 0; i < count; ++i) out += unit_text;
    return Value::String(std::move(out));
  }
  std::vector<Value> out;
  out.reserve(total);
  for (uint64_t i = 0; i < count; ++i)
    out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::MakeList(std::move(out), seq.as_list().is_tuple);
}

}  // namespace

StatusOr<Value> GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_namespace()) {
    const Value* v = obj.as_dict().Find(name);
    return v ? *v : MissingAttr(obj, name);
  }
  if (auto m = Method(obj, name)) return *m;
  if (obj.is_dict()) {
    const Value* v = obj.as_dict().Find(name);
    return v ? *v : MissingAttr(obj, name);
  }
  return MissingAttr(obj, name);
}

StatusOr<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict() || obj.is_namespace()) {
    if (const Value* v = obj.as_dict().Find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      if (NormalizeIndex(i, obj.items().size())) return obj.items()[static_cast<size_t>(i)];
    } else {
      std::u32string u = py::Decode(obj.as_string());
      if (NormalizeIndex(i, u.size())) {
        std::string s;
        py::AppendUtf8(s, u[static_cast<size_t>(i)]);
        return Value::String(s);
      }
    }
    return MissingItem(obj, key);
  }
  // jinja falls back to attribute lookup for string keys (obj['items'] is the method).
  if (key.is_string() && !obj.is_namespace()) {
    if (auto m = Method(obj, key.as_string())) return *m;
  }
  return MissingItem(obj, key);
}

StatusOr<Value> GetSlice(const Value& obj, const Value& start_v, const Value& stop_v,
                         const Value& step_v) {
  if (obj.is_undefined()) return UndefinedError(obj);
  auto as_index = [](const Value& v, const char* what) -> StatusOr<std::optional<int64_t>> {
    if (v.is_undefined() || v.is_none()) return std::optional<int64_t>();
    if (!(v.is_int() || v.is_bool())) {
      return InvalidArgument("slice ", what, " must be an integer or None, not ", v.TypeName());
    }
    return std::optional<int64_t>(v.as_int());
  };
  MIES_ASSIGN_OR_RETURN(auto start, as_index(start_v, "start"));
  MIES_ASSIGN_OR_RETURN(auto stop, as_index(stop_v, "stop"));
  MIES_ASSIGN_OR_RETURN(auto step_opt, as_index(step_v, "step"));
  const int64_t step = step_opt.value_or(1);
  if (step == 0) return InvalidArgument("slice step cannot be zero");
  std::u32string chars;
  int64_t n = 0;
  if (obj.is_string()) {
    chars = py::Decode(obj.as_string());
    n = static_cast<int64_t>(chars.size());
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.items().size());
  } else {
    return InvalidArgument("'", obj.TypeName(), "' object is not subscriptable");
  }
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t def_pos, int64_t def_neg) {
    if (!v) return step > 0 ? def_pos : def_neg;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= n) {
      x = step < 0 ? n - 1 : n;
    }
    return x;
  };
  const int64_t lo = adjust(start, 0, n - 1);
  const int64_t hi = adjust(stop, n, -1);
  std::vector<int64_t> idx;
  if (step > 0) {
    for (int64_t i = lo; i < hi; i += step) idx.push_back(i);
  } else {
    for (int64_t i = lo; i > hi; i += step) idx.push_back(i);
  }
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx) py::AppendUtf8(out, chars[static_cast<size_t>(i)]);
    return Value::String(out);
  }
  std::vector<Value> out;
  out.reserve(idx.size());
  for (int64_t i : idx) out.push_back(obj.items()[static_cast<size_t>(i)]);
  return Value::MakeList(std::move(out), obj.as_list().is_tuple);
}

StatusOr<std::vector<Value>> Iterate(const Value& v) { return IterateImpl(v); }

StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kUndefined:
      return false;
    case Value::Type::kString:
      if (!item.is_string()) {
        if (item.is_undefined()) return UndefinedError(item);
        return TypeError("'in <string>' requires string as left operand, not " + item.TypeName());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::kList:
      return std::any_of(container.items().begin(), container.items().end(),
                         [&](const Value& x) { return Equals(x, item); });
    case Value::Type::kDict:
      return container.as_dict().Find(item) != nullptr;
    default:
      return TypeError("argument of type '" + container.TypeName() + "' is not iterable");
  }
}

StatusOr<Value> BinaryOp(std::string_view op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = a.Str();
    const std::string t = b.Str();
    MIES_RETURN_IF_ERROR(CheckBuiltBytes("~ (string concatenation)", s.size() + t.size()));
    return Value::String(s + t);
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool nums = a.is_number() && b.is_number();
  int64_t r = 0;
  if (op == "+") {
    if (ints) {
      const bool overflow = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
      return IntResult(overflow, r);
    }
    if (nums) return Value::Float(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      MIES_RETURN_IF_ERROR(
          CheckBuiltBytes("str + str", a.as_string().size() + b.as_string().size()));
      return Value::String(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
      MIES_RETURN_IF_ERROR(CheckBuiltItems("list + list", a.items().size() + b.items().size()));
      std::vector<Value> out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return Value::MakeList(std::move(out), a.as_list().is_tuple);
    }
    if (a.is_string() || a.is_list()) {
      return TypeError("can only concatenate " + a.TypeName() + " (not \"" + b.TypeName() +
                       "\") to " + a.TypeName());
    }
    return UnsupportedOperands(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      const bool overflow = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
      return IntResult(overflow, r);
    }
    if (nums) return Value::Float(a.as_double() - b.as_double());
    return UnsupportedOperands(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      const bool overflow = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
      return IntResult(overflow, r);
    }
    if (nums) return Value::Float(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return Repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return Repeat(b, a.as_int());
    return UnsupportedOperands(op, a, b);
  }
  if (op == "/") {
    if (!nums) return UnsupportedOperands(op, a, b);
    if (b.as_double() == 0) return InvalidArgument("division by zero");
    return Value::Float(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (a.is_string() && op == "%") {
      MIES_ASSIGN_OR_RETURN(std::string s, PercentFormat(a.as_string(), b));
      return Value::String(s);
    }
    if (!nums) return UnsupportedOperands(op, a, b);
    if (b.as_double() == 0) {
      return InvalidArgument(ints ? "integer division or modulo by zero" : "float modulo");
    }
    if (ints) {
      int64_t x = a.as_int(), y = b.as_int();
      // The one quotient beyond 64 bits (and x86's idiv traps on it rather than wrapping).
      if (x == INT64_MIN && y == -1) {
        return op == "//" ? IntResult(true, 0) : StatusOr<Value>(Value::Int(0));
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward negative infinity
        --q;
        m += y;
      }
      return Value::Int(op == "//" ? q : m);
    }
    double x = a.as_double(), y = b.as_double();
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    if (op == "%") return Value::Float(m);
    return Value::Float(std::floor(x / y));
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      // Squaring, so 1 ** 2**62 takes 62 steps rather than forever.
      int64_t result = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0; e >>= 1) {
        if ((e & 1) && __builtin_mul_overflow(result, base, &result)) return IntResult(true, 0);
        if (e > 1 && __builtin_mul_overflow(base, base, &base)) return IntResult(true, 0);
      }
      return Value::Int(result);
    }
    if (nums) return Value::Float(std::pow(a.as_double(), b.as_double()));
    return UnsupportedOperands("** or pow()", a, b);
  }
  return InvalidArgument("unknown operator '", std::string(op), "'");
}

StatusOr<Value> UnaryOp(std::string_view op, const Value& a) {
  if (op == "not") return Value::Bool(!a.Truthy());
  if (a.is_undefined()) return UndefinedError(a);
  if (op == "-") {
    if (a.is_int() || a.is_bool()) {
      if (a.as_int() == INT64_MIN) return IntResult(true, 0);
      return Value::Int(-a.as_int());
    }
    if (a.is_float()) return Value::Float(-a.as_double());
  }
  if (op == "+") {
    if (a.is_int() || a.is_bool()) return Value::Int(a.as_int());
    if (a.is_float()) return a;
  }
  return TypeError("bad operand type for unary " + std::string(op) + ": '" + a.TypeName() + "'");
}

Status CheckBuiltBytes(std::string_view what, uint64_t bytes) {
  if (bytes <= kMaxBuiltBytes) return OkStatus();
  return InvalidArgument(std::string(what), ": the resulting string of ", bytes,
                         " bytes exceeds the template limit of ", kMaxBuiltBytes, " bytes");
}

Status CheckBuiltItems(std::string_view what, uint64_t items) {
  if (items <= kMaxBuiltItems) return OkStatus();
  return InvalidArgument(std::string(what), ": the resulting list of ", items,
                         " items exceeds the template limit of ", kMaxBuiltItems, " items");
}

Status RaisedError(std::string_view message) {
  Status s = absl::InvalidArgumentError(std::string(message));
  s.SetPayload(std::string(kRaisedPayload), absl::Cord("1"));
  return s;
}

bool IsRaisedError(const Status& status) {
  return status.GetPayload(std::string(kRaisedPayload)).has_value();
}

std::vector<std::pair<std::string, Value>> MakeGlobals() {
  std::vector<std::pair<std::string, Value>> g;
  g.emplace_back("raise_exception",
                 Value::MakeFunction("raise_exception", [](const CallArgs& a) -> StatusOr<Value> {
                   const Value* m = a.Get(0, "message");
                   return RaisedError(m ? m->Str() : "");
                 }));
  g.emplace_back(
      "strftime_now", Value::MakeFunction("strftime_now", [](const CallArgs& a) -> StatusOr<Value> {
        MIES_ASSIGN_OR_RETURN(std::string fmt, (Params{a, "strftime_now"}.String(0, "format")));
        // transformers uses datetime.now(): local time.
        std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[512];
        size_t n = std::strftime(buf, sizeof(buf), fmt.c_str(), &tm);
        if (n == 0 && !fmt.empty()) {
          return InvalidArgument("strftime_now: format '", fmt, "' produced no output");
        }
        return Value::String(std::string(buf, n));
      }));
  g.emplace_back(
      "namespace", Value::MakeFunction("namespace", [](const CallArgs& a) -> StatusOr<Value> {
        Dict d;
        for (const Value& p : a.positional) {
          if (!p.is_dict()) return TypeError("namespace() positional argument must be a dict");
          for (const auto& [k, v] : p.as_dict().items) d.Set(k, v);
        }
        for (const auto& [k, v] : a.keyword) d.Set(Value::String(k), v);
        // As for ns.attr = x: a namespace inside a namespace could become a cycle.
        for (const auto& [k, v] : d.items) {
          if (v.holds_namespace()) {
            return TypeError("namespace(): attribute '" + k.Str() + "' may not hold a namespace");
          }
        }
        return Value::MakeNamespace(std::move(d));
      }));
  g.emplace_back("dict", Value::MakeFunction("dict", [](const CallArgs& a) -> StatusOr<Value> {
                   Dict d;
                   for (const Value& p : a.positional) {
                     if (!p.is_dict())
                       return TypeError("dict() positional argument must be a dict");
                     for (const auto& [k, v] : p.as_dict().items) d.Set(k, v);
                   }
                   for (const auto& [k, v] : a.keyword) d.Set(Value::String(k), v);
                   return Value::MakeDict(std::move(d));
                 }));
  g.emplace_back(
      "range", Value::MakeFunction("range", [](const CallArgs& a) -> StatusOr<Value> {
        std::vector<int64_t> n;
        for (const Value& p : a.positional) {
          if (!(p.is_int() || p.is_bool())) {
            return TypeError("'" + p.TypeName() + "' object cannot be interpreted as an integer");
          }
          n.push_back(p.as_int());
        }
        if (n.empty() || n.size() > 3) return TypeError("range expected 1 to 3 arguments");
        int64_t start = n.size() == 1 ? 0 : n[0];
        int64_t stop = n.size() == 1 ? n[0] : n[1];
        int64_t step = n.size() == 3 ? n[2] : 1;
        if (step == 0) return TypeError("range() arg 3 must not be zero");
        // The sandbox caps ranges (MAX_RANGE = 100000) so templates cannot exhaust memory.
        const __int128 span =
            step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
        const __int128 count = span <= 0 ? 0
                                         : (span + (step > 0 ? step : -step) - 1) /
                                               (step > 0 ? step : -static_cast<__int128>(step));
        if (count > 100000) {
          return InvalidArgument(
              "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        }
        std::vector<Value> out;
        out.reserve(static_cast<size_t>(count));
        for (__int128 k = 0; k < count; ++k) {
          out.push_back(Value::Int(static_cast<int64_t>(start + k * step)));
        }
        return Value::MakeList(std::move(out));
      }));
  return g;
}

}  // namespace mies::jinja
