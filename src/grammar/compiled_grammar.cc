#include "grammar/compiled_grammar.h"

namespace mies::grammar {

CompiledGrammar::CompiledGrammar(Automaton automaton, std::shared_ptr<const Vocabulary> vocabulary,
                                 std::string kind)
    : automaton_(std::move(automaton)), vocabulary_(std::move(vocabulary)), kind_(std::move(kind)) {
  for (auto& c : cache_) {
    c = std::vector<std::atomic<const TokenClasses*>>(automaton_.num_states());
    for (auto& slot : c) slot.store(nullptr, std::memory_order_relaxed);
  }
}

CompiledGrammar::~CompiledGrammar() {
  for (auto& c : cache_) {
    for (auto& slot : c) delete slot.load(std::memory_order_relaxed);
  }
}

const TokenClasses& CompiledGrammar::Classes(int32_t state, bool strip_space) const {
  std::atomic<const TokenClasses*>& slot = cache_[strip_space ? 1 : 0][state];
  const TokenClasses* have = slot.load(std::memory_order_acquire);
  if (have != nullptr) return *have;
  auto made =
      std::make_unique<TokenClasses>(ClassifyTokens(automaton_, *vocabulary_, state, strip_space));
  const size_t bytes = made->MemoryBytes();
  if (slot.compare_exchange_strong(have, made.get(), std::memory_order_acq_rel)) {
    num_cached_.fetch_add(1, std::memory_order_relaxed);
    cached_bytes_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
    return *made.release();
  }
  return *have;  // another thread was first
}

void CompiledGrammar::PrecomputeAll() const {
  for (int32_t s = 0; s < automaton_.num_states(); ++s) {
    if (automaton_.has_bytes[s]) Classes(s, false);
  }
}

}  // namespace mies::grammar
