#include "server/grammar_constraints.h"

#include <nlohmann/json.hpp>

#include "server/structural_tag_grammar.h"

namespace mies::server {

using Kind = ConstraintSpec::Kind;

GrammarConstraintCompiler::GrammarConstraintCompiler(grammar::VocabularyPtr vocabulary,
                                                     size_t capacity)
    : cache_(std::move(vocabulary), capacity), capacity_(std::max<size_t>(capacity, 1)) {}

StatusOr<std::unique_ptr<GrammarConstraintCompiler>> GrammarConstraintCompiler::ForTokenizer(
    const std::shared_ptr<const tokenizer::Tokenizer>& tokenizer) {
  MIES_ASSIGN_OR_RETURN(auto vocabulary, grammar::SharedVocabulary(tokenizer));
  return std::make_unique<GrammarConstraintCompiler>(std::move(vocabulary));
}

StatusOr<grammar::GrammarPtr> GrammarConstraintCompiler::Compile(const ConstraintSpec& spec) {
  switch (spec.kind) {
    case Kind::kJsonSchema:
      return cache_.Get(grammar::GrammarKind::kJsonSchema, spec.source);
    case Kind::kJsonObject:
      return cache_.Get(grammar::GrammarKind::kJsonObject, "");
    case Kind::kRegex:
      return cache_.Get(grammar::GrammarKind::kRegex, spec.source);
    case Kind::kChoice:
      return cache_.Get(grammar::GrammarKind::kChoice, spec.source);
    case Kind::kGrammar:
      return cache_.Get(grammar::GrammarKind::kGrammarText, spec.source);
    case Kind::kStructuralTag:
      return CompileStructuralTag(spec.source);
  }
  return InvalidArgument("unknown constraint kind");
}

StatusOr<grammar::GrammarPtr> GrammarConstraintCompiler::CompileStructuralTag(
    const std::string& source) {
  {
    std::lock_guard lock(mu_);
    if (auto it = tag_index_.find(source); it != tag_index_.end()) {
      tags_.splice(tags_.begin(), tags_, it->second);
      return it->second->second;
    }
  }
  // vLLM's older {"structures", "triggers"} form as the triggered_tags format it means.
  const nlohmann::ordered_json format =
      ConstraintFormat({ConstraintSpec::Kind::kStructuralTag, source, ""});
  MIES_ASSIGN_OR_RETURN(grammar::Grammar g, StructuralTagToGrammar(format));
  MIES_ASSIGN_OR_RETURN(grammar::GrammarPtr compiled,
                        grammar::CompileGrammar(g, cache_.vocabulary(), "structural_tag"));
  std::lock_guard lock(mu_);
  if (auto it = tag_index_.find(source); it != tag_index_.end()) return it->second->second;
  tags_.emplace_front(source, compiled);
  tag_index_.emplace(source, tags_.begin());
  while (tags_.size() > capacity_) {
    tag_index_.erase(tags_.back().first);
    tags_.pop_back();
  }
  return compiled;
}

Status GrammarConstraintCompiler::Attach(const ConstraintSpec& spec,
                                         engine::GenerateRequest* request) {
  MIES_ASSIGN_OR_RETURN(request->constraint, Compile(spec));
  return OkStatus();
}

}  // namespace mies::server
