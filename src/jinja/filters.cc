// jinja2's filters and tests, with transformers' tojson.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <map>
#include <optional>
#include <unordered_set>

#include "jinja/builtins.h"
#include "jinja/builtins_internal.h"
#include "jinja/py_string.h"

namespace mies::jinja {
namespace {

using internal::DictMethod;
using internal::GetAttributePath;
using internal::Method;
using internal::MissingAttr;
using internal::Params;
using internal::PercentFormat;
using internal::StringMethod;
using internal::TypeError;
using internal::UndefinedError;

// ---- filters ----

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

StatusOr<Value> Length(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return Value::Int(0);
    case Value::Type::kString:
      return Value::Int(static_cast<int64_t>(py::CodePointCount(v.as_string())));
    case Value::Type::kList:
      return Value::Int(static_cast<int64_t>(v.items().size()));
    case Value::Type::kDict:
      return Value::Int(static_cast<int64_t>(v.as_dict().items.size()));
    default:
      return TypeError("object of type '" + v.TypeName() + "' has no len()");
  }
}

// Python int(str): surrounding whitespace, sign, and underscores between digits allowed.
std::optional<int64_t> ParseInt(const std::string& text, int base) {
  if (base != 0 && (base < 2 || base > 36)) return std::nullopt;  // Python: ValueError
  std::string s = py::Strip(text, std::nullopt, true, true);
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits.push_back(s[i]);
  }
  if (digits.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(digits.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE || digits[0] == '+' || digits[0] == '-' ||
      std::isspace(digits[0])) {
    return std::nullopt;
  }
  return neg ? -v : v;
}

std::optional<double> ParseFloat(const std::string& text) {
  std::string s = py::Strip(text, std::nullopt, true, true);
  std::string clean;
  for (char c : s) {
    if (c != '_') clean.push_back(c);
  }
  if (clean.empty()) return std::nullopt;
  std::string lower = py::Lower(clean);
  if (lower.find("0x") != std::string::npos) return std::nullopt;  // Python float() rejects hex
  char* end = nullptr;
  double d = std::strtod(clean.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

// Python's int(x) of a huge float is a big integer; our ints are 64-bit, and casting a double
// beyond their range is undefined behaviour, so that is an error here.
StatusOr<Value> TruncToInt(double d) {
  const double t = std::trunc(d);
  if (t < -0x1p63 || t >= 0x1p63) {
    return InvalidArgument("int(): ", d, " does not fit in a 64-bit integer");
  }
  return Value::Int(static_cast<int64_t>(t));
}

StatusOr<Value> ToInt(const Value& v, const Value& def, int base) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return UndefinedError(v);
    case Value::Type::kBool:
    case Value::Type::kInt:
      return Value::Int(v.as_int());
    case Value::Type::kFloat:
      if (!std::isfinite(v.as_double())) return def;
      return TruncToInt(v.as_double());
    case Value::Type::kString: {
      if (auto i = ParseInt(v.as_string(), base)) return Value::Int(*i);
      if (auto f = ParseFloat(v.as_string()); f && std::isfinite(*f)) return TruncToInt(*f);
      return def;
    }
    default:
      return def;
  }
}

StatusOr<Value> ToFloat(const Value& v, const Value& def) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return UndefinedError(v);
    case Value::Type::kBool:
    case Value::Type::kInt:
    case Value::Type::kFloat:
      return Value::Float(v.as_double());
    case Value::Type::kString:
      if (auto f = ParseFloat(v.as_string())) return Value::Float(*f);
      return def;
    default:
      return def;
  }
}

// A text equal for exactly the scalars Python's == calls equal (None, bools, ints, floats,
// strings); nullopt for other values.
std::optional<std::string> ScalarKey(const Value& v) {
  if (v.is_none()) return std::string("n");
  if (v.is_int() || v.is_bool()) return "i" + std::to_string(v.as_int());
  if (v.is_string()) return "s" + v.as_string();
  if (v.is_float()) {
    const double d = v.as_double();
    if (d == std::trunc(d) && d >= -0x1p63 && d < 0x1p63) {
      return "i" + std::to_string(static_cast<int64_t>(d));
    }
    return "f" + FloatRepr(d);
  }
  return std::nullopt;
}

// Sort key for sort/unique/dictsort/min/max: strings lower-cased unless case_sensitive.
Value SortKey(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::String(py::Lower(v.as_string()));
  return v;
}

