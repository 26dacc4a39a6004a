#include "jinja/builtins.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>

#include "absl/strings/cord.h"
#include "jinja/py_string.h"

namespace mies::jinja {
namespace {

constexpr std::string_view kRaisedPayload = "mies.jinja.raise_exception";

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

// ---- argument helpers ----

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

// Python's index normalisation; returns false when out of range.
bool NormalizeIndex(int64_t& i, size_t size) {
  if (i < 0) i += static_cast<int64_t>(size);
  return i >= 0 && i < static_cast<int64_t>(size);
}

// Attribute path lookup used by map/selectattr/sort(attribute=...): "a.b" or "0".
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

// ---- printf-style formatting ("%s" % x and the format filter) ----

StatusOr<std::string> PercentFormat(const std::string& fmt, const Value& args) {
  std::vector<Value> argv;
  const Value* mapping = nullptr;
  if (args.is_list() && args.as_list().is_tuple) {
    argv = args.items();
  } else if (args.is_dict()) {
    mapping = &args;
  } else {
    argv.push_back(args);
  }
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) return TypeError("incomplete format");
    if (fmt[i] == '%') {
      out.push_back('%');
      continue;
    }
    Value arg;
    if (fmt[i] == '(' && mapping) {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos) return TypeError("incomplete format key");
      const Value* v = mapping->as_dict().Find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (!v) return TypeError("format key '" + fmt.substr(i + 1, close - i - 1) + "' not found");
      arg = *v;
      i = close + 1;
    } else {
      if (next >= argv.size()) return TypeError("not enough arguments for format string");
      arg = argv[next++];
    }
    std::string spec;
    while (i < fmt.size() &&
           std::string_view("-+ #0123456789.").find(fmt[i]) != std::string_view::npos) {
      spec.push_back(fmt[i++]);
    }
    if (i >= fmt.size()) return TypeError("incomplete format");
    const char conv = fmt[i];
    char buf[512];
    switch (conv) {
      case 's':
      case 'r': {
        std::string s = conv == 's' ? arg.Str() : arg.Repr();
        if (spec.empty()) {
          out += s;
        } else {
          std::snprintf(buf, sizeof(buf), ("%" + spec + "s").c_str(), s.c_str());
          out += buf;
        }
        break;
      }
      case 'd':
      case 'i': {
        if (!arg.is_number()) {
          return TypeError("%" + std::string(1, conv) + " format: a real number is required, not " +
                           arg.TypeName());
        }
        auto n =
            static_cast<long long>(arg.is_float() ? std::trunc(arg.as_double()) : arg.as_int());
        std::snprintf(buf, sizeof(buf), ("%" + spec + "lld").c_str(), n);
        out += buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg.is_number()) {
          return TypeError("must be real number, not " + arg.TypeName());
        }
        std::snprintf(buf, sizeof(buf), ("%" + spec + std::string(1, conv)).c_str(),
                      arg.as_double());
        out += buf;
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        if (!(arg.is_int() || arg.is_bool())) {
          return TypeError("%" + std::string(1, conv) + " format: an integer is required, not " +
                           arg.TypeName());
        }
        std::snprintf(buf, sizeof(buf), ("%" + spec + "ll" + std::string(1, conv)).c_str(),
                      static_cast<long long>(arg.as_int()));
        out += buf;
        break;
      }
      default:
        return TypeError("unsupported format character '" + std::string(1, conv) + "'");
    }
  }
  if (!mapping && next < argv.size()) {
    return TypeError("not all arguments converted during string formatting");
  }
  return out;
}

// Python str.format with positional/keyword fields and optional !s / !r conversion.
StatusOr<std::string> StrFormat(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      return TypeError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) return TypeError("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    char conversion = 0;
    size_t bang = field.find('!');
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      if (colon + 1 < field.size()) {
        return TypeError("format spec '" + field.substr(colon + 1) +
                         "' in str.format is not supported");
      }
      field.resize(colon);
    }
    if (bang != std::string::npos && bang < field.size()) {
      conversion = bang + 1 < field.size() ? field[bang + 1] : 0;
      field.resize(bang);
    }
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_index < args.positional.size() ? &args.positional[auto_index] : nullptr;
      ++auto_index;
      if (!v) return TypeError("Replacement index out of range for positional args tuple");
    } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
      size_t idx = std::stoul(field);
      if (idx >= args.positional.size()) {
        return TypeError("Replacement index " + field + " out of range for positional args tuple");
      }
      v = &args.positional[idx];
    } else {
      for (const auto& [k, val] : args.keyword) {
        if (k == field) v = &val;
      }
      if (!v) return TypeError("KeyError: '" + field + "'");
    }
    out += conversion == 'r' ? v->Repr() : v->Str();
  }
  return out;
}

