#include "grammar/json_schema.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "grammar/number_range.h"
#include "grammar/regex_parser.h"

namespace mies::grammar {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxSchemaDepth = 64;
// Array items bigger than this (times their count) become a rule of their own instead of copies.
constexpr int64_t kItemCopyBudget = 20000;

const std::set<std::string>& Annotations() {
  static const std::set<std::string> s{"title",    "description", "default",   "examples",
                                       "$schema",  "$id",         "$comment",  "$anchor",
                                       "readOnly", "writeOnly",   "deprecated"};
  return s;
}

const std::set<std::string>& Supported() {
  static const std::set<std::string> s{"type",
                                       "properties",
                                       "required",
                                       "additionalProperties",
                                       "enum",
                                       "const",
                                       "anyOf",
                                       "oneOf",
                                       "allOf",
                                       "$ref",
                                       "$defs",
                                       "definitions",
                                       "items",
                                       "prefixItems",
                                       "minItems",
                                       "maxItems",
                                       "minLength",
                                       "maxLength",
                                       "pattern",
                                       "minimum",
                                       "maximum",
                                       "exclusiveMinimum",
                                       "exclusiveMaximum",
                                       "format"};
  return s;
}

const std::vector<std::string>& AllTypes() {
  static const std::vector<std::string> t{"object",  "array",   "string", "number",
                                          "integer", "boolean", "null"};
  return t;
}

std::string JsonText(const Json& v) {
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Primitive pieces shared by every schema.
struct Pieces {
  ExprPtr ws;
  ExprPtr raw_char;   // a string character that needs no escape
  ExprPtr json_char;  // a string character, raw or escaped
  ExprPtr string;     // a whole JSON string
  ExprPtr integer;
  ExprPtr number;

  explicit Pieces(int max_ws) {
    // llama.cpp's rule: nothing, one space, or one newline and an indent. Pretty-printed JSON
    // fits; a model that loves newlines or spaces cannot spend its token budget on them.
    ws = Opt(
        Alt({Lit(" "), Seq({Lit("\n"), Repeat(Chars({{' ', ' '}, {'\t', '\t'}}), 0, max_ws)})}));
    raw_char = Chars({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, kMaxCodePoint}});
    const ExprPtr hex = Chars({{'0', '9'}, {'A', 'F'}, {'a', 'f'}});
    auto hex_n = [&](int n) { return Repeat(hex, n, n); };
    // \uXXXX that is not a surrogate, or a high+low surrogate pair.
    const ExprPtr u_plain =
        Alt({Seq({Chars({{'0', '9'}, {'A', 'C'}, {'a', 'c'}}), hex_n(3)}),
             Seq({Chars({{'D', 'D'}, {'d', 'd'}}), Chars({{'0', '7'}}), hex_n(2)}),
             Seq({Chars({{'E', 'F'}, {'e', 'f'}}), hex_n(3)})});
    const ExprPtr u_pair = Seq(
        {Chars({{'D', 'D'}, {'d', 'd'}}), Chars({{'8', '9'}, {'A', 'B'}, {'a', 'b'}}), hex_n(2),
         Lit("\\u"), Chars({{'D', 'D'}, {'d', 'd'}}), Chars({{'C', 'F'}, {'c', 'f'}}), hex_n(2)});
    const ExprPtr escape = Seq({Lit("\\"), Alt({Chars({{'"', '"'},
                                                       {'\\', '\\'},
                                                       {'/', '/'},
                                                       {'b', 'b'},
                                                       {'f', 'f'},
                                                       {'n', 'n'},
                                                       {'r', 'r'},
                                                       {'t', 't'}}),
                                                Seq({Lit("u"), Alt({u_plain, u_pair})})})});
    json_char = Alt({raw_char, escape});
    string = Seq({Lit("\""), Star(json_char), Lit("\"")});
    const ExprPtr digits = Plus(Chars({{'0', '9'}}));
    const ExprPtr int_part = Alt({Lit("0"), Seq({Chars({{'1', '9'}}), Star(Chars({{'0', '9'}}))})});
    integer = Seq({Opt(Lit("-")), int_part});
    number = Seq({Opt(Lit("-")), int_part, Opt(Seq({Lit("."), digits})),
                  Opt(Seq({Chars({{'e', 'e'}, {'E', 'E'}}), Opt(Chars({{'+', '+'}, {'-', '-'}})),
                           digits}))});
  }
};

// A character as it must appear inside a JSON string.
std::string EscapeForJson(uint32_t cp) {
  switch (cp) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return absl::StrFormat("\\u%04x", cp);
  }
}

