#include "grammar/gbnf_parser.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "grammar/regex_parser.h"
#include "grammar/utf8_ranges.h"
#include "tokenizer/utf8.h"

namespace mies::grammar {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  StatusOr<Grammar> Parse() {
    SkipSpace();
    while (!AtEnd()) {
      const size_t name_at = pos_;
      const std::string name = ReadName();
      if (name.empty()) return Error("expected a rule name");
      SkipSpace();
      if (!t_.substr(pos_).starts_with("::=")) {
        pos_ = name_at;
        return Error(absl::StrCat("expected '::=' after rule name '", name, "'"));
      }
      pos_ += 3;
      const int rule = RuleId(name);
      if (defined_[rule]) return Error(absl::StrCat("rule '", name, "' is defined twice"));
      defined_[rule] = true;
      MIES_ASSIGN_OR_RETURN(g_.rules[rule], ParseAlternatives(/*nested=*/false));
      SkipSpace();
    }
    for (size_t r = 0; r < g_.rules.size(); ++r) {
      if (!defined_[r]) {
        return InvalidArgument("grammar: rule '", g_.names[r], "' is used but not defined");
      }
    }
    auto root = ids_.find("root");
    if (root == ids_.end()) return InvalidArgument("grammar: no 'root' rule");
    g_.root = root->second;
    return std::move(g_);
  }

 private:
  bool AtEnd() const { return pos_ >= t_.size(); }
  char Cur() const { return t_[pos_]; }

  Status Error(std::string_view what) const {
    int line = 1;
    for (size_t i = 0; i < pos_ && i < t_.size(); ++i) line += t_[i] == '\n';
    return InvalidArgument("grammar line ", line, ": ", std::string(what));
  }

