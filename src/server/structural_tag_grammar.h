// Structural tags (xgrammar's JSON "format" objects, which tool_choice, thinking models and
// vLLM's response_format structural_tag produce) -> the grammar engine's IR (src/grammar/expr.h).
//
// Formats:
//   {"type": "const_string", "value"}                      the literal text
//   {"type": "json_schema", "json_schema"}                 a JSON value of the schema
//   {"type": "regex", "pattern"} / {"type": "grammar", "grammar"}   (GBNF, root rule `root`)
//   {"type": "sequence" | "or", "elements": [formats]}
//   {"type": "tag", "begin", "content": format, "end"}     begin, content, end
//   {"type": "any_text"}                                   as a tag's content: any text that does
//                                                          not contain the tag's end; else any text
//   {"type": "tags_with_separator", "tags", "separator", "at_least_one", "stop_after_first"}
//   {"type": "triggered_tags", "triggers", "tags", "at_least_one", "stop_after_first"}
//                                                          free text without the triggers, and at
//                                                          a trigger one of the tags (each tag's
//                                                          begin starts with a trigger)
//
// "Text that does not contain S" is written without recursion (it stays one DFA): the first
// character of every such S may appear in them only there (true of every marker the models
// use: "</think>", "<tool_call>", "[TOOL_CALLS]", "<function="); others are refused by name.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grammar/expr.h"

namespace mies::server {

// `tag`: {"type": "structural_tag", "format": {...}}, or the bare format object. Errors
// (InvalidArgument) name the format's path ("format.elements[1]: ...").
StatusOr<grammar::Grammar> StructuralTagToGrammar(const nlohmann::ordered_json& tag);

}  // namespace mies::server