// Rewrites a regex expression over characters into the JSON-string text of those characters.
class JsonEscaper {
 public:
  ExprPtr Escape(const ExprPtr& e) {
    auto it = memo_.find(e.get());
    if (it != memo_.end()) return it->second;
    ExprPtr out;
    switch (e->kind) {
      case Expr::Kind::kLiteral: {
        std::string s;
        for (unsigned char c : e->literal) {
          if (c == '"' || c == '\\' || c < 0x20) {
            s += EscapeForJson(c);
          } else {
            s += static_cast<char>(c);
          }
        }
        out = Lit(s);
        break;
      }
      case Expr::Kind::kChars: {
        CharRanges raw;
        std::vector<ExprPtr> alts;
        for (auto [lo, hi] : e->ranges) {
          for (uint32_t cp = lo; cp <= std::min<uint32_t>(hi, 0x5C); ++cp) {
            if (cp < 0x20 || cp == '"' || cp == '\\') alts.push_back(Lit(EscapeForJson(cp)));
          }
          raw.push_back({lo, hi});
        }
        raw = NormalizeRanges(raw);
        CharRanges excluded{{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
        // raw minus excluded = raw intersect complement(excluded)
        const CharRanges allowed = ComplementRanges(excluded);
        CharRanges keep;
        for (auto [lo, hi] : raw) {
          for (auto [alo, ahi] : allowed) {
            const uint32_t l = std::max(lo, alo), h = std::min(hi, ahi);
            if (l <= h) keep.push_back({l, h});
          }
        }
        if (!keep.empty()) alts.push_back(Chars(keep));
        out = Alt(std::move(alts));
        break;
      }
      case Expr::Kind::kSeq:
      case Expr::Kind::kAlt:
      case Expr::Kind::kRepeat: {
        auto copy = std::make_shared<Expr>(*e);
        for (ExprPtr& item : copy->items) item = Escape(item);
        out = std::move(copy);
        break;
      }
      default:
        out = e;
    }
    memo_.emplace(e.get(), out);
    return out;
  }

 private:
  std::unordered_map<const Expr*, ExprPtr> memo_;
};

class SchemaBuilder {
 public:
  SchemaBuilder(const Json& root, const JsonSchemaOptions& options)
      : root_(root), pieces_(options.max_whitespace) {}

  StatusOr<Grammar> Build() {
    const int root = g_.AddRule("root");
    MIES_ASSIGN_OR_RETURN(g_.rules[root], Schema(root_, "#", 0));
    g_.root = root;
    return std::move(g_);
  }

  Grammar JsonObject() {
    const int root = g_.AddRule("root");
    g_.rules[root] = AnyObject();
    g_.root = root;
    return std::move(g_);
  }

 private:
  Status Error(const std::string& path, const std::string& what) const {
    return InvalidArgument("JSON schema at ", path, ": ", what);
  }

  // Any JSON value: a recursive rule.
  ExprPtr AnyValue() {
    if (any_value_ < 0) {
      any_value_ = g_.AddRule("value");
      g_.rules[any_value_] = Alt({AnyObject(), AnyArray(), pieces_.string, pieces_.number,
                                  Lit("true"), Lit("false"), Lit("null")});
    }
    return Ref(any_value_);
  }
  ExprPtr AnyObject() { return MapOf(AnyValue()); }
  ExprPtr AnyArray() {
    const ExprPtr& ws = pieces_.ws;
    const ExprPtr v = AnyValue();
    return Seq({Lit("["), ws, Opt(Seq({v, Star(Seq({ws, Lit(","), ws, v})), ws})), Lit("]")});
  }
  // An object whose keys are any strings and whose values match `value`.
  ExprPtr MapOf(const ExprPtr& value) {
    const ExprPtr& ws = pieces_.ws;
    const ExprPtr member = Seq({pieces_.string, ws, Lit(":"), ws, value});
    return Seq(
        {Lit("{"), ws, Opt(Seq({member, Star(Seq({ws, Lit(","), ws, member})), ws})), Lit("}")});
  }

  // Resolves a local JSON pointer ("#/$defs/x").
  StatusOr<const Json*> Resolve(const std::string& ref, const std::string& path) const {
    if (ref.empty() || ref[0] != '#') {
      return Error(path,
                   absl::StrCat("$ref \"", ref, "\" is not supported (only local \"#/...\")"));
    }
    const Json* at = &root_;
    size_t pos = 1;
    while (pos < ref.size()) {
      if (ref[pos] != '/')
        return Error(path, absl::StrCat("$ref \"", ref, "\" is not a JSON pointer"));
      const size_t next = ref.find('/', pos + 1);
      std::string token =
          ref.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      // ~1 -> '/', ~0 -> '~'; %25 style escapes are rare in generated schemas.
      for (size_t i = 0; (i = token.find('~', i)) != std::string::npos; ++i) {
        if (i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
          token.replace(i, 2, token[i + 1] == '0' ? "~" : "/");
        }
      }
      if (at->is_object() && at->contains(token)) {
        at = &(*at)[token];
      } else if (at->is_array() && !token.empty() &&
                 token.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoull(token) < at->size()) {
        at = &(*at)[std::stoull(token)];
      } else {
        return Error(path, absl::StrCat("$ref \"", ref, "\" points to nothing"));
      }
      pos = next == std::string::npos ? ref.size() : next;
    }
    return at;
  }

  StatusOr<ExprPtr> RefTo(const std::string& ref, const std::string& path, int depth) {
    auto it = refs_.find(ref);
    if (it != refs_.end()) return Ref(it->second);
    MIES_ASSIGN_OR_RETURN(const Json* target, Resolve(ref, path));
    const int rule = g_.AddRule(ref);
    refs_.emplace(ref, rule);
    MIES_ASSIGN_OR_RETURN(g_.rules[rule], Schema(*target, ref, depth + 1));
    return Ref(rule);
  }

  static bool HasAny(const Json& s, std::initializer_list<const char*> keys) {
    for (const char* k : keys) {
      if (s.contains(k)) return true;
    }
    return false;
  }

  // Keywords other than annotations and the given ones.
  static std::vector<std::string> Others(const Json& s, const std::set<std::string>& allowed) {
    std::vector<std::string> out;
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!Annotations().contains(it.key()) && !allowed.contains(it.key()) && it.key() != "$defs" &&
          it.key() != "definitions") {
        out.push_back(it.key());
      }
    }
    return out;
  }

