// The ConstraintCompiler over the grammar engine (src/grammar): JSON schemas, any JSON object,
// regexes, choices and GBNF text through a GrammarCache, structural tags (tool_choice, thinking
// models, vLLM's structural_tag) through StructuralTagToGrammar, each compiled once per source
// text for the served tokenizer's vocabulary.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "grammar/grammar.h"
#include "server/constraint_spec.h"

namespace mies::tokenizer {
class Tokenizer;
}  // namespace mies::tokenizer

namespace mies::server {

class GrammarConstraintCompiler : public ConstraintCompiler {
 public:
  explicit GrammarConstraintCompiler(grammar::VocabularyPtr vocabulary, size_t capacity = 128);
  // The served tokenizer's vocabulary (built once; an error names the tokenizer's problem).
  static StatusOr<std::unique_ptr<GrammarConstraintCompiler>> ForTokenizer(
      const std::shared_ptr<const tokenizer::Tokenizer>& tokenizer);

  Status Attach(const ConstraintSpec& spec, engine::GenerateRequest* request) override;
  // The compiled grammar of `spec` (cached by its kind and source).
  StatusOr<grammar::GrammarPtr> Compile(const ConstraintSpec& spec);

 private:
  StatusOr<grammar::GrammarPtr> CompileStructuralTag(const std::string& source);

  grammar::GrammarCache cache_;
  const size_t capacity_;
  // Structural tags, least recently used last.
  std::mutex mu_;
  std::list<std::pair<std::string, grammar::GrammarPtr>> tags_;
  std::unordered_map<std::string, std::list<std::pair<std::string, grammar::GrammarPtr>>::iterator>
      tag_index_;
};

}  // namespace mies::server