StatusOr<std::vector<Value>> SortedValues(std::vector<Value> items, bool reverse,
                                          bool case_sensitive, const Value* attribute) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& item : items) {
    Value key = item;
    if (attribute && !attribute->is_none()) {
      MIES_ASSIGN_OR_RETURN(key, GetAttributePath(item, attribute->Str()));
    }
    keyed.emplace_back(SortKey(key, case_sensitive), std::move(item));
  }
  Status error = OkStatus();
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    if (!error.ok()) return false;
    auto c = reverse ? Compare(b.first, a.first, "<") : Compare(a.first, b.first, "<");
    if (!c.ok()) {
      error = c.status();
      return false;
    }
    return *c < 0;
  });
  MIES_RETURN_IF_ERROR(error);
  std::vector<Value> out;
  out.reserve(keyed.size());
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

// select/reject/selectattr/rejectattr: args = [attr?] test_name test_args...
StatusOr<Value> SelectOrReject(const Value& input, const CallArgs& args, bool select,
                               bool by_attr) {
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty()) return TypeError("selectattr/rejectattr need an attribute name");
    attr = args.positional[next++].Str();
  }
  std::optional<std::string> test;
  CallArgs test_args;
  if (next < args.positional.size()) {
    test = args.positional[next++].Str();
    if (!IsKnownTest(*test)) return InvalidArgument("unsupported Jinja test '", *test, "'");
    test_args.positional.assign(args.positional.begin() + static_cast<long>(next),
                                args.positional.end());
    test_args.keyword = args.keyword;
  }
  std::vector<Value> out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attr) {
      MIES_ASSIGN_OR_RETURN(subject, GetAttributePath(item, attr));
    }
    bool ok = false;
    if (test) {
      MIES_ASSIGN_OR_RETURN(ok, ApplyTest(*test, subject, test_args));
    } else {
      ok = subject.Truthy();
    }
    if (ok == select) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

StatusOr<Value> MapFilter(const Value& input, const CallArgs& args) {
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  std::vector<Value> out;
  if (args.positional.empty()) {
    const Value* attr = args.Get(99, "attribute");
    if (!attr) return TypeError("map() needs a filter name or attribute=");
    const Value* def = args.Get(99, "default");
    for (const Value& item : items) {
      MIES_ASSIGN_OR_RETURN(Value v, GetAttributePath(item, attr->Str()));
      if (v.is_undefined() && def) v = *def;
      out.push_back(v);
    }
    return Value::MakeList(std::move(out));
  }
  std::string filter = args.positional[0].Str();
  if (!IsKnownFilter(filter)) return InvalidArgument("unsupported Jinja filter '", filter, "'");
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    MIES_ASSIGN_OR_RETURN(Value v, ApplyFilter(filter, item, rest));
    out.push_back(v);
  }
  return Value::MakeList(std::move(out));
}

StatusOr<Value> ToJsonFilter(const Value& input, const CallArgs& args) {
  // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
  // sort_keys=False) instead of jinja's HTML-safe default.
  Params p{args, "tojson"};
  JsonDumpOptions o;
  o.ensure_ascii = p.Bool(0, "ensure_ascii", false);
  if (const Value* indent = p.Get(1, "indent"); indent && !indent->is_none()) {
    o.has_indent = true;
    if (indent->is_string()) {
      o.indent_string = indent->as_string();
    } else if (indent->is_int() || indent->is_bool()) {
      MIES_RETURN_IF_ERROR(
          CheckBuiltBytes("tojson(indent=" + std::to_string(indent->as_int()) + ")",
                          static_cast<uint64_t>(std::max<int64_t>(0, indent->as_int()))));
      o.indent_string = std::string(std::max<int64_t>(0, indent->as_int()), ' ');
    } else {
      return TypeError("tojson indent must be an int or str, not " + indent->TypeName());
    }
    o.item_separator = ",";
  }
  if (const Value* sep = p.Get(2, "separators"); sep && !sep->is_none()) {
    if (!sep->is_list() || sep->items().size() != 2 || !sep->items()[0].is_string() ||
        !sep->items()[1].is_string()) {
      return TypeError("tojson separators must be a pair of strings");
    }
    o.item_separator = sep->items()[0].as_string();
    o.key_separator = sep->items()[1].as_string();
  }
  o.sort_keys = p.Bool(3, "sort_keys", false);
  MIES_ASSIGN_OR_RETURN(std::string s, JsonDumps(input, o));
  return Value::String(std::move(s));
}