// ---- methods of str, dict and list ----

Status ImmutableError(const Value& obj, const std::string& name) {
  return InvalidArgument("access to attribute '", name, "' of '", obj.TypeName(),
                         "' object is unsafe.");
}

std::optional<Value> StringMethod(const Value& obj, const std::string& name) {
  const std::string s = obj.as_string();
  auto method = [&](NativeFunction fn) {
    return Value::MakeFunction("str." + name, std::move(fn));
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    return method([s, left, right, name](const CallArgs& a) -> StatusOr<Value> {
      MIES_ASSIGN_OR_RETURN(auto chars, (Params{a, name}.OptString(0, "chars")));
      return Value::String(py::Strip(s, chars, left, right));
    });
  }
  if (name == "split" || name == "rsplit") {
    const bool right = name == "rsplit";
    return method([s, right, name](const CallArgs& a) -> StatusOr<Value> {
      Params p{a, name};
      MIES_ASSIGN_OR_RETURN(auto sep, p.OptString(0, "sep"));
      MIES_ASSIGN_OR_RETURN(int64_t maxsplit, p.Int(1, "maxsplit", -1));
      if (sep && sep->empty()) return TypeError("ValueError: empty separator");
      std::vector<Value> parts;
      for (auto& part : py::Split(s, sep, maxsplit, right)) parts.push_back(Value::String(part));
      return Value::MakeList(std::move(parts));
    });
  }
  if (name == "splitlines") {
    return method([s](const CallArgs& a) -> StatusOr<Value> {
      std::vector<Value> parts;
      for (auto& part : py::SplitLines(s, Params{a, "splitlines"}.Bool(0, "keepends", false))) {
        parts.push_back(Value::String(part));
      }
      return Value::MakeList(std::move(parts));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool starts = name == "startswith";
    return method([s, starts, name](const CallArgs& a) -> StatusOr<Value> {
      const Value* arg = a.Get(0, "prefix");
      if (!arg) return TypeError(name + "() takes at least 1 argument (0 given)");
      std::vector<Value> options;
      if (arg->is_list() && arg->as_list().is_tuple) {
        options = arg->items();
      } else {
        options.push_back(*arg);
      }
      for (const Value& o : options) {
        if (!o.is_string()) {
          return TypeError(name + " first arg must be str or a tuple of str, not " + o.TypeName());
        }
        const std::string& x = o.as_string();
        bool hit = starts
                       ? s.compare(0, x.size(), x) == 0 && s.size() >= x.size()
                       : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
        if (hit) return Value::Bool(true);
      }
      return Value::Bool(false);
    });
  }
  if (name == "upper" || name == "lower" || name == "capitalize" || name == "swapcase" ||
      name == "title") {
    return method([s, name](const CallArgs&) -> StatusOr<Value> {
      if (name == "upper") return Value::String(py::Upper(s));
      if (name == "lower") return Value::String(py::Lower(s));
      if (name == "capitalize") return Value::String(py::Capitalize(s));
      if (name == "swapcase") return Value::String(py::SwapCase(s));
      // str.title(): a letter after a cased letter is lowered, any other letter raised.
      std::string out;
      bool prev_cased = false;
      for (char32_t c : py::Decode(s)) {
        py::AppendUtf8(out, prev_cased ? py::ToLower(c) : py::ToTitle(c));
        prev_cased = py::IsUpper(c) || py::IsLower(c);
      }
      return Value::String(out);
    });
  }
  if (name == "replace") {
    return method([s](const CallArgs& a) -> StatusOr<Value> {
      Params p{a, "replace"};
      MIES_ASSIGN_OR_RETURN(std::string old_sub, p.String(0, "old"));
      MIES_ASSIGN_OR_RETURN(std::string new_sub, p.String(1, "new"));
      MIES_ASSIGN_OR_RETURN(int64_t count, p.Int(2, "count", -1));
      return Value::String(py::Replace(s, old_sub, new_sub, count));
    });
  }
  if (name == "format") {
    return method([s](const CallArgs& a) -> StatusOr<Value> {
      MIES_ASSIGN_OR_RETURN(std::string r, StrFormat(s, a));
      return Value::String(r);
    });
  }
  if (name == "join") {
    return method([s](const CallArgs& a) -> StatusOr<Value> {
      const Value* it = a.Get(0, "iterable");
      if (!it) return TypeError("str.join() takes exactly one argument (0 given)");
      MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(*it));
      std::string out;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_string()) {
          return TypeError("sequence item " + std::to_string(i) + ": expected str instance, " +
                           items[i].TypeName() + " found");
        }
        if (i) out += s;
        out += items[i].as_string();
      }
      return Value::String(out);
    });
  }
  if (name == "find" || name == "rfind" || name == "count" || name == "index" || name == "rindex") {
    return method([s, name](const CallArgs& a) -> StatusOr<Value> {
      MIES_ASSIGN_OR_RETURN(std::string sub, (Params{a, name}.String(0, "sub")));
      if (name == "count") return Value::Int(py::Count(s, sub));
      int64_t r = py::Find(s, sub, name[0] == 'r');
      if (r < 0 && name.find("index") != std::string::npos) {
        return TypeError("ValueError: substring not found");
      }
      return Value::Int(r);
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper" || name == "isnumeric" || name == "isdecimal") {
    return method([s, name](const CallArgs&) -> StatusOr<Value> {
      std::u32string u = py::Decode(s);
      if (u.empty()) return Value::Bool(false);
      if (name == "islower" || name == "isupper") {
        bool any_cased = false;
        for (char32_t c : u) {
          if (py::IsUpper(c)) {
            if (name == "islower") return Value::Bool(false);
            any_cased = true;
          } else if (py::IsLower(c)) {
            if (name == "isupper") return Value::Bool(false);
            any_cased = true;
          }
        }
        return Value::Bool(any_cased);
      }
      for (char32_t c : u) {
        bool ok = name == "isalpha"   ? py::IsAlpha(c)
                  : name == "isalnum" ? (py::IsAlpha(c) || py::IsDigit(c))
                  : name == "isspace" ? py::IsSpace(c)
                                      : py::IsDigit(c);
        if (!ok) return Value::Bool(false);
      }
      return Value::Bool(true);
    });
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    return method([s, name](const CallArgs& a) -> StatusOr<Value> {
      Params p{a, name};
      MIES_ASSIGN_OR_RETURN(int64_t width, p.Int(0, "width", 0));
      MIES_ASSIGN_OR_RETURN(auto fill, p.OptString(1, "fillchar"));
      std::string f = fill ? *fill : " ";
      int64_t len = static_cast<int64_t>(py::CodePointCount(s));
      if (width <= len) return Value::String(s);
      int64_t pad = width - len;
      int64_t left = name == "ljust" ? 0 : name == "rjust" ? pad : pad / 2 + (pad & width & 1);
      std::string out;
      for (int64_t i = 0; i < left; ++i) out += f;
      out += s;
      for (int64_t i = 0; i < pad - left; ++i) out += f;
      return Value::String(out);
    });
  }
  return std::nullopt;
}

std::optional<Value> DictMethod(const Value& obj, const std::string& name) {
  auto method = [&](NativeFunction fn) {
    return Value::MakeFunction("dict." + name, std::move(fn));
  };
  if (name == "get") {
    return method([obj](const CallArgs& a) -> StatusOr<Value> {
      const Value* key = a.Get(0, "key");
      if (!key) return TypeError("get expected at least 1 argument, got 0");
      if (const Value* v = obj.as_dict().Find(*key)) return *v;
      const Value* def = a.Get(1, "default");
      return def ? *def : Value::None();
    });
  }
  if (name == "items" || name == "keys" || name == "values") {
    return method([obj, name](const CallArgs&) -> StatusOr<Value> {
      std::vector<Value> out;
      for (const auto& [k, v] : obj.as_dict().items) {
        if (name == "items") {
          out.push_back(Value::MakeList({k, v}, /*is_tuple=*/true));
        } else {
          out.push_back(name == "keys" ? k : v);
        }
      }
      return Value::MakeList(std::move(out));
    });
  }
  if (name == "copy") {
    return method(
        [obj](const CallArgs&) -> StatusOr<Value> { return Value::MakeDict(obj.as_dict()); });
  }
  if (name == "update" || name == "pop" || name == "popitem" || name == "setdefault" ||
      name == "clear") {
    return method(
        [obj, name](const CallArgs&) -> StatusOr<Value> { return ImmutableError(obj, name); });
  }
  return std::nullopt;
}

std::optional<Value> ListMethod(const Value& obj, const std::string& name) {
  auto method = [&](NativeFunction fn) {
    return Value::MakeFunction("list." + name, std::move(fn));
  };
  if (name == "index" || name == "count") {
    return method([obj, name](const CallArgs& a) -> StatusOr<Value> {
      const Value* x = a.Get(0, "value");
      if (!x) return TypeError(name + "() takes exactly one argument (0 given)");
      int64_t n = 0;
      for (size_t i = 0; i < obj.items().size(); ++i) {
        if (Equals(obj.items()[i], *x)) {
          if (name == "index") return Value::Int(static_cast<int64_t>(i));
          ++n;
        }
      }
      if (name == "index") return TypeError("ValueError: " + x->Repr() + " is not in list");
      return Value::Int(n);
    });
  }
  if (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
      name == "remove" || name == "sort" || name == "reverse" || name == "clear") {
    return method(
        [obj, name](const CallArgs&) -> StatusOr<Value> { return ImmutableError(obj, name); });
  }
  return std::nullopt;
}

std::optional<Value> Method(const Value& obj, const std::string& name) {
  if (obj.is_string()) return StringMethod(obj, name);
  if (obj.is_dict()) return DictMethod(obj, name);
  if (obj.is_list()) return ListMethod(obj, name);
  return std::nullopt;
}

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

StatusOr<Value> ToInt(const Value& v, const Value& def, int base) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return UndefinedError(v);
    case Value::Type::kBool:
    case Value::Type::kInt:
      return Value::Int(v.as_int());
    case Value::Type::kFloat:
      if (!std::isfinite(v.as_double())) return def;
      return Value::Int(static_cast<int64_t>(std::trunc(v.as_double())));
    case Value::Type::kString: {
      if (auto i = ParseInt(v.as_string(), base)) return Value::Int(*i);
      if (auto f = ParseFloat(v.as_string()); f && std::isfinite(*f)) {
        return Value::Int(static_cast<int64_t>(std::trunc(*f)));
      }
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
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

// select/reject/selectattr/rejectattr: args = [attr?] test_name test_args...
StatusOr<Value> SelectOrReject(const Value& input, const CallArgs& args, bool select,
                               bool by_attr) {
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(input));
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
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(input));
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
    indention = std::string(std::max<int64_t>(0, w), ' ');
  }
  const bool first = p.Bool(1, "first", false);
  const bool blank = p.Bool(2, "blank", false);
  std::string s = input.Str() + "\n";
  std::vector<std::string> lines = py::SplitLines(s, false);
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
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(input));
  if (items.empty()) {
    return Value::Undefined(first ? "No first item, sequence was empty."
                                  : "No last item, sequence was empty.");
  }
  return first ? items.front() : items.back();
}

