#include "grammar/grammar.h"

#include "common/json_depth.h"
#include "grammar/gbnf_parser.h"
#include "grammar/regex_parser.h"

namespace mies::grammar {

StatusOr<GrammarPtr> CompileGrammar(const Grammar& grammar, VocabularyPtr vocabulary,
                                    std::string kind) {
  if (!vocabulary) return InvalidArgument("grammar: no vocabulary");
  MIES_ASSIGN_OR_RETURN(Automaton automaton, BuildAutomaton(grammar));
  return std::make_shared<const CompiledGrammar>(std::move(automaton), std::move(vocabulary),
                                                 std::move(kind));
}

StatusOr<GrammarPtr> CompileJsonSchema(const nlohmann::ordered_json& schema,
                                       VocabularyPtr vocabulary, const JsonSchemaOptions& options) {
  MIES_ASSIGN_OR_RETURN(Grammar g, JsonSchemaToGrammar(schema, options));
  return CompileGrammar(g, std::move(vocabulary), "json_schema");
}

StatusOr<GrammarPtr> CompileJsonSchema(const nlohmann::json& schema, VocabularyPtr vocabulary,
                                       const JsonSchemaOptions& options) {
  return CompileJsonSchema(nlohmann::ordered_json(schema), std::move(vocabulary), options);
}

StatusOr<GrammarPtr> CompileJsonSchemaText(std::string_view schema_json, VocabularyPtr vocabulary,
                                           const JsonSchemaOptions& options) {
  if (JsonTextDepth(schema_json) > kMaxJsonFileDepth) {
    return InvalidArgument("JSON schema: nested deeper than ", kMaxJsonFileDepth, " levels");
  }
  nlohmann::ordered_json schema =
      nlohmann::ordered_json::parse(schema_json, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return InvalidArgument("JSON schema: not valid JSON");
  return CompileJsonSchema(schema, std::move(vocabulary), options);
}

StatusOr<GrammarPtr> CompileJsonObject(VocabularyPtr vocabulary, const JsonSchemaOptions& options) {
  return CompileGrammar(JsonObjectGrammar(options), std::move(vocabulary), "json_object");
}

StatusOr<GrammarPtr> CompileRegex(std::string_view pattern, VocabularyPtr vocabulary) {
  MIES_ASSIGN_OR_RETURN(ParsedRegex re, ParseRegex(pattern));
  Grammar g;
  g.AddRule("root", re.FullMatch());
  return CompileGrammar(g, std::move(vocabulary), "regex");
}

StatusOr<GrammarPtr> CompileChoice(const std::vector<std::string>& choices,
                                   VocabularyPtr vocabulary) {
  if (choices.empty()) return InvalidArgument("choice: the list of choices is empty");
  std::vector<ExprPtr> alts;
  for (const std::string& c : choices) alts.push_back(Lit(c));
  Grammar g;
  g.AddRule("root", Alt(std::move(alts)));
  return CompileGrammar(g, std::move(vocabulary), "choice");
}

StatusOr<GrammarPtr> CompileGrammarText(std::string_view gbnf, VocabularyPtr vocabulary) {
  MIES_ASSIGN_OR_RETURN(Grammar g, ParseGbnf(gbnf));
  return CompileGrammar(g, std::move(vocabulary), "grammar");
}

const char* GrammarKindName(GrammarKind kind) {
  switch (kind) {
    case GrammarKind::kJsonSchema:
      return "json_schema";
    case GrammarKind::kJsonObject:
      return "json_object";
    case GrammarKind::kRegex:
      return "regex";
    case GrammarKind::kChoice:
      return "choice";
    case GrammarKind::kGrammarText:
      return "grammar";
  }
  return "?";
}

}  // namespace mies::grammar
