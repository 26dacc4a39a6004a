#include "grammar/grammar.h"

namespace mies::grammar {

GrammarCache::GrammarCache(VocabularyPtr vocabulary, size_t capacity)
    : vocabulary_(std::move(vocabulary)), capacity_(std::max<size_t>(capacity, 1)) {}

StatusOr<GrammarPtr> GrammarCache::Get(GrammarKind kind, std::string_view source) {
  Key key{static_cast<int>(kind), kind == GrammarKind::kJsonObject ? "" : std::string(source)};
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return it->second->second;
    }
    ++misses_;
  }
  // Compile outside the lock: another thread may compile the same key meanwhile (then the
  // first insert wins; both results are equivalent).
  StatusOr<GrammarPtr> compiled;
  switch (kind) {
    case GrammarKind::kJsonSchema:
      compiled = CompileJsonSchemaText(source, vocabulary_);
      break;
    case GrammarKind::kJsonObject:
      compiled = CompileJsonObject(vocabulary_);
      break;
    case GrammarKind::kRegex:
      compiled = CompileRegex(source, vocabulary_);
      break;
    case GrammarKind::kChoice: {
      nlohmann::json list = nlohmann::json::parse(source, nullptr, /*allow_exceptions=*/false);
      std::vector<std::string> choices;
      bool ok = list.is_array();
      for (const auto& c : list) {
        ok = ok && c.is_string();
        if (ok) choices.push_back(c.get<std::string>());
      }
      if (!ok) return InvalidArgument("choice: expected a JSON array of strings");
      compiled = CompileChoice(choices, vocabulary_);
      break;
    }
    case GrammarKind::kGrammarText:
      compiled = CompileGrammarText(source, vocabulary_);
      break;
  }
  if (!compiled.ok()) return compiled.status();
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it != index_.end()) return it->second->second;
  lru_.emplace_front(key, *compiled);
  index_.emplace(std::move(key), lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return *compiled;
}

StatusOr<GrammarPtr> GrammarCache::GetChoice(const std::vector<std::string>& choices) {
  return Get(GrammarKind::kChoice, nlohmann::json(choices).dump());
}

size_t GrammarCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}
int64_t GrammarCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}
int64_t GrammarCache::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

}  // namespace mies::grammar