StatusOr<Value> IndentFilter(const Value& input, const CallArgs& args) {
  Params p{args, "indent"};
  std::string indention;
  const Value* width = p.Get(0, "width");
  if (width && width->is_string()) {
    indention = width->as_string();
  } else {
    MIES_ASSIGN_OR_RETURN(int64_t w, p.Int(0, "width", 4));
    MIES_RETURN_IF_ERROR(CheckBuiltBytes("indent(" + std::to_string(w) + ")",
                                         static_cast<uint64_t>(std::max<int64_t>(0, w))));
    indention = std::string(std::max<int64_t>(0, w), ' ');
  }
  const bool first = p.Bool(1, "first", false);
  const bool blank = p.Bool(2, "blank", false);
  std::string s = input.Str() + "\n";
  std::vector<std::string> lines = py::SplitLines(s, false);
  // Every line may get the indention: many lines times a long one is the product.
  MIES_RETURN_IF_ERROR(CheckBuiltBytes(
      "indent", indention.empty() || lines.size() <= kMaxBuiltBytes / indention.size()
                    ? s.size() + lines.size() * indention.size()
                    : kMaxBuiltBytes + 1));
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n" + (lines[i].empty() ? lines[i] : indention + lines[i]);
    }
  }
  if (first) rv = indention + rv;
  return Value::String(rv);
}

StatusOr<Value> FirstOrLast(const Value& input, bool first) {
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  if (items.empty()) {
    return Value::Undefined(first ? "No first item, sequence was empty."
                                  : "No last item, sequence was empty.");
  }
  return first ? items.front() : items.back();
}

