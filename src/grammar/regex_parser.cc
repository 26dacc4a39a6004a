#include "grammar/regex_parser.h"

#include "absl/strings/str_cat.h"
#include "grammar/utf8_ranges.h"
#include "tokenizer/utf8.h"

namespace mies::grammar {
namespace {

const CharRanges& Digits() {
  static const CharRanges r{{'0', '9'}};
  return r;
}
const CharRanges& WordChars() {
  static const CharRanges r{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  return r;
}
const CharRanges& SpaceChars() {
  static const CharRanges r{{'\t', '\r'}, {' ', ' '}};
  return r;
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  StatusOr<ParsedRegex> Parse() {
    ParsedRegex out;
    while (true) {
      ParsedRegex::Branch branch;
      if (Peek('^')) {
        ++pos_;
        branch.anchored_start = true;
      }
      MIES_ASSIGN_OR_RETURN(branch.expr, ParseSeq(/*top=*/true, &branch.anchored_end));
      out.branches.push_back(std::move(branch));
      if (AtEnd()) break;
      if (Peek('|')) {
        ++pos_;
        continue;
      }
      return Error("unbalanced ')'");
    }
    return out;
  }

 private:
  bool AtEnd() const { return pos_ >= p_.size(); }
  bool Peek(char c) const { return !AtEnd() && p_[pos_] == c; }

  Status Error(std::string_view what) const {
    return InvalidArgument("regex: ", std::string(what), " at offset ", pos_, " of \"",
                           std::string(p_), "\"");
  }

  StatusOr<uint32_t> NextCodePoint() {
    const size_t bad = tokenizer::FindInvalidUtf8(p_.substr(pos_, 4));
    if (bad == 0) return Error("invalid UTF-8");
    return tokenizer::NextCodePoint(p_, pos_);
  }

  StatusOr<ExprPtr> ParseAlt() {
    std::vector<ExprPtr> alts;
    while (true) {
      MIES_ASSIGN_OR_RETURN(ExprPtr seq, ParseSeq(/*top=*/false, nullptr));
      alts.push_back(std::move(seq));
      if (!Peek('|')) break;
      ++pos_;
    }
    return Alt(std::move(alts));
  }

  // Up to '|', ')' or the end. At top level a final '$' sets *anchored_end.
  StatusOr<ExprPtr> ParseSeq(bool top, bool* anchored_end) {
    std::vector<ExprPtr> items;
    while (!AtEnd() && !Peek('|') && !Peek(')')) {
      if (Peek('$')) {
        const bool last = pos_ + 1 == p_.size() || p_[pos_ + 1] == '|';
        if (!top || !last) return Error("'$' is only supported at the end of the pattern");
        ++pos_;
        *anchored_end = true;
        break;
      }
      if (Peek('^')) return Error("'^' is only supported at the start of the pattern");
      MIES_ASSIGN_OR_RETURN(ExprPtr atom, ParseAtom());
      MIES_ASSIGN_OR_RETURN(atom, ParseQuantifiers(std::move(atom)));
      items.push_back(std::move(atom));
    }
    if (top && Peek(')')) return Error("unbalanced ')'");
    return Seq(std::move(items));
  }

  // {n}, {n,}, {n,m}, {,m}; false when the brace does not start a quantifier (then a literal).
  bool ParseBraces(int* min, int* max) {
    size_t i = pos_ + 1;
    auto number = [&](int* out) {
      const size_t start = i;
      int64_t v = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9') {
        v = std::min<int64_t>(v * 10 + (p_[i] - '0'), int64_t{1} << 40);
        ++i;
      }
      *out = static_cast<int>(std::min<int64_t>(v, int64_t{1} << 30));
      return i > start;
    };
    int lo = 0, hi = 0;
    const bool has_lo = number(&lo);
    if (i < p_.size() && p_[i] == '}') {
      if (!has_lo) return false;
      *min = *max = lo;
      pos_ = i + 1;
      return true;
    }
    if (i >= p_.size() || p_[i] != ',') return false;
    ++i;
    const bool has_hi = number(&hi);
    if (i >= p_.size() || p_[i] != '}' || (!has_lo && !has_hi)) return false;
    *min = has_lo ? lo : 0;
    *max = has_hi ? hi : kUnbounded;
    pos_ = i + 1;
    return true;
  }

  StatusOr<ExprPtr> ParseQuantifiers(ExprPtr atom) {
    while (!AtEnd()) {
      int min = 0, max = 0;
      const char c = p_[pos_];
      if (c == '*') {
        min = 0, max = kUnbounded;
        ++pos_;
      } else if (c == '+') {
        min = 1, max = kUnbounded;
        ++pos_;
      } else if (c == '?') {
        min = 0, max = 1;
        ++pos_;
      } else if (c == '{' && ParseBraces(&min, &max)) {
        if (min > kMaxRegexRepeat || max > kMaxRegexRepeat) {
          return Error(absl::StrCat("repetition count over ", kMaxRegexRepeat));
        }
        if (max != kUnbounded && max < min) return Error("repetition {n,m} with m < n");
      } else {
        break;
      }
      if (Peek('?')) {
        ++pos_;  // lazy: same language
      } else if (Peek('+')) {
        return Error("possessive quantifiers are not supported");
      }
      atom = Repeat(std::move(atom), min, max);
    }
    return atom;
  }

  StatusOr<ExprPtr> ParseAtom() {
    const char c = p_[pos_];
    switch (c) {
      case '(': {
        ++pos_;
        if (Peek('?')) {
          const std::string_view rest = p_.substr(pos_);
          if (rest.starts_with("?:")) {
            pos_ += 2;
          } else if (rest.starts_with("?P<") || (rest.starts_with("?<") && rest.size() > 2 &&
                                                 rest[2] != '=' && rest[2] != '!')) {
            const size_t close = p_.find('>', pos_);
            if (close == std::string_view::npos) return Error("unterminated group name");
            pos_ = close + 1;
          } else if (rest.starts_with("?=") || rest.starts_with("?!") || rest.starts_with("?<=") ||
                     rest.starts_with("?<!")) {
            return Error("lookaround assertions are not supported");
          } else {
            return Error("group flags and extensions (?...) are not supported");
          }
        }
        MIES_ASSIGN_OR_RETURN(ExprPtr inner, ParseAlt());
        if (!Peek(')')) return Error("missing ')'");
        ++pos_;
        return inner;
      }
      case '[':
        return ParseClass();
      case '.':
        ++pos_;
        return Chars({{0, '\n' - 1}, {'\n' + 1, kMaxCodePoint}});
      case '\\':
        return ParseEscape(/*in_class=*/false, nullptr);
      case '*':
      case '+':
      case '?':
        return Error("nothing to repeat");
      default: {
        MIES_ASSIGN_OR_RETURN(uint32_t cp, NextCodePoint());
        std::string bytes;
        tokenizer::AppendCodePoint(cp, &bytes);
        return Lit(bytes);
      }
    }
  }

  StatusOr<uint32_t> Hex(size_t digits) {
    const std::optional<uint32_t> v = ParseHex(p_.substr(pos_), digits);
    if (!v) return Error("bad hex escape");
    pos_ += digits;
    return *v;
  }

  // After a backslash. In a class, a class escape (\d) fills *ranges; otherwise the escape is a
  // single character returned as a literal (or a class expression outside classes).
  StatusOr<ExprPtr> ParseEscape(bool in_class, CharRanges* ranges) {
    ++pos_;  // the backslash
    if (AtEnd()) return Error("trailing backslash");
    const char c = p_[pos_];
    auto klass = [&](const CharRanges& r, bool negate) -> StatusOr<ExprPtr> {
      ++pos_;
      const CharRanges set = negate ? ComplementRanges(r) : r;
      if (in_class) {
        ranges->insert(ranges->end(), set.begin(), set.end());
        return ExprPtr();
      }
      return Chars(set);
    };
    uint32_t cp = 0;
    switch (c) {
      case 'd':
        return klass(Digits(), false);
      case 'D':
        return klass(Digits(), true);
      case 'w':
        return klass(WordChars(), false);
      case 'W':
        return klass(WordChars(), true);
      case 's':
        return klass(SpaceChars(), false);
      case 'S':
        return klass(SpaceChars(), true);
      case 'n':
        cp = '\n', ++pos_;
        break;
      case 'r':
        cp = '\r', ++pos_;
        break;
      case 't':
        cp = '\t', ++pos_;
        break;
      case 'f':
        cp = '\f', ++pos_;
        break;
      case 'v':
        cp = '\v', ++pos_;
        break;
      case '0':
        cp = 0, ++pos_;
        break;
      case 'x': {
        ++pos_;
        MIES_ASSIGN_OR_RETURN(cp, Hex(2));
        break;
      }
      case 'u': {
        ++pos_;
        if (Peek('{')) {
          const size_t close = p_.find('}', pos_);
          if (close == std::string_view::npos || close == pos_ + 1 || close > pos_ + 7) {
            return Error("bad \\u{...} escape");
          }
          ++pos_;
          MIES_ASSIGN_OR_RETURN(cp, Hex(close - pos_));
          ++pos_;
        } else {
          MIES_ASSIGN_OR_RETURN(cp, Hex(4));
        }
        if (cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) {
          return Error("escape is not a Unicode scalar value");
        }
        break;
      }
      case 'b':
      case 'B':
        if (in_class && c == 'b') {
          cp = '\b', ++pos_;
          break;
        }
        return Error("word boundaries (\\b, \\B) are not supported");
      case 'p':
      case 'P':
        return Error("Unicode property classes (\\p{...}) are not supported");
      default:
        if (c >= '1' && c <= '9') return Error("backreferences are not supported");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          return Error(absl::StrCat("unknown escape \\", std::string(1, c)));
        }
        {
          MIES_ASSIGN_OR_RETURN(cp, NextCodePoint());  // escaped punctuation or any other char
        }
    }
    if (in_class) {
      ranges->push_back({cp, cp});
      last_class_char_ = cp;
      return ExprPtr();
    }
    std::string bytes;
    tokenizer::AppendCodePoint(cp, &bytes);
    return Lit(bytes);
  }