StatusOr<Value> MinMax(const Value& input, const CallArgs& args, bool is_min) {
  MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(input));
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
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(v));
         std::string out;
         for (size_t i = 0; i < items.size(); ++i) {
           Value item = items[i];
           if (attr && !attr->is_none()) {
             MIES_ASSIGN_OR_RETURN(item, GetAttributePath(item, attr->Str()));
           }
           if (i && sep) out += sep->Str();
           out += item.Str();
         }
         return Value::String(out);
       }},
      {"last", [](const Value& v, const CallArgs&) { return FirstOrLast(v, false); }},
      {"length", [](const Value& v, const CallArgs&) { return Length(v); }},
      {"list",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(v));
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
         return Value::String(py::Replace(v.Str(), old_v->Str(), new_v->Str(), count));
       }},
      {"reverse",
       [](const Value& v, const CallArgs&) -> StatusOr<Value> {
         if (v.is_string()) {
           std::u32string u = py::Decode(v.as_string());
           std::reverse(u.begin(), u.end());
           return Value::String(py::Encode(u));
         }
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(v));
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
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(v));
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
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(v));
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
         MIES_ASSIGN_OR_RETURN(std::vector<Value> items, IterateImpl(v));
         std::vector<Value> out, seen;
         for (const Value& item : items) {
           Value key = item;
           if (attr && !attr->is_none()) {
             MIES_ASSIGN_OR_RETURN(key, GetAttributePath(item, attr->Str()));
           }
           key = SortKey(key, cs);
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
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value::String(out);
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::MakeList(std::move(out), seq.as_list().is_tuple);
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
  if (op == "~") return Value::String(a.Str() + b.Str());
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
    if (a.is_string() && b.is_string()) return Value::String(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
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
      int64_t result = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0; --e) {
        if (__builtin_mul_overflow(result, base, &result)) return IntResult(true, 0);
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
  g.emplace_back("namespace",
                 Value::MakeFunction("namespace", [](const CallArgs& a) -> StatusOr<Value> {
                   Dict d;
                   for (const Value& p : a.positional) {
                     if (!p.is_dict())
                       return TypeError("namespace() positional argument must be a dict");
                     for (const auto& [k, v] : p.as_dict().items) d.Set(k, v);
                   }
                   for (const auto& [k, v] : a.keyword) d.Set(Value::String(k), v);
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
