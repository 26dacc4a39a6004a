#include "jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "jinja/py_string.h"

namespace mies::jinja {

const Value* Dict::Find(const Value& key) const {
  for (const auto& [k, v] : items) {
    if (Equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::Find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

void Dict::Set(Value key, Value value) {
  for (auto& [k, v] : items) {
    if (Equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

void Dict::UpdateShape() {
  depth = 1;
  has_namespace = false;
  for (const auto& [k, v] : items) {
    depth = std::max({depth, k.depth() + 1, v.depth() + 1});
    has_namespace = has_namespace || k.holds_namespace() || v.holds_namespace();
  }
}

const Value* CallArgs::Get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

namespace {

template <typename Json>
Value FromJsonImpl(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return Value::None();
    case Json::value_t::boolean:
      return Value::Bool(j.template get<bool>());
    case Json::value_t::number_integer:
      return Value::Int(j.template get<int64_t>());
    case Json::value_t::number_unsigned: {
      auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float:
      return Value::Float(j.template get<double>());
    case Json::value_t::string:
      return Value::String(j.template get<std::string>());
    case Json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJsonImpl(e));
      return Value::MakeList(std::move(items));
    }
    case Json::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        d.items.emplace_back(Value::String(it.key()), FromJsonImpl(it.value()));
      }
      return Value::MakeDict(std::move(d));
    }
    default:
      return Value::None();  // binary and discarded values do not come out of a JSON parse
  }
}

void AppendHex(std::string& out, const char* fmt, unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), fmt, v);
  out += buf;
}

std::string StrRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  // Fast path for plain ASCII text, which repr() only quotes.
  if (std::all_of(s.begin(), s.end(),
                  [quote](char c) { return c >= 0x20 && c < 0x7f && c != quote && c != '\\'; })) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back(quote);
    out += s;
    out.push_back(quote);
    return out;
  }
  std::string out(1, quote);
  for (char32_t c : py::Decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (py::IsPrintable(c)) {
      py::AppendUtf8(out, c);
    } else if (c < 0x100) {
      AppendHex(out, "\\x%02x", c);
    } else if (c < 0x10000) {
      AppendHex(out, "\\u%04x", c);
    } else {
      AppendHex(out, "\\U%08x", c);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace

namespace {
bool DepthWithin(const nlohmann::ordered_json& j, int remaining) {
  if (!j.is_structured()) return true;
  if (remaining <= 0) return false;
  for (const auto& e : j) {
    if (!DepthWithin(e, remaining - 1)) return false;
  }
  return true;
}
}  // namespace

Status CheckJsonDepth(const nlohmann::ordered_json& j, int max_depth, std::string_view what) {
  if (DepthWithin(j, max_depth)) return OkStatus();
  return InvalidArgument(std::string(what), " nests deeper than ", max_depth, " levels");
}

Value Value::FromJson(const nlohmann::ordered_json& j) { return FromJsonImpl(j); }
Value Value::FromJson(const nlohmann::json& j) { return FromJsonImpl(j); }

bool Value::Truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
    case Type::kInt:
      return int_ != 0;
    case Type::kFloat:
      return float_ != 0.0;
    case Type::kString:
      return !str_->empty();
    case Type::kList:
      return !list_->items.empty();
    case Type::kDict:
      return !dict_->items.empty();
    case Type::kNamespace:
    case Type::kFunction:
      return true;
  }
  return false;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // shortest round-trip digits, e.g. "-1.2345e+02"
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    i = 1;
  }
  size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e_pos; ++k) {
    if (sci[k] != '.') digits.push_back(sci[k]);
  }
  int exp = std::stoi(sci.substr(e_pos + 1));
  // Python's repr switches to exponent notation outside 1e-4 <= |x| < 1e16.
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const size_t whole = static_cast<size_t>(exp) + 1;  // exp >= 0 here
      std::string int_part = digits.substr(0, std::min(digits.size(), whole));
      while (int_part.size() < whole) int_part.push_back('0');
      std::string frac = digits.size() > whole ? digits.substr(whole) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += ebuf;
  }
  return out;
}

std::string Value::Str() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kString:
      return *str_;
    default:
      return Repr();
  }
}

namespace {

thread_local bool t_print_overflow = false;

// Repr() of containers, appending to `out` and stopping once it passes kMaxPrintBytes.
void ReprTo(const Value& v, std::string& out) {
  if (out.size() > kMaxPrintBytes) {
    t_print_overflow = true;
    return;
  }
  if (v.is_list()) {
    const bool tuple = v.as_list().is_tuple;
    out += tuple ? "(" : "[";
    for (size_t i = 0; i < v.items().size() && out.size() <= kMaxPrintBytes; ++i) {
      if (i) out += ", ";
      ReprTo(v.items()[i], out);
    }
    if (tuple && v.items().size() == 1) out += ",";
    out += tuple ? ")" : "]";
  } else if (v.is_dict() || v.is_namespace()) {
    if (v.is_namespace()) out += "<Namespace ";
    out += "{";
    const auto& items = v.as_dict().items;
    for (size_t i = 0; i < items.size() && out.size() <= kMaxPrintBytes; ++i) {
      if (i) out += ", ";
      ReprTo(items[i].first, out);
      out += ": ";
      ReprTo(items[i].second, out);
    }
    out += "}";
    if (v.is_namespace()) out += ">";
  } else if (v.is_string() && out.size() + v.as_string().size() > kMaxPrintBytes) {
    t_print_overflow = true;  // its repr is longer still: no need to build it
    return;
  } else {
    out += v.Repr();
  }
  if (out.size() > kMaxPrintBytes) t_print_overflow = true;
}

}  // namespace

bool TakePrintOverflow() {
  const bool overflow = t_print_overflow;
  t_print_overflow = false;
  return overflow;
}

