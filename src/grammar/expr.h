// The grammar IR every front end (JSON Schema, regex, choice, GBNF) produces: named rules, each
// an expression tree over literal bytes, Unicode character classes, sequence, alternation,
// counted repetition and references to rules. Expressions are immutable and shared, so a front
// end can reuse one subtree (a JSON string, whitespace) in many places.
//
// A character class stands for one Unicode scalar value (never a surrogate) written in UTF-8,
// so every text the grammar accepts is valid UTF-8 and the automaton works on bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mies::grammar {

inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// Sorted, disjoint, non-adjacent inclusive code point ranges.
using CharRanges = std::vector<std::pair<uint32_t, uint32_t>>;

// Normalizes any list of ranges (sorts, merges, clips to [0, 0x10FFFF], drops surrogates).
CharRanges NormalizeRanges(CharRanges ranges);
// Every scalar value not in `ranges`.
CharRanges ComplementRanges(const CharRanges& ranges);

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind { kEmpty, kLiteral, kChars, kSeq, kAlt, kRepeat, kRef };
  Kind kind = Kind::kEmpty;
  std::string literal;         // kLiteral: the bytes
  CharRanges ranges;           // kChars: one character from these
  std::vector<ExprPtr> items;  // kSeq, kAlt; kRepeat: the repeated item
  int min = 0;                 // kRepeat
  int max = -1;                // kRepeat; -1: unbounded
  int rule = -1;               // kRef
};

inline constexpr int kUnbounded = -1;

ExprPtr Empty();
ExprPtr Lit(std::string_view bytes);
ExprPtr Chars(CharRanges ranges);  // normalized here
ExprPtr Seq(std::vector<ExprPtr> items);
ExprPtr Alt(std::vector<ExprPtr> items);
ExprPtr Repeat(ExprPtr item, int min, int max);
inline ExprPtr Opt(ExprPtr item) { return Repeat(std::move(item), 0, 1); }
inline ExprPtr Star(ExprPtr item) { return Repeat(std::move(item), 0, kUnbounded); }
inline ExprPtr Plus(ExprPtr item) { return Repeat(std::move(item), 1, kUnbounded); }
ExprPtr Ref(int rule);

// Automaton states the expression expands to, roughly (repetitions multiply); saturates.
int64_t EstimateSize(const Expr& e);

// A grammar: rules by index, `root` is where a text starts and must end.
struct Grammar {
  std::vector<std::string> names;
  std::vector<ExprPtr> rules;
  std::vector<uint8_t> keep;  // 1: never inline (a front end knows it is used many times)
  int root = 0;

  int AddRule(std::string name, ExprPtr expr = nullptr, bool keep_rule = false) {
    names.push_back(std::move(name));
    rules.push_back(std::move(expr));
    keep.push_back(keep_rule ? 1 : 0);
    return static_cast<int>(rules.size()) - 1;
  }
};

// Text form for error messages and tests (GBNF-like).
std::string ToString(const Expr& e, const Grammar* g = nullptr);

}  // namespace mies::grammar