  StatusOr<ExprPtr> ParseClass() {
    ++pos_;  // '['
    bool negate = false;
    if (Peek('^')) {
      negate = true;
      ++pos_;
    }
    CharRanges ranges;
    bool first = true;
    while (true) {
      if (AtEnd()) return Error("missing ']'");
      if (Peek(']') && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (p_.substr(pos_).starts_with("[:"))
        return Error("POSIX classes [:...:] are not supported");
      // One item: a character (maybe the start of a range) or a class escape.
      uint32_t lo;
      if (Peek('\\')) {
        const size_t before = ranges.size();
        last_class_char_ = kNoChar;
        MIES_ASSIGN_OR_RETURN(ExprPtr ignored, ParseEscape(/*in_class=*/true, &ranges));
        (void)ignored;
        if (last_class_char_ == kNoChar) continue;  // \d and friends
        ranges.resize(before);
        lo = last_class_char_;
      } else {
        MIES_ASSIGN_OR_RETURN(lo, NextCodePoint());
      }
      uint32_t hi = lo;
      if (Peek('-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        if (Peek('\\')) {
          last_class_char_ = kNoChar;
          CharRanges tmp;
          MIES_ASSIGN_OR_RETURN(ExprPtr ignored, ParseEscape(/*in_class=*/true, &tmp));
          (void)ignored;
          if (last_class_char_ == kNoChar) return Error("a class escape cannot end a range");
          hi = last_class_char_;
        } else {
          MIES_ASSIGN_OR_RETURN(hi, NextCodePoint());
        }
        if (hi < lo) return Error("class range out of order");
      }
      ranges.push_back({lo, hi});
    }
    const CharRanges set = negate ? ComplementRanges(ranges) : NormalizeRanges(ranges);
    if (set.empty()) return Error("the class matches no character");
    return Chars(set);
  }

  static constexpr uint32_t kNoChar = 0xFFFFFFFF;
  std::string_view p_;
  size_t pos_ = 0;
  uint32_t last_class_char_ = kNoChar;
};

}  // namespace

ExprPtr ParsedRegex::FullMatch() const {
  std::vector<ExprPtr> alts;
  for (const Branch& b : branches) alts.push_back(b.expr);
  return Alt(std::move(alts));
}

ExprPtr ParsedRegex::Search(const ExprPtr& any_char) const {
  std::vector<ExprPtr> alts;
  for (const Branch& b : branches) {
    alts.push_back(Seq({b.anchored_start ? Empty() : Star(any_char), b.expr,
                        b.anchored_end ? Empty() : Star(any_char)}));
  }
  return Alt(std::move(alts));
}

StatusOr<ParsedRegex> ParseRegex(std::string_view pattern) { return Parser(pattern).Parse(); }

}  // namespace mies::grammar