StatusOr<Value> MinMax(const Value& input, const CallArgs& args, bool is_min) {
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  Params p{args, is_min ? "min" : "max"};
  const bool cs = p.Bool(0, "case_sensitive", false);
  const Value* attr = p.Get(1, "attribute");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value key = items[i];
    if (attr && !attr->is_none()) {
      MIES_ASSIGN_OR_RETURN(key, GetAttributePath(items[i], attr->Str()));
    }
    key = SortKey(key, cs);
    if (i == 0) {
      best_key = key;
      continue;
    }
    MIES_ASSIGN_OR_RETURN(int c, Compare(key, best_key, "<"));
    if (is_min ? c < 0 : c > 0) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

using FilterFn = StatusOr<Value> (*)(const Value&, const CallArgs&);

const std::map<std::string, FilterFn, std::less<>>& Filters() {
  static const auto* filters = new std::map<std::string, FilterFn, std::less<>>{
      {"abs",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         if (v.is_float()) return Value::Float(std::fabs(v.as_double()));
         if (v.is_int() || v.is_bool()) return Value::Int(std::llabs(v.as_int()));
         return TypeError("bad operand type for abs(): '" + v.TypeName() + "'");
       }},
      {"attr",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         MIES_ASSIGN_OR_RETURN(std::string name, (Params{a, "attr"}.String(0, "name")));
         if (v.is_undefined()) return UndefinedError(v);
         if (v.is_namespace()) {
           const Value* x = v.as_dict().Find(name);
           return x ? *x : MissingAttr(v, name);
         }
         if (auto m = Method(v, name)) return *m;
         return MissingAttr(v, name);
       }},
      {"capitalize",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         return Value::String(py::Capitalize(v.Str()));
       }},
      {"center",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         CallArgs b = a;
         if (b.positional.empty() && !b.Get(0, "width")) b.positional.push_back(Value::Int(80));
         return StringMethod(Value::String(v.Str()), "center")->as_function().call(b);
       }},
      {"count", [](const Value& v, const CallArgs&) { return Length(v); }},
      {"default",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "default"};
         const Value* def = p.Get(0, "default_value");
         const bool boolean = p.Bool(1, "boolean", false);
         if (v.is_undefined() || (boolean && !v.Truthy())) return def ? *def : Value::String("");
         return v;
       }},
      {"dictsort",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         if (!v.is_dict()) return TypeError("dictsort: input is not a mapping");
         Params p{a, "dictsort"};
         const bool cs = p.Bool(0, "case_sensitive", false);
         const Value* by = p.Get(1, "by");
         const bool by_value = by && by->is_string() && by->as_string() == "value";
         const bool reverse = p.Bool(2, "reverse", false);
         std::vector<Value> pairs;
         for (const auto& [k, val] : v.as_dict().items)
           pairs.push_back(Value::MakeList({k, val}, true));
         Value index = Value::Int(by_value ? 1 : 0);
         MIES_ASSIGN_OR_RETURN(auto sorted, SortedValues(pairs, reverse, cs, &index));
         return Value::MakeList(std::move(sorted));
       }},
      {"escape",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         return Value::String(HtmlEscape(v.Str()));
       }},
      {"first", [](const Value& v, const CallArgs&) { return FirstOrLast(v, true); }},
      {"float",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         const Value* def = a.Get(0, "default");
         return ToFloat(v, def ? *def : Value::Float(0.0));
       }},
      {"format",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Value args;
         if (!a.keyword.empty()) {
           Dict d;
           for (const auto& [k, val] : a.keyword) d.Set(Value::String(k), val);
           args = Value::MakeDict(std::move(d));
         } else {
           args = Value::MakeList(a.positional, true);
         }
         MIES_ASSIGN_OR_RETURN(std::string s, PercentFormat(v.Str(), args));
         return Value::String(s);
       }},
      {"indent", IndentFilter},
      {"int",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "int"};
         const Value* def = p.Get(0, "default");
         MIES_ASSIGN_OR_RETURN(int64_t base, p.Int(1, "base", 10));
         return ToInt(v, def ? *def : Value::Int(0), static_cast<int>(base));
       }},
      {"items",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         if (v.is_undefined()) return Value::MakeList({});
         if (!v.is_dict()) return TypeError("Can only get item pairs from a mapping.");
         return DictMethod(v, "items")->as_function().call(CallArgs{});
       }},
      {"join",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "join"};
         const Value* sep = p.Get(0, "d");
         const Value* attr = p.Get(1, "attribute");
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
         std::string out;
         for (size_t i = 0; i < items.size(); ++i) {
           Value item = items[i];
           if (attr && !attr->is_none()) {
             MIES_ASSIGN_OR_RETURN(item, GetAttributePath(item, attr->Str()));
           }
           if (i && sep) out += sep->Str();
           out += item.Str();
           MIES_RETURN_IF_ERROR(CheckBuiltBytes("join", out.size()));
         }
         return Value::String(out);
       }},
      {"last", [](const Value& v, const CallArgs&) { return FirstOrLast(v, false); }},
      {"length", [](const Value& v, const CallArgs&) { return Length(v); }},
      {"list",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
         return Value::MakeList(std::move(items));
       }},
      {"lower",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         return Value::String(py::Lower(v.Str()));
       }},
      {"map", MapFilter},
      {"max", [](const Value& v, const CallArgs& a) { return MinMax(v, a, false); }},
      {"min", [](const Value& v, const CallArgs& a) { return MinMax(v, a, true); }},
      {"reject",
       [](const Value& v, const CallArgs& a) { return SelectOrReject(v, a, false, false); }},
      {"rejectattr",
       [](const Value& v, const CallArgs& a) { return SelectOrReject(v, a, false, true); }},
      {"replace",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "replace"};
         const Value* old_v = p.Get(0, "old");
         const Value* new_v = p.Get(1, "new");
         if (!old_v || !new_v) return TypeError("replace() needs old and new");
         MIES_ASSIGN_OR_RETURN(int64_t count, p.Int(2, "count", -1));
         const std::string s = v.Str(), old_s = old_v->Str(), new_s = new_v->Str();
         MIES_RETURN_IF_ERROR(internal::CheckReplaceSize(s, old_s, new_s, count));
         return Value::String(py::Replace(s, old_s, new_s, count));
       }},
      {"reverse",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         if (v.is_string()) {
           std::u32string u = py::Decode(v.as_string());
           std::reverse(u.begin(), u.end());
           return Value::String(py::Encode(u));
         }
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
         std::reverse(items.begin(), items.end());
         return Value::MakeList(std::move(items));
       }},
      {"round",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "round"};
         MIES_ASSIGN_OR_RETURN(int64_t precision, p.Int(0, "precision", 0));
         const Value* method = p.Get(1, "method");
         std::string m = method ? method->Str() : "common";
         if (!v.is_number()) return TypeError("round: input must be a number");
         const double scale = std::pow(10.0, static_cast<double>(precision));
         double x = v.as_double() * scale;
         if (m == "common") {
           if (v.is_int() || v.is_bool()) return Value::Int(v.as_int());
           x = std::nearbyint(x);  // Python round(): half to even, like the default FE mode
         } else if (m == "ceil") {
           x = std::ceil(x);
         } else if (m == "floor") {
           x = std::floor(x);
         } else {
           return TypeError("method must be common, ceil or floor");
         }
         return Value::Float(x / scale);
       }},
      {"safe",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> { return Value::String(v.Str()); }},
      {"select",
       [](const Value& v, const CallArgs& a) { return SelectOrReject(v, a, true, false); }},
      {"selectattr",
       [](const Value& v, const CallArgs& a) { return SelectOrReject(v, a, true, true); }},
      {"sort",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "sort"};
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
         MIES_ASSIGN_OR_RETURN(
             auto sorted, SortedValues(std::move(items), p.Bool(0, "reverse", false),
                                       p.Bool(1, "case_sensitive", false), p.Get(2, "attribute")));
         return Value::MakeList(std::move(sorted));
       }},
      {"string",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> { return Value::String(v.Str()); }},
      {"sum",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "sum"};
         const Value* attr = p.Get(0, "attribute");
         const Value* start = p.Get(1, "start");
         Value total = start ? *start : Value::Int(0);
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
         for (const Value& item : items) {
           Value x = item;
           if (attr && !attr->is_none()) {
             MIES_ASSIGN_OR_RETURN(x, GetAttributePath(item, attr->Str()));
           }
           MIES_ASSIGN_OR_RETURN(total, BinaryOp("+", total, x));
         }
         return total;
       }},
      {"title",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         // jinja: split on runs of [-\s({[<], upper-case the first char of each piece and
         // lower-case the rest.
         std::u32string u = py::Decode(v.Str());
         std::string out;
         bool word_start = true;
         for (char32_t c : u) {
           const bool sep =
               c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py::IsSpace(c);
           if (sep) {
             py::AppendUtf8(out, c);
             word_start = true;
           } else {
             py::AppendUtf8(out,
                            word_start ? py::ToUpper(c) : py::ToLower(c));  // jinja uses upper()
             word_start = false;
           }
         }
         return Value::String(out);
       }},
      {"tojson", ToJsonFilter},
      {"trim",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         MIES_ASSIGN_OR_RETURN(auto chars, (Params{a, "trim"}.OptString(0, "chars")));
         return Value::String(py::Strip(v.Str(), chars, true, true));
       }},
      {"unique",
       [](const Value& v, const CallArgs& a) -> StatusOr<Value> {
         Params p{a, "unique"};
         const bool cs = p.Bool(0, "case_sensitive", false);
         const Value* attr = p.Get(1, "attribute");
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
         std::vector<Value> out, seen;
         // Scalars by a canonical text (Python: 1 == 1.0 == True), so 10^5 items take 10^5
         // steps rather than 10^10; other values by Equals against the others seen.
         std::unordered_set<std::string> seen_scalars;
         for (const Value& item : items) {
           Value key = item;
           if (attr && !attr->is_none()) {
             MIES_ASSIGN_OR_RETURN(key, GetAttributePath(item, attr->Str()));
           }
           key = SortKey(key, cs);
           if (std::optional<std::string> canon = ScalarKey(key)) {
             if (seen_scalars.insert(*std::move(canon)).second) out.push_back(item);
             continue;
           }
           bool dup = std::any_of(seen.begin(), seen.end(),
                                  [&](const Value& s) { return Equals(s, key); });
           if (!dup) {
             seen.push_back(key);
             out.push_back(item);
           }
         }
         return Value::MakeList(std::move(out));
       }},
      {"upper",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         return Value::String(py::Upper(v.Str()));
       }},
      {"wordcount",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         int64_t n = 0;
         bool in_word = false;
         for (char32_t c : py::Decode(v.Str())) {
           bool w = py::IsAlpha(c) || py::IsDigit(c) || c == '_' || c >= 0x80;
           if (w && !in_word) ++n;
           in_word = w;
         }
         return Value::Int(n);
       }},
  };
  return *filters;
}

