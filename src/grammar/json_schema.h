// JSON Schema -> grammar IR: the JSON texts the grammar accepts all validate against the schema
// (generation is stricter than validation where noted).
//
// Supported keywords: type (object, array, string, number, integer, boolean, null, and lists of
// them), properties, required, additionalProperties, enum, const, anyOf, oneOf (generated as
// anyOf), allOf with one schema, $ref (local "#/..." pointers; recursion allowed) with $defs /
// definitions, items, prefixItems (and the older array form of items), minItems, maxItems,
// minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum (integers;
// numbers take integral inclusive bounds), format (date-time, date, time, uuid), and the
// annotations title, description, default, examples, $schema, $id, $comment, $anchor, readOnly,
// writeOnly, deprecated. Any other keyword is an error naming it and where it is.
//
// Generation rules:
//  * Objects: properties in the schema's order (parse the text with CompileJsonSchemaText or
//    pass nlohmann::ordered_json to keep it; nlohmann::json sorts keys). Only listed properties
//    are generated, whatever additionalProperties says, unless the schema lists none: then
//    additionalProperties (a schema, true or absent) gives a map of any keys. Required names
//    missing from `properties` are generated with the additionalProperties schema (or any value).
//  * Whitespace between JSON tokens (llama.cpp's rule): nothing, one space, or one newline and
//    at most `max_whitespace` spaces/tabs of indent (default 20: pretty-printing a few levels
//    deep); none before or after the top value. So a model cannot loop in whitespace.
//  * Strings: any character (raw, or as a JSON escape; \u escapes never form lone surrogates).
//    minLength/maxLength count characters (an escape is one). `pattern` is searched (unanchored
//    unless it has ^/$) over the string's characters, written escaped where JSON needs it.
//    pattern, format and length bounds cannot be combined (error).
//  * Numbers: integers without leading zeros; numbers with optional fraction and exponent (no
//    exponent when bounded).
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "grammar/expr.h"

namespace mies::grammar {

struct JsonSchemaOptions {
  int max_whitespace = 20;  // indent bytes allowed after the one newline between JSON tokens
};

StatusOr<Grammar> JsonSchemaToGrammar(const nlohmann::ordered_json& schema,
                                      const JsonSchemaOptions& options = {});
// Any JSON object (response_format json_object).
Grammar JsonObjectGrammar(const JsonSchemaOptions& options = {});

}  // namespace mies::grammar
