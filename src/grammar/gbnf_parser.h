// GBNF, the grammar text form of llama.cpp (and of xgrammar, which vLLM's guided_grammar and
// structural tags use), -> grammar IR.
//
//   root   ::= "{" ws pair ("," ws pair)* "}"    # the text must match rule `root`
//   pair   ::= [a-z]+ ":" ws [0-9]{1,3}
//   ws     ::= [ \t\n]*
//
// Terminals: "literals" and [character classes] ([^...] negated, ranges, escapes \n \r \t
// \\ \" \' \[ \] \- \xHH \uHHHH \UHHHHHHHH), `.` (any character). Operators: sequence, `|`,
// grouping `( )`, postfix * + ? {m} {m,} {m,n}. Comments run from # to the end of the line. A
// rule may span lines: it ends where the next `name ::=` starts. Rule names: letters, digits,
// '-' and '_'. Errors (undefined or duplicate rules, no root, left recursion, token-id syntax
// <[...]>) name the rule or the line.
#pragma once

#include <string_view>

#include "common/status.h"
#include "grammar/expr.h"

namespace mies::grammar {

StatusOr<Grammar> ParseGbnf(std::string_view text);

}  // namespace mies::grammar
