// Regular expressions (the common subset of Python's `re` and ECMAScript) -> grammar IR.
//
// Supported: literals (UTF-8), `.` (any character but \n), classes `[a-z]`, `[^...]`, escapes
// \d \D \w \W \s \S \n \r \t \f \v \0 \xHH \uHHHH \u{H...} and escaped punctuation, groups
// `(...)`, `(?:...)`, `(?P<name>...)`, `(?<name>...)`, alternation, quantifiers * + ? {n} {n,}
// {n,m} (lazy forms accepted: only the language matters here), `^` at the start and `$` at the
// end of a top-level alternative. Everything else (backreferences, lookaround, \b, flags such as
// (?i), possessive quantifiers, \p{...}) is an error naming the construct and its offset.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"
#include "grammar/expr.h"

namespace mies::grammar {

struct ParsedRegex {
  struct Branch {
    ExprPtr expr;
    bool anchored_start = false;
    bool anchored_end = false;
  };
  std::vector<Branch> branches;  // top-level alternatives

  // The whole text must match (guided_regex; anchors change nothing).
  ExprPtr FullMatch() const;
  // A text matches when some part of it does (JSON Schema `pattern`): unanchored sides of each
  // branch are padded with `any_char`*.
  ExprPtr Search(const ExprPtr& any_char) const;
};

// Counts above this in {n,m} are an error (the automaton would be too large anyway).
inline constexpr int kMaxRegexRepeat = 10000;

StatusOr<ParsedRegex> ParseRegex(std::string_view pattern);

}  // namespace mies::grammar
