// Constrained decoding: compile a constraint (JSON Schema, any JSON object, regex, choice, GBNF
// text) for a tokenizer's vocabulary, once; then every sequence that uses it runs a Matcher
// (matcher.h) that masks the logits before each sample and advances after it.
//
//   auto vocab = grammar::SharedVocabulary(tokenizer);            // once per tokenizer
//   grammar::GrammarCache cache(*vocab);                           // per server
//   auto g = cache.Get(grammar::GrammarKind::kJsonSchema, text);   // error -> HTTP 400
//   request.constraint = *g;                                       // engine does the rest
//
// Compile errors (InvalidArgument) name the unsupported keyword, construct or rule.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "grammar/compiled_grammar.h"
#include "grammar/json_schema.h"
#include "grammar/vocabulary.h"

namespace mies::grammar {

using GrammarPtr = std::shared_ptr<const CompiledGrammar>;
using VocabularyPtr = std::shared_ptr<const Vocabulary>;

// JSON Schema (json_schema.h lists what is supported). The nlohmann::json overload generates
// object properties in alphabetical order (that type sorts keys); the others keep the order.
StatusOr<GrammarPtr> CompileJsonSchema(const nlohmann::json& schema, VocabularyPtr vocabulary,
                                       const JsonSchemaOptions& options = {});
StatusOr<GrammarPtr> CompileJsonSchema(const nlohmann::ordered_json& schema,
                                       VocabularyPtr vocabulary,
                                       const JsonSchemaOptions& options = {});
StatusOr<GrammarPtr> CompileJsonSchemaText(std::string_view schema_json, VocabularyPtr vocabulary,
                                           const JsonSchemaOptions& options = {});
// Any JSON object (response_format {"type": "json_object"}).
StatusOr<GrammarPtr> CompileJsonObject(VocabularyPtr vocabulary,
                                       const JsonSchemaOptions& options = {});
// The whole text matches `pattern` (regex_parser.h lists the syntax).
StatusOr<GrammarPtr> CompileRegex(std::string_view pattern, VocabularyPtr vocabulary);
// The text is exactly one of `choices` (non-empty list).
StatusOr<GrammarPtr> CompileChoice(const std::vector<std::string>& choices,
                                   VocabularyPtr vocabulary);
// GBNF text (gbnf_parser.h), starting at rule `root`.
StatusOr<GrammarPtr> CompileGrammarText(std::string_view gbnf, VocabularyPtr vocabulary);
// Grammar IR from any front end.
StatusOr<GrammarPtr> CompileGrammar(const Grammar& grammar, VocabularyPtr vocabulary,
                                    std::string kind);

enum class GrammarKind { kJsonSchema, kJsonObject, kRegex, kChoice, kGrammarText };
const char* GrammarKindName(GrammarKind kind);  // "json_schema", "json_object", ...

// Compiled grammars by (kind, source text), least recently used dropped past `capacity`.
// Thread-safe; a grammar in use stays alive after eviction (shared_ptr). Failed compiles are not
// cached.
class GrammarCache {
 public:
  explicit GrammarCache(VocabularyPtr vocabulary, size_t capacity = 128);

  // `source`: the JSON Schema text, the regex, the choices as a JSON array of strings, the GBNF
  // text; ignored for kJsonObject.
  StatusOr<GrammarPtr> Get(GrammarKind kind, std::string_view source);
  StatusOr<GrammarPtr> GetChoice(const std::vector<std::string>& choices);

  const VocabularyPtr& vocabulary() const { return vocabulary_; }
  size_t size() const;
  int64_t hits() const;
  int64_t misses() const;

 private:
  using Key = std::pair<int, std::string>;
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<std::string>()(k.second) * 31 + static_cast<size_t>(k.first);
    }
  };

  const VocabularyPtr vocabulary_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<Key, GrammarPtr>> lru_;  // most recent first
  std::unordered_map<Key, std::list<std::pair<Key, GrammarPtr>>::iterator, KeyHash> index_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace mies::grammar
