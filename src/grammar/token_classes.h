// The mask cache's unit: for one automaton state, which tokens the state's own rule accepts
// whatever the stack below it holds, and which tokens leave the rule mid-way and so depend on
// that stack (xgrammar's context-independent / context-dependent split).
//
// One walk over the token trie from the state decides every token: a subtree whose prefix the
// rule rejects is skipped whole. A token that makes the rule end and continues is "uncertain"
// only when its next byte is in FOLLOW(rule); the matcher checks those against its real stack.
// In a JSON string state the rule accepts ~all tokens, so the result is stored as the short
// list of tokens it does not accept; in a structural state, as the short list it does.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "grammar/automaton.h"
#include "grammar/vocabulary.h"

namespace mies::grammar {

struct TokenClasses {
  enum class Form : uint8_t { kAllowList, kDenyList, kBitset };
  Form form = Form::kAllowList;
  std::vector<int32_t> ids;        // sorted: accepted (allow list) or not accepted (deny list)
  std::vector<uint64_t> bits;      // kBitset: accepted
  std::vector<int32_t> uncertain;  // leave the rule: decided by the matcher's stack
  int32_t num_accepted = 0;

  // Sets the bits of the accepted tokens (ids < vocab_size) in `mask`.
  void OrInto(std::span<uint64_t> mask, int32_t vocab_size) const;
  bool Accepts(int32_t id) const;
  size_t MemoryBytes() const;
};

// `strip_space`: the text's first space is dropped (Vocabulary::strips_leading_space at the
// start of an answer): a token starting with a space is read from its second byte.
TokenClasses ClassifyTokens(const Automaton& a, const Vocabulary& v, int32_t state,
                            bool strip_space);

// Sets bits [lo, hi) of `mask`.
void SetBitRange(std::span<uint64_t> mask, int32_t lo, int32_t hi);

}  // namespace mies::grammar
