// Methods of str, dict and list values, and Python's two string formatting styles.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jinja/builtins.h"
#include "jinja/builtins_internal.h"
#include "jinja/py_string.h"

namespace mies::jinja::internal {

// ---- printf-style formatting ("%s" % x and the format filter) ----

namespace {

// One printf conversion, sized exactly: a fixed buffer would cut long results, and a huge
// width or precision ("%999999999d") must be an error rather than a 2 GB string.
template <typename T>
Status AppendPrintf(std::string& out, const std::string& spec, const std::string& conv, T arg) {
  const std::string f = "%" + spec + conv;
  // Width and precision first: glibc works out a huge precision digit by digit.
  for (size_t i = 0; i < spec.size();) {
    if (spec[i] < '0' || spec[i] > '9') {
      ++i;
      continue;
    }
    uint64_t v = 0;
    for (; i < spec.size() && spec[i] >= '0' && spec[i] <= '9'; ++i) {
      v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(spec[i] - '0'), kMaxBuiltBytes + 1);
    }
    if (v > kMaxBuiltBytes) {
      return InvalidArgument("format '", f, "': a width or precision above ", kMaxBuiltBytes,
                             " exceeds the template's string limit");
    }
  }
  const int n = std::snprintf(nullptr, 0, f.c_str(), arg);
  if (n < 0) return InvalidArgument("format '", f, "': width or precision out of range");
  MIES_RETURN_IF_ERROR(
      CheckBuiltBytes("format '" + f + "'", out.size() + static_cast<uint64_t>(n)));
  const size_t at = out.size();
  out.resize(at + static_cast<size_t>(n) + 1);
  std::snprintf(out.data() + at, static_cast<size_t>(n) + 1, f.c_str(), arg);
  out.resize(at + static_cast<size_t>(n));
  return OkStatus();
}

}  // namespace

Status CheckReplaceSize(std::string_view s, std::string_view old_sub, std::string_view new_sub,
                        int64_t count) {
  uint64_t hits = static_cast<uint64_t>(py::Count(s, old_sub));
  if (count >= 0) hits = std::min(hits, static_cast<uint64_t>(count));
  // Each hit replaces old_sub.size() bytes (none for an empty old_sub) with new_sub.
  const uint64_t added = new_sub.empty() || hits <= kMaxBuiltBytes / new_sub.size()
                             ? hits * new_sub.size()
                             : kMaxBuiltBytes + 1;
  return CheckBuiltBytes("replace()", s.size() + added);
}

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
    switch (conv) {
      case 's':
      case 'r': {
        std::string s = conv == 's' ? arg.Str() : arg.Repr();
        if (spec.empty()) {
          out += s;
        } else {
          MIES_RETURN_IF_ERROR(AppendPrintf(out, spec, "s", s.c_str()));
        }
        break;
      }
      case 'd':
      case 'i': {
        if (!arg.is_number()) {
          return TypeError("%" + std::string(1, conv) + " format: a real number is required, not " +
                           arg.TypeName());
        }
        long long n = arg.is_float() ? 0 : arg.as_int();
        if (arg.is_float()) {
          const double t = std::trunc(arg.as_double());
          // Beyond 64 bits (or NaN) the cast would be undefined behaviour.
          if (!(t >= -0x1p63 && t < 0x1p63)) {
            return InvalidArgument("%" + std::string(1, conv) +
                                   " format: " + std::to_string(arg.as_double()) +
                                   " does not fit in a 64-bit integer");
          }
          n = static_cast<long long>(t);
        }
        MIES_RETURN_IF_ERROR(AppendPrintf(out, spec, "lld", n));
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
        MIES_RETURN_IF_ERROR(AppendPrintf(out, spec, std::string(1, conv), arg.as_double()));
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        if (!(arg.is_int() || arg.is_bool())) {
          return TypeError("%" + std::string(1, conv) + " format: an integer is required, not " +
                           arg.TypeName());
        }
        MIES_RETURN_IF_ERROR(AppendPrintf(out, spec, "ll" + std::string(1, conv),
                                          static_cast<long long>(arg.as_int())));
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
  const std::string& s = obj.as_string();
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
      MIES_RETURN_IF_ERROR(CheckReplaceSize(s, old_sub, new_sub, count));
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
      MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(*it));
      std::string out;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_string()) {
          return TypeError("sequence item " + std::to_string(i) + ": expected str instance, " +
                           items[i].TypeName() + " found");
        }
        if (i) out += s;
        out += items[i].as_string();
        MIES_RETURN_IF_ERROR(CheckBuiltBytes("str.join()", out.size()));
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
      MIES_RETURN_IF_ERROR(CheckBuiltBytes("str." + name + "(" + std::to_string(width) + ")",
                                           static_cast<uint64_t>(pad) > kMaxBuiltBytes
                                               ? static_cast<uint64_t>(pad)
                                               : pad * f.size() + s.size()));
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

}  // namespace mies::jinja::internal