  // Spaces, newlines and comments.
  void SkipSpace() {
    while (!AtEnd()) {
      const char c = Cur();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#') {
        while (!AtEnd() && Cur() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string ReadName() {
    const size_t start = pos_;
    while (!AtEnd() && IsNameChar(Cur())) ++pos_;
    return std::string(t_.substr(start, pos_ - start));
  }

  int RuleId(const std::string& name) {
    auto [it, inserted] = ids_.try_emplace(name, static_cast<int>(g_.rules.size()));
    if (inserted) {
      g_.AddRule(name);
      defined_.push_back(false);
    }
    return it->second;
  }

  // True when a `name ::=` starts at the current position (the current rule is over).
  bool AtRuleStart() {
    const size_t save = pos_;
    const std::string name = ReadName();
    SkipSpace();
    const bool yes = !name.empty() && t_.substr(pos_).starts_with("::=");
    pos_ = save;
    return yes;
  }

  StatusOr<ExprPtr> ParseAlternatives(bool nested) {
    std::vector<ExprPtr> alts;
    while (true) {
      MIES_ASSIGN_OR_RETURN(ExprPtr seq, ParseSequence(nested));
      alts.push_back(std::move(seq));
      SkipSpace();
      if (AtEnd() || Cur() != '|') break;
      ++pos_;
    }
    return Alt(std::move(alts));
  }

  StatusOr<ExprPtr> ParseSequence(bool nested) {
    std::vector<ExprPtr> items;
    while (true) {
      SkipSpace();
      if (AtEnd() || Cur() == '|' || Cur() == ')') break;
      if (!nested && AtRuleStart()) break;
      MIES_ASSIGN_OR_RETURN(ExprPtr atom, ParseAtom());
      MIES_ASSIGN_OR_RETURN(atom, ParsePostfix(std::move(atom)));
      items.push_back(std::move(atom));
    }
    if (!AtEnd() && Cur() == ')' && !nested) return Error("unbalanced ')'");
    return Seq(std::move(items));
  }

  StatusOr<ExprPtr> ParsePostfix(ExprPtr atom) {
    while (!AtEnd()) {
      const char c = Cur();
      if (c == '*') {
        atom = Star(std::move(atom));
        ++pos_;
      } else if (c == '+') {
        atom = Plus(std::move(atom));
        ++pos_;
      } else if (c == '?') {
        atom = Opt(std::move(atom));
        ++pos_;
      } else if (c == '{') {
        ++pos_;
        auto number = [&](int* out) {
          const size_t start = pos_;
          int64_t v = 0;
          while (!AtEnd() && Cur() >= '0' && Cur() <= '9') {
            v = std::min<int64_t>(v * 10 + (Cur() - '0'), int64_t{1} << 40);
            ++pos_;
          }
          *out = static_cast<int>(std::min<int64_t>(v, int64_t{1} << 30));
          return pos_ > start;
        };
        int lo = 0, hi = 0;
        SkipSpace();
        if (!number(&lo)) return Error("expected a number after '{'");
        SkipSpace();
        if (!AtEnd() && Cur() == '}') {
          hi = lo;
        } else if (!AtEnd() && Cur() == ',') {
          ++pos_;
          SkipSpace();
          if (!number(&hi)) hi = kUnbounded;
          SkipSpace();
        }
        if (AtEnd() || Cur() != '}') return Error("expected '}'");
        ++pos_;
        if (lo > kMaxRegexRepeat || hi > kMaxRegexRepeat) {
          return Error(absl::StrCat("repetition count over ", kMaxRegexRepeat));
        }
        if (hi != kUnbounded && hi < lo) return Error("repetition {m,n} with n < m");
        atom = Repeat(std::move(atom), lo, hi);
      } else {
        break;
      }
    }
    return atom;
  }

  StatusOr<uint32_t> Hex(size_t digits) {
    const std::optional<uint32_t> v = ParseHex(t_.substr(pos_), digits);
    if (!v) return Error("bad hex escape");
    pos_ += digits;
    return *v;
  }

  // One character of a literal or class, escapes decoded.
  StatusOr<uint32_t> Char() {
    if (AtEnd()) return Error("unexpected end of text");
    if (Cur() != '\\') {
      if (tokenizer::FindInvalidUtf8(t_.substr(pos_, 4)) == 0) return Error("invalid UTF-8");
      return tokenizer::NextCodePoint(t_, pos_);
    }
    ++pos_;
    if (AtEnd()) return Error("trailing backslash");
    const char c = Cur();
    ++pos_;
    uint32_t cp;
    switch (c) {
      case 'n':
        return uint32_t{'\n'};
      case 'r':
        return uint32_t{'\r'};
      case 't':
        return uint32_t{'\t'};
      case 'x': {
        MIES_ASSIGN_OR_RETURN(cp, Hex(2));
        return cp;
      }
      case 'u': {
        MIES_ASSIGN_OR_RETURN(cp, Hex(4));
        break;
      }
      case 'U': {
        MIES_ASSIGN_OR_RETURN(cp, Hex(8));
        break;
      }
      case '\\':
      case '"':
      case '\'':
      case '[':
      case ']':
      case '-':
      case '^':
      case '/':
        return static_cast<uint32_t>(c);
      default:
        --pos_;
        return Error(absl::StrCat("unknown escape \\", std::string(1, c)));
    }
    if (cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return Error("escape is not a Unicode scalar value");
    }
    return cp;
  }

  StatusOr<ExprPtr> ParseAtom() {
    const char c = Cur();
    if (c == '"') {
      ++pos_;
      std::string bytes;
      while (true) {
        if (AtEnd() || Cur() == '\n') return Error("unterminated string literal");
        if (Cur() == '"') {
          ++pos_;
          break;
        }
        MIES_ASSIGN_OR_RETURN(uint32_t cp, Char());
        tokenizer::AppendCodePoint(cp, &bytes);
      }
      return Lit(bytes);
    }
    if (c == '[') {
      ++pos_;
      bool negate = false;
      if (!AtEnd() && Cur() == '^') {
        negate = true;
        ++pos_;
      }
      CharRanges ranges;
      while (true) {
        if (AtEnd()) return Error("unterminated character class");
        if (Cur() == ']') {
          ++pos_;
          break;
        }
        MIES_ASSIGN_OR_RETURN(uint32_t lo, Char());
        uint32_t hi = lo;
        if (!AtEnd() && Cur() == '-' && pos_ + 1 < t_.size() && t_[pos_ + 1] != ']') {
          ++pos_;
          MIES_ASSIGN_OR_RETURN(hi, Char());
          if (hi < lo) return Error("class range out of order");
        }
        ranges.push_back({lo, hi});
      }
      const CharRanges set = negate ? ComplementRanges(ranges) : NormalizeRanges(ranges);
      if (set.empty()) return Error("the character class matches nothing");
      return Chars(set);
    }
    if (c == '.') {
      ++pos_;
      return Chars({{0, kMaxCodePoint}});
    }
    if (c == '(') {
      ++pos_;
      MIES_ASSIGN_OR_RETURN(ExprPtr inner, ParseAlternatives(/*nested=*/true));
      SkipSpace();
      if (AtEnd() || Cur() != ')') return Error("missing ')'");
      ++pos_;
      return inner;
    }
    if (c == '<' || c == '!') return Error("token syntax <...> is not supported");
    if (IsNameChar(c)) {
      const std::string name = ReadName();
      return Ref(RuleId(name));
    }
    return Error(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  std::string_view t_;
  size_t pos_ = 0;
  Grammar g_;
  std::map<std::string, int> ids_;
  std::vector<bool> defined_;
};

}  // namespace

StatusOr<Grammar> ParseGbnf(std::string_view text) { return Parser(text).Parse(); }

}  // namespace mies::grammar