std::string Value::Repr() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "None";
    case Type::kBool:
      return int_ ? "True" : "False";
    case Type::kInt:
      return std::to_string(int_);
    case Type::kFloat:
      return FloatRepr(float_);
    case Type::kString:
      return StrRepr(*str_);
    case Type::kList:
    case Type::kDict:
    case Type::kNamespace: {
      std::string out;
      ReprTo(*this, out);
      return out;
    }
    case Type::kFunction:
      return "<function " + fn_->name + ">";
  }
  return "";
}

std::string Value::TypeName() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return list_->is_tuple ? "tuple" : "list";
    case Type::kDict:
      return "dict";
    case Type::kNamespace:
      return "Namespace";
    case Type::kFunction:
      return "function";
  }
  return "object";
}

bool Equals(const Value& a, const Value& b) {
  using T = Value::Type;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::kUndefined:
    case T::kNone:
      return true;
    case T::kString:
      return a.as_string() == b.as_string();
    case T::kList: {
      if (a.as_list().is_tuple != b.as_list().is_tuple) return false;
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case T::kDict: {
      const auto& x = a.as_dict().items;
      if (x.size() != b.as_dict().items.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* other = b.as_dict().Find(k);
        if (!other || !Equals(v, *other)) return false;
      }
      return true;
    }
    case T::kNamespace:
      return &a.mutable_namespace() == &b.mutable_namespace();
    case T::kFunction:
      return &a.as_function() == &b.as_function();
    default:
      return false;
  }
}

StatusOr<int> Compare(const Value& a, const Value& b, std::string_view op) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // Byte order of UTF-8 equals code point order, which is what Python compares.
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.as_list().is_tuple == b.as_list().is_tuple) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return InvalidArgument("'", std::string(op), "' not supported between instances of '",
                         a.TypeName(), "' and '", b.TypeName(), "'");
}

namespace {

void JsonEscape(std::string& out, const std::string& s, bool ensure_ascii) {
  // Fast path for plain ASCII text, which needs no escapes.
  if (std::all_of(s.begin(), s.end(),
                  [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; })) {
    out.push_back('"');
    out += s;
    out.push_back('"');
    return;
  }
  out.push_back('"');
  for (char32_t c : py::Decode(s)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
          if (c >= 0x10000) {
            char32_t v = c - 0x10000;
            AppendHex(out, "\\u%04x", 0xD800 | (v >> 10));
            AppendHex(out, "\\u%04x", 0xDC00 | (v & 0x3FF));
          } else {
            AppendHex(out, "\\u%04x", c);
          }
        } else {
          py::AppendUtf8(out, c);
        }
    }
  }
  out.push_back('"');
}

Status TooLongJson() {
  return InvalidArgument("tojson: the JSON text would be longer than ", kMaxPrintBytes, " bytes");
}

Status JsonDumpImpl(std::string& out, const Value& v, const JsonDumpOptions& o, int level) {
  using T = Value::Type;
  auto newline = [&](int lvl) {
    out.push_back('\n');
    // Stops past the limit (the caller then fails): a long indent string times the depth.
    for (int i = 0; i < lvl && out.size() <= kMaxPrintBytes; ++i) out += o.indent_string;
  };
  switch (v.type()) {
    case T::kNone:
      out += "null";
      return OkStatus();
    case T::kBool:
      out += v.as_bool() ? "true" : "false";
      return OkStatus();
    case T::kInt:
      out += std::to_string(v.as_int());
      return OkStatus();
    case T::kFloat: {
      double d = v.as_double();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        out += FloatRepr(d);
      }
      return OkStatus();
    }
    case T::kString:
      if (out.size() + v.as_string().size() > kMaxPrintBytes) return TooLongJson();
      JsonEscape(out, v.as_string(), o.ensure_ascii);
      return OkStatus();
    case T::kList: {
      if (v.items().empty()) {
        out += "[]";
        return OkStatus();
      }
      out.push_back('[');
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += o.item_separator;
        if (o.has_indent) newline(level + 1);
        MIES_RETURN_IF_ERROR(JsonDumpImpl(out, v.items()[i], o, level + 1));
        if (out.size() > kMaxPrintBytes) return TooLongJson();
      }
      if (o.has_indent) newline(level);
      out.push_back(']');
      return OkStatus();
    }
    case T::kDict: {
      if (v.as_dict().items.empty()) {
        out += "{}";
        return OkStatus();
      }
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [k, val] : v.as_dict().items) {
        std::string key;
        switch (k.type()) {
          case T::kString:
            key = k.as_string();
            break;
          case T::kInt:
          case T::kFloat:
            key = k.Repr();
            break;
          case T::kBool:
            key = k.as_bool() ? "true" : "false";
            break;
          case T::kNone:
            key = "null";
            break;
          default:
            return InvalidArgument("keys must be str, int, float, bool or None, not ",
                                   k.TypeName());
        }
        entries.emplace_back(std::move(key), &val);
      }
      if (o.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out.push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.has_indent) newline(level + 1);
        JsonEscape(out, entries[i].first, o.ensure_ascii);
        out += o.key_separator;
        MIES_RETURN_IF_ERROR(JsonDumpImpl(out, *entries[i].second, o, level + 1));
        if (out.size() > kMaxPrintBytes) return TooLongJson();
      }
      if (o.has_indent) newline(level);
      out.push_back('}');
      return OkStatus();
    }
    default:
      return InvalidArgument("Object of type ", v.TypeName(), " is not JSON serializable");
  }
}

}  // namespace

StatusOr<std::string> JsonDumps(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  MIES_RETURN_IF_ERROR(JsonDumpImpl(out, v, options, 0));
  return out;
}

}  // namespace mies::jinja
