// A grammar compiled for one vocabulary: its automaton plus the per-state token classes (the
// mask cache), filled on first use. Immutable apart from that cache, which is lock-free to read
// and safe to fill from several threads, so one compiled grammar serves every request and
// sequence that uses the same source text.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/token_classes.h"
#include "grammar/vocabulary.h"

namespace mies::grammar {

class CompiledGrammar {
 public:
  // `kind` names the source for messages ("json_schema", "regex", ...).
  CompiledGrammar(Automaton automaton, std::shared_ptr<const Vocabulary> vocabulary,
                  std::string kind);
  ~CompiledGrammar();
  CompiledGrammar(const CompiledGrammar&) = delete;
  CompiledGrammar& operator=(const CompiledGrammar&) = delete;

  const Vocabulary& vocabulary() const { return *vocabulary_; }
  const std::shared_ptr<const Vocabulary>& shared_vocabulary() const { return vocabulary_; }
  const Automaton& automaton() const { return automaton_; }
  const std::string& kind() const { return kind_; }
  int32_t num_states() const { return automaton_.num_states(); }

  // Token classes of `state` (a state that reads bytes); computed once.
  const TokenClasses& Classes(int32_t state, bool strip_space) const;
  // Computes the classes of every state now (a server may do this off the request path).
  void PrecomputeAll() const;
  // Cache figures: states whose classes exist, and their memory.
  int64_t num_cached() const { return num_cached_.load(std::memory_order_relaxed); }
  int64_t cached_bytes() const { return cached_bytes_.load(std::memory_order_relaxed); }

 private:
  const Automaton automaton_;
  const std::shared_ptr<const Vocabulary> vocabulary_;
  const std::string kind_;
  mutable std::vector<std::atomic<const TokenClasses*>> cache_[2];  // [strip_space]
  mutable std::atomic<int64_t> num_cached_{0};
  mutable std::atomic<int64_t> cached_bytes_{0};
};

}  // namespace mies::grammar