std::string_view CanonicalFilter(std::string_view name) {
  if (name == "d") return "default";
  if (name == "e") return "escape";
  return name;
}

// ---- tests ----

using TestFn = StatusOr<bool> (*)(const Value&, const CallArgs&);

StatusOr<bool> CompareTest(const Value& v, const CallArgs& a, std::string_view op) {
  const Value* other = a.Get(0, "other");
  if (!other) return TypeError("test needs an argument to compare with");
  if (op == "==") return Equals(v, *other);
  if (op == "!=") return !Equals(v, *other);
  if (v.is_undefined()) return UndefinedError(v);
  if (other->is_undefined()) return UndefinedError(*other);
  MIES_ASSIGN_OR_RETURN(int c, Compare(v, *other, op));
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

const std::map<std::string, TestFn, std::less<>>& Tests() {
  static const auto* tests = new std::map<std::string, TestFn, std::less<>>{
      {"boolean", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_bool(); }},
      {"callable",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_function(); }},
      {"defined",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> { return !v.is_undefined(); }},
      {"divisibleby",
       [](const Value& v, const CallArgs& a) -> StatusOr<bool> {
         const Value* n = a.Get(0, "num");
         if (!n) return TypeError("divisibleby needs a number");
         MIES_ASSIGN_OR_RETURN(Value r, BinaryOp("%", v, *n));
         return !r.Truthy();
       }},
      {"eq", [](const Value& v, const CallArgs& a) { return CompareTest(v, a, "=="); }},
      {"escaped", [](const Value&, const CallArgs&) -> StatusOr<bool> { return false; }},
      {"even",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         MIES_ASSIGN_OR_RETURN(Value r, BinaryOp("%", v, Value::Int(2)));
         return !r.Truthy();
       }},
      {"false",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         return v.is_bool() && !v.as_bool();
       }},
      {"float", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_float(); }},
      {"ge", [](const Value& v, const CallArgs& a) { return CompareTest(v, a, ">="); }},
      {"gt", [](const Value& v, const CallArgs& a) { return CompareTest(v, a, ">"); }},
      {"in",
       [](const Value& v, const CallArgs& a) -> StatusOr<bool> {
         const Value* seq = a.Get(0, "seq");
         if (!seq) return TypeError("in test needs a sequence");
         return Contains(*seq, v);
       }},
      {"integer", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_int(); }},
      {"iterable",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"le", [](const Value& v, const CallArgs& a) { return CompareTest(v, a, "<="); }},
      {"lower",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         Value s = Value::String(v.Str());
         MIES_ASSIGN_OR_RETURN(Value r, StringMethod(s, "islower")->as_function().call(CallArgs{}));
         return r.Truthy();
       }},
      {"lt", [](const Value& v, const CallArgs& a) { return CompareTest(v, a, "<"); }},
      {"mapping", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_dict(); }},
      {"ne", [](const Value& v, const CallArgs& a) { return CompareTest(v, a, "!="); }},
      {"none", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_none(); }},
      {"number", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_number(); }},
      {"odd",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         MIES_ASSIGN_OR_RETURN(Value r, BinaryOp("%", v, Value::Int(2)));
         return r.Truthy();
       }},
      {"sameas",
       [](const Value& v, const CallArgs& a) -> StatusOr<bool> {
         const Value* o = a.Get(0, "other");
         if (!o) return TypeError("sameas needs an argument");
         if (v.type() != o->type()) return false;
         if (v.is_none() || v.is_bool() || v.is_int()) return Equals(v, *o);
         if (v.is_list()) return &v.as_list() == &o->as_list();
         if (v.is_dict() || v.is_namespace()) return &v.as_dict() == &o->as_dict();
         return false;
       }},
      {"sequence",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
       }},
      {"string", [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_string(); }},
      {"true",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         return v.is_bool() && v.as_bool();
       }},
      {"undefined",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> { return v.is_undefined(); }},
      {"upper",
       [](const Value& v, const CallArgs&) -> StatusOr<bool> {
         Value s = Value::String(v.Str());
         MIES_ASSIGN_OR_RETURN(Value r, StringMethod(s, "isupper")->as_function().call(CallArgs{}));
         return r.Truthy();
       }},
  };
  return *tests;
}

std::string_view CanonicalTest(std::string_view name) {
  if (name == "equalto" || name == "==") return "eq";
  if (name == "!=") return "ne";
  if (name == "lessthan" || name == "<") return "lt";
  if (name == "<=") return "le";
  if (name == "greaterthan" || name == ">") return "gt";
  if (name == ">=") return "ge";
  return name;
}

}  // namespace

bool IsKnownFilter(std::string_view name) { return Filters().count(CanonicalFilter(name)) > 0; }
bool IsKnownTest(std::string_view name) { return Tests().count(CanonicalTest(name)) > 0; }

StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args) {
  auto it = Filters().find(CanonicalFilter(name));
  if (it == Filters().end())
    return InvalidArgument("unsupported Jinja filter '", std::string(name), "'");
  return it->second(input, args);
}

StatusOr<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args) {
  auto it = Tests().find(CanonicalTest(name));
  if (it == Tests().end())
    return InvalidArgument("unsupported Jinja test '", std::string(name), "'");
  return it->second(input, args);
}

}  // namespace mies::jinja
