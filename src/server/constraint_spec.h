// Structured output as requests ask for it, before compilation: a ConstraintSpec says what kind
// of constraint (JSON schema, any JSON object, regex, one of some strings, a grammar, or a
// structural tag) and its source text, and which request field asked. The request fields of
// every API that has them parse into one (response_format, vLLM's guided_* and
// structured_outputs, TGI's grammar, tool_choice), and a ConstraintCompiler turns it into the
// engine request's constraint. The compiler is the one place that knows the grammar engine.
//
// Structural tags are xgrammar's JSON format ({"type":"structural_tag","format":{...}} with
// const_string, json_schema, regex, grammar, sequence, or, tag, any_text, triggered_tags and
// tags_with_separator formats); vLLM's older {"structures", "triggers"} form is accepted from
// clients as well.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/request.h"
#include "server/reasoning_parser.h"

namespace mies::server {

struct ConstraintSpec {
  enum class Kind { kJsonSchema, kJsonObject, kRegex, kChoice, kGrammar, kStructuralTag };
  Kind kind = Kind::kJsonObject;
  // kJsonSchema, kStructuralTag: JSON text; kChoice: a JSON array of strings; kRegex, kGrammar:
  // the pattern or grammar text (GBNF/EBNF, as the client wrote it); kJsonObject: empty.
  std::string source;
  std::string field;  // the request field it came from, named in errors

  bool operator==(const ConstraintSpec&) const = default;
};

const char* ConstraintKindName(ConstraintSpec::Kind kind);

// Compiles specs for the served model's vocabulary and attaches the result to a request.
class ConstraintCompiler {
 public:
  virtual ~ConstraintCompiler() = default;
  // An error in the spec itself (a JSON-schema keyword the engine does not support, a bad
  // regex) is InvalidArgument naming it; the caller answers 400 with the message.
  virtual Status Attach(const ConstraintSpec& spec, engine::GenerateRequest* request) = 0;
};

// Compiles and attaches `spec` when there is one. Errors are 400 (BadRequest) naming the field,
// also when `compiler` is null (no grammar engine in this build).
Status AttachConstraint(ConstraintCompiler* compiler, const std::optional<ConstraintSpec>& spec,
                        engine::GenerateRequest* request);

// The request fields. Shape errors are InvalidArgument (422) naming the field.
// OpenAI's response_format: text (nullopt), json_object, json_schema {name, schema, strict},
// and vLLM's structural_tag.
StatusOr<std::optional<ConstraintSpec>> ParseResponseFormat(const nlohmann::json& value);
// vLLM's guided_json (schema object or its JSON text), guided_regex, guided_choice (strings),
// guided_grammar.
StatusOr<ConstraintSpec> ParseGuidedField(const char* field, const nlohmann::json& value);
// vLLM's structured_outputs {json | regex | choice | grammar | json_object | structural_tag}.
StatusOr<ConstraintSpec> ParseStructuredOutputs(const nlohmann::json& value);
// TGI's parameters.grammar {"type": "json" | "json_object" | "regex" | "json_schema", "value"}.
StatusOr<ConstraintSpec> ParseTgiGrammar(const nlohmann::json& value);

// nlohmann::json, the parsed body, sorts object keys, and a JSON schema generates its properties
// in its own key order: `spec`'s schema is read again from the body's text, keeping the client's
// order (nothing changes when the text does not hold the same schema).
void KeepSchemaKeyOrder(std::string_view body_text, std::optional<ConstraintSpec>* spec);

// `spec` as a structural-tag format object (the "format" member).
nlohmann::ordered_json ConstraintFormat(const ConstraintSpec& spec);
// A structural tag of `format`, from `field`.
ConstraintSpec StructuralTagSpec(nlohmann::ordered_json format, std::string field);
// For models that think first: the constraint applies after the <think> block, which the
// prompt may already have opened (or closed: then `spec` is returned as it is). Up to 4
// whitespace characters may follow </think>, so a model cannot loop there.
ConstraintSpec AfterReasoning(const ConstraintSpec& spec, ReasoningStart start);

}  // namespace mies::server