  StatusOr<ExprPtr> Schema(const Json& s, const std::string& path, int depth) {
    if (depth > kMaxSchemaDepth) return Error(path, "nested deeper than 64 levels");
    if (s.is_boolean()) {
      if (s.get<bool>()) return AnyValue();
      return Error(path, "schema false matches nothing");
    }
    if (!s.is_object()) return Error(path, "a schema must be an object or a boolean");
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!Annotations().contains(it.key()) && !Supported().contains(it.key())) {
        return Error(path, absl::StrCat("keyword \"", it.key(), "\" is not supported (supported: ",
                                        absl::StrJoin(Supported(), ", "), ")"));
      }
    }
    if (s.contains("$ref")) {
      if (!s["$ref"].is_string()) return Error(path, "$ref must be a string");
      const auto others = Others(s, {"$ref"});
      if (!others.empty()) {
        return Error(path, absl::StrCat("$ref together with \"", others[0], "\" is not supported"));
      }
      return RefTo(s["$ref"].get<std::string>(), path, depth);
    }
    if (s.contains("allOf")) {
      const Json& all = s["allOf"];
      if (!all.is_array() || all.size() != 1) {
        return Error(path, "allOf is only supported with exactly one schema");
      }
      const auto others = Others(s, {"allOf"});
      if (!others.empty()) {
        return Error(path,
                     absl::StrCat("allOf together with \"", others[0], "\" is not supported"));
      }
      return Schema(all[0], path + "/allOf/0", depth + 1);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      const Json& list = s[key];
      if (!list.is_array() || list.empty()) {
        return Error(path, absl::StrCat(key, " must be a non-empty array"));
      }
      const auto others = Others(s, {key});
      if (!others.empty()) {
        return Error(path,
                     absl::StrCat(key, " together with \"", others[0], "\" is not supported"));
      }
      std::vector<ExprPtr> alts;
      for (size_t i = 0; i < list.size(); ++i) {
        MIES_ASSIGN_OR_RETURN(ExprPtr e,
                              Schema(list[i], absl::StrCat(path, "/", key, "/", i), depth + 1));
        alts.push_back(std::move(e));
      }
      return Alt(std::move(alts));
    }

    // Types: explicit, else implied by the keywords present, else any.
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const Json& x : t) {
          if (!x.is_string()) return Error(path, "type must be a string or an array of strings");
          types.push_back(x.get<std::string>());
        }
      } else {
        return Error(path, "type must be a string or a non-empty array of strings");
      }
      for (const std::string& t2 : types) {
        if (std::find(AllTypes().begin(), AllTypes().end(), t2) == AllTypes().end()) {
          return Error(path, absl::StrCat("unknown type \"", t2, "\""));
        }
      }
    }

    if (s.contains("const")) return Lit(JsonText(s["const"]));
    if (s.contains("enum")) {
      const Json& values = s["enum"];
      if (!values.is_array() || values.empty())
        return Error(path, "enum must be a non-empty array");
      std::vector<ExprPtr> alts;
      for (const Json& v : values) {
        if (!types.empty() && !MatchesAnyType(v, types)) continue;
        alts.push_back(Lit(JsonText(v)));
      }
      if (alts.empty()) return Error(path, "no enum value has the schema's type");
      return Alt(std::move(alts));
    }

    if (types.empty()) {
      if (HasAny(s, {"properties", "required", "additionalProperties"})) types.push_back("object");
      if (HasAny(s, {"items", "prefixItems", "minItems", "maxItems"})) types.push_back("array");
      if (HasAny(s, {"minLength", "maxLength", "pattern", "format"})) types.push_back("string");
      if (HasAny(s, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) {
        types.push_back("number");
      }
      if (types.empty()) return AnyValue();
    }
    std::vector<ExprPtr> alts;
    for (const std::string& t : types) {
      StatusOr<ExprPtr> e = TypedSchema(s, t, path, depth);
      if (!e.ok()) return e.status();
      alts.push_back(*std::move(e));
    }
    return Alt(std::move(alts));
  }

  static bool MatchesAnyType(const Json& v, const std::vector<std::string>& types) {
    for (const std::string& t : types) {
      if ((t == "null" && v.is_null()) || (t == "boolean" && v.is_boolean()) ||
          (t == "string" && v.is_string()) || (t == "object" && v.is_object()) ||
          (t == "array" && v.is_array()) || (t == "number" && v.is_number()) ||
          (t == "integer" &&
           (v.is_number_integer() ||
            (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())))) {
        return true;
      }
    }
    return false;
  }

  StatusOr<ExprPtr> TypedSchema(const Json& s, const std::string& type, const std::string& path,
                                int depth) {
    if (type == "null") return Lit("null");
    if (type == "boolean") return Alt({Lit("true"), Lit("false")});
    if (type == "integer") return IntegerSchema(s, path);
    if (type == "number") return NumberSchema(s, path);
    if (type == "string") return StringSchema(s, path);
    if (type == "array") return ArraySchema(s, path, depth);
    return ObjectSchema(s, path, depth);
  }

  StatusOr<std::optional<int64_t>> Count(const Json& s, const char* key,
                                         const std::string& path) const {
    if (!s.contains(key)) return std::optional<int64_t>();
    const Json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return Error(path, absl::StrCat(key, " must be a non-negative integer"));
    }
    if (v.get<int64_t>() > 100000) {
      return Error(path, absl::StrCat(key, " ", v.get<int64_t>(), " is too large (limit 100000)"));
    }
    return std::optional<int64_t>(v.get<int64_t>());
  }

  // A numeric bound as a double (draft 4 boolean exclusive* are handled by the caller).
  StatusOr<std::optional<double>> Bound(const Json& s, const char* key,
                                        const std::string& path) const {
    if (!s.contains(key)) return std::optional<double>();
    const Json& v = s[key];
    if (!v.is_number()) return Error(path, absl::StrCat(key, " must be a number"));
    const double d = v.get<double>();
    if (std::fabs(d) > 9.0e18) return Error(path, absl::StrCat(key, " is out of range"));
    return std::optional<double>(d);
  }

  struct Bounds {
    std::optional<double> min, max;
    bool min_exclusive = false, max_exclusive = false;
  };
  StatusOr<Bounds> ReadBounds(const Json& s, const std::string& path) const {
    Bounds b;
    MIES_ASSIGN_OR_RETURN(b.min, Bound(s, "minimum", path));
    MIES_ASSIGN_OR_RETURN(b.max, Bound(s, "maximum", path));
    for (const char* key : {"exclusiveMinimum", "exclusiveMaximum"}) {
      if (!s.contains(key)) continue;
      const bool is_min = std::string(key) == "exclusiveMinimum";
      if (s[key].is_boolean()) {  // draft 4: modifies minimum/maximum
        if (s[key].get<bool>()) (is_min ? b.min_exclusive : b.max_exclusive) = true;
        continue;
      }
      MIES_ASSIGN_OR_RETURN(std::optional<double> v, Bound(s, key, path));
      std::optional<double>& slot = is_min ? b.min : b.max;
      // The tighter of minimum and exclusiveMinimum wins.
      if (!slot || (is_min ? *v >= *slot : *v <= *slot)) {
        slot = v;
        (is_min ? b.min_exclusive : b.max_exclusive) = true;
      }
    }
    return b;
  }

  StatusOr<ExprPtr> IntegerSchema(const Json& s, const std::string& path) {
    MIES_ASSIGN_OR_RETURN(Bounds b, ReadBounds(s, path));
    if (!b.min && !b.max) return pieces_.integer;
    std::optional<int64_t> lo, hi;
    if (b.min) {
      lo = static_cast<int64_t>(b.min_exclusive ? std::floor(*b.min) + 1 : std::ceil(*b.min));
    }
    if (b.max) {
      hi = static_cast<int64_t>(b.max_exclusive ? std::ceil(*b.max) - 1 : std::floor(*b.max));
    }
    StatusOr<ExprPtr> e = IntegerRange(lo, hi);
    if (!e.ok()) return Error(path, std::string(e.status().message()));
    return e;
  }

  StatusOr<ExprPtr> NumberSchema(const Json& s, const std::string& path) {
    MIES_ASSIGN_OR_RETURN(Bounds b, ReadBounds(s, path));
    if (!b.min && !b.max) return pieces_.number;
    if (b.min_exclusive || b.max_exclusive) {
      return Error(path,
                   "exclusiveMinimum/exclusiveMaximum on a number are not supported (integers "
                   "only)");
    }
    for (const auto& v : {b.min, b.max}) {
      if (v && std::floor(*v) != *v) {
        return Error(path, absl::StrCat("bound ", *v,
                                        " on a number is not supported (only integral bounds)"));
      }
    }
    std::optional<int64_t> lo, hi;
    if (b.min) lo = static_cast<int64_t>(*b.min);
    if (b.max) hi = static_cast<int64_t>(*b.max);
    StatusOr<ExprPtr> e = NumberRange(lo, hi);
    if (!e.ok()) return Error(path, std::string(e.status().message()));
    return e;
  }

  StatusOr<ExprPtr> StringSchema(const Json& s, const std::string& path) {
    MIES_ASSIGN_OR_RETURN(std::optional<int64_t> min_len, Count(s, "minLength", path));
    MIES_ASSIGN_OR_RETURN(std::optional<int64_t> max_len, Count(s, "maxLength", path));
    const bool lengths = min_len || max_len;
    const int kinds =
        (lengths ? 1 : 0) + (s.contains("pattern") ? 1 : 0) + (s.contains("format") ? 1 : 0);
    if (kinds > 1) {
      return Error(path,
                   "pattern, format and minLength/maxLength cannot be combined (one of them per "
                   "string)");
    }
    const ExprPtr quote = Lit("\"");
    if (s.contains("format")) {
      if (!s["format"].is_string()) return Error(path, "format must be a string");
      const std::string f = s["format"].get<std::string>();
      MIES_ASSIGN_OR_RETURN(ExprPtr body, Format(f, path));
      return Seq({quote, body, quote});
    }
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) return Error(path, "pattern must be a string");
      StatusOr<ParsedRegex> re = ParseRegex(s["pattern"].get<std::string>());
      if (!re.ok()) return Error(path, std::string(re.status().message()));
      JsonEscaper esc;
      std::vector<ExprPtr> alts;
      for (const ParsedRegex::Branch& b : re->branches) {
        alts.push_back(
            Seq({b.anchored_start ? Empty() : Star(pieces_.json_char), esc.Escape(b.expr),
                 b.anchored_end ? Empty() : Star(pieces_.json_char)}));
      }
      return Seq({quote, Alt(std::move(alts)), quote});
    }
    if (lengths) {
      const int64_t lo = min_len.value_or(0);
      if (max_len && *max_len < lo) return Error(path, "maxLength is below minLength");
      return Seq({quote,
                  Repeat(pieces_.json_char, static_cast<int>(lo),
                         max_len ? static_cast<int>(*max_len) : kUnbounded),
                  quote});
    }
    return pieces_.string;
  }

  StatusOr<ExprPtr> Format(const std::string& f, const std::string& path) {
    auto re = [](std::string_view text) { return ParseRegex(text).value().FullMatch(); };
    static const char* kDate = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
    static const char* kTime =
        "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
    if (f == "date") return re(kDate);
    if (f == "time") return re(kTime);
    if (f == "date-time") return re(absl::StrCat(kDate, "T", kTime));
    if (f == "uuid") {
      return re("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    }
    return Error(path,
                 absl::StrCat("format \"", f,
                              "\" is not supported (supported: date-time, date, time, uuid)"));
  }

  // Makes `item` a rule of its own when it would be copied many times.
  ExprPtr Shareable(ExprPtr item, int64_t copies, const std::string& name) {
    if (item->kind == Expr::Kind::kRef || EstimateSize(*item) * copies <= kItemCopyBudget) {
      return item;
    }
    return Ref(g_.AddRule(name, std::move(item), /*keep_rule=*/true));
  }

  StatusOr<ExprPtr> ArraySchema(const Json& s, const std::string& path, int depth) {
    std::vector<ExprPtr> prefix;
    const Json* prefix_json = nullptr;
    if (s.contains("prefixItems")) {
      prefix_json = &s["prefixItems"];
    } else if (s.contains("items") && s["items"].is_array()) {
      prefix_json = &s["items"];  // draft 4-7 tuple form
    }
    if (prefix_json != nullptr) {
      if (!prefix_json->is_array()) return Error(path, "prefixItems must be an array");
      for (size_t i = 0; i < prefix_json->size(); ++i) {
        MIES_ASSIGN_OR_RETURN(ExprPtr e, Schema((*prefix_json)[i],
                                                absl::StrCat(path, "/prefixItems/", i), depth + 1));
        prefix.push_back(std::move(e));
      }
    }
    // Items after the prefix: a schema, false (none), or any value.
    ExprPtr rest;
    bool rest_allowed = true;
    const bool items_is_rest = s.contains("items") && !s["items"].is_array();
    if (items_is_rest) {
      if (s["items"].is_boolean() && !s["items"].get<bool>()) {
        rest_allowed = false;
      } else {
        MIES_ASSIGN_OR_RETURN(rest, Schema(s["items"], path + "/items", depth + 1));
      }
    } else if (prefix_json != nullptr && !s.contains("prefixItems")) {
      rest = AnyValue();  // old tuple form without additionalItems: anything may follow
    } else {
      rest = AnyValue();
    }
    MIES_ASSIGN_OR_RETURN(std::optional<int64_t> min_items, Count(s, "minItems", path));
    MIES_ASSIGN_OR_RETURN(std::optional<int64_t> max_items, Count(s, "maxItems", path));
    const int64_t k = static_cast<int64_t>(prefix.size());
    const int64_t lo = min_items.value_or(0);
    std::optional<int64_t> hi = max_items;
    if (!rest_allowed) hi = hi ? std::min(*hi, k) : k;
    if (hi && lo > *hi) {
      return Error(
          path, absl::StrCat("minItems ", lo, " cannot be met (at most ", *hi, " items allowed)"));
    }
    const ExprPtr& ws = pieces_.ws;
    if (hi && *hi == 0) return Seq({Lit("["), ws, Lit("]")});
    if (rest) {
      const int64_t copies = hi ? std::max<int64_t>(*hi - k, 1) : std::max<int64_t>(lo - k, 1);
      rest = Shareable(rest, copies, path + "/items");
    }
    auto elem = [&](int64_t i) { return i < k ? prefix[i] : rest; };
    // tail(i): the elements from index i on, i >= 1 elements already written.
    std::function<ExprPtr(int64_t)> tail = [&](int64_t i) -> ExprPtr {
      if (hi && i >= *hi) return Empty();
      const ExprPtr sep_elem = Seq({ws, Lit(","), ws, elem(i)});
      if (i >= k && i >= lo) {
        return Repeat(sep_elem, 0, hi ? static_cast<int>(*hi - i) : kUnbounded);
      }
      const ExprPtr cont = Seq({sep_elem, tail(i + 1)});
      return i < lo ? cont : Opt(cont);
    };
    const ExprPtr body = Seq({elem(0), tail(1), ws});
    return Seq({Lit("["), ws, lo > 0 ? body : Opt(body), Lit("]")});
  }

  StatusOr<ExprPtr> ObjectSchema(const Json& s, const std::string& path, int depth) {
    const ExprPtr& ws = pieces_.ws;
    struct Prop {
      std::string name;
      ExprPtr value;
      bool required = false;
    };
    std::vector<Prop> props;
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) return Error(path, "required must be an array of strings");
      for (const Json& r : s["required"]) {
        if (!r.is_string()) return Error(path, "required must be an array of strings");
        required.insert(r.get<std::string>());
      }
    }
    if (s.contains("properties")) {
      const Json& p = s["properties"];
      if (!p.is_object()) return Error(path, "properties must be an object");
      for (auto it = p.begin(); it != p.end(); ++it) {
        MIES_ASSIGN_OR_RETURN(ExprPtr v,
                              Schema(it.value(), path + "/properties/" + it.key(), depth + 1));
        props.push_back({it.key(), std::move(v), required.contains(it.key())});
      }
    }
    // additionalProperties: false, true/absent (any), or a schema.
    ExprPtr extra;
    bool extra_allowed = true;
    if (s.contains("additionalProperties")) {
      const Json& ap = s["additionalProperties"];
      if (ap.is_boolean()) {
        extra_allowed = ap.get<bool>();
      } else {
        MIES_ASSIGN_OR_RETURN(extra, Schema(ap, path + "/additionalProperties", depth + 1));
      }
    }
    for (const std::string& name : required) {
      const bool listed =
          std::any_of(props.begin(), props.end(), [&](const Prop& p) { return p.name == name; });
      if (listed) continue;
      if (!extra_allowed) {
        return Error(path, absl::StrCat("required property \"", name,
                                        "\" is not in properties and additionalProperties is "
                                        "false"));
      }
      props.push_back({name, extra ? extra : AnyValue(), true});
    }
    if (props.empty()) {
      if (!extra_allowed) return Seq({Lit("{"), ws, Lit("}")});
      return MapOf(extra ? extra : AnyValue());
    }
    const size_t n = props.size();
    std::vector<ExprPtr> member(n);
    for (size_t i = 0; i < n; ++i) {
      member[i] = Seq({Lit(JsonText(Json(props[i].name))), ws, Lit(":"), ws, props[i].value});
    }
    // after[i]: properties i.. once at least one was written (each needs a leading comma).
    std::vector<ExprPtr> after(n + 1);
    after[n] = Empty();
    for (size_t i = n; i-- > 0;) {
      const ExprPtr m = Seq({ws, Lit(","), ws, member[i]});
      after[i] = Seq({props[i].required ? m : Opt(m), after[i + 1]});
    }
    // first[i]: properties i.., none written yet, at least one to write.
    ExprPtr first;
    bool any_required = false;
    for (size_t i = n; i-- > 0;) {
      const ExprPtr m = Seq({member[i], after[i + 1]});
      if (props[i].required) {
        first = m;
        any_required = true;
      } else {
        first = first ? Alt({m, first}) : m;
      }
    }
    const ExprPtr body = Seq({first, ws});
    return Seq({Lit("{"), ws, any_required ? body : Opt(body), Lit("}")});
  }

  Grammar g_;
  const Json& root_;
  Pieces pieces_;
  int any_value_ = -1;
  std::map<std::string, int> refs_;
};

}  // namespace

StatusOr<Grammar> JsonSchemaToGrammar(const Json& schema, const JsonSchemaOptions& options) {
  return SchemaBuilder(schema, options).Build();
}

Grammar JsonObjectGrammar(const JsonSchemaOptions& options) {
  static const Json kEmpty = Json::object();
  return SchemaBuilder(kEmpty, options).JsonObject();
}

}  // namespace mies::grammar
