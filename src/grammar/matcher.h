// The per-sequence side of constrained decoding: where one sequence stands in a compiled
// grammar. Before a step, FillNextTokenBitmask() says which tokens may come next; after the step,
// Accept() advances by the chosen one. Copyable (n / best_of sequences fork it); survives
// preemption because it lives with the sequence, not with its KV blocks.
//
// End tokens (EOS, stop ids) are allowed exactly when the text so far is a complete sentence of
// the grammar; when nothing else can follow (IsTerminated), they are the only tokens allowed.
//
// Mask cost per step: for each parse stack (usually one), OR in the cached token classes of its
// top state, then check that state's few "uncertain" tokens (those that leave its rule) against
// the real stack.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "grammar/compiled_grammar.h"
#include "grammar/parse_stack.h"

namespace mies::grammar {

class Matcher {
 public:
  Matcher(std::shared_ptr<const CompiledGrammar> grammar, std::vector<int32_t> end_tokens);

  // 64-bit words of a bitmask for `num_tokens` ids.
  static size_t BitmaskWords(int64_t num_tokens) {
    return static_cast<size_t>(num_tokens + 63) / 64;
  }
  static bool IsSet(std::span<const uint64_t> bitmask, int64_t id) {
    return (bitmask[id >> 6] >> (id & 63)) & 1;
  }

  // Writes the allowed next tokens into `bitmask` (bit id % 64 of word id / 64; ids beyond the
  // vocabulary are cleared) and returns how many there are. Zero means a dead end, which a
  // correct grammar only reaches when the vocabulary cannot spell what it needs.
  int64_t FillNextTokenBitmask(std::span<uint64_t> bitmask);

  // Advances by `token`; an error (naming the token) leaves the state as it was.
  Status Accept(int32_t token);

  // The text so far is a complete sentence of the grammar.
  bool IsComplete() const { return complete_; }
  // Nothing but an end token can follow (or one was accepted).
  bool IsTerminated() const { return ended_ || (complete_ && stacks_.empty()); }
  // An end token was accepted.
  bool ended() const { return ended_; }
  int64_t num_accepted_tokens() const { return num_tokens_; }
  const CompiledGrammar& grammar() const { return *grammar_; }

 private:
  bool IsEndToken(int32_t token) const;
  void CompactFrames();

  std::shared_ptr<const CompiledGrammar> grammar_;
  std::vector<int32_t> end_tokens_;
  FramePool pool_;
  std::vector<Stack> stacks_;
  bool complete_ = false;
  bool ended_ = false;
  bool at_start_ = true;  // nothing read yet: a leading space may be stripped
  int64_t num_tokens_ = 0;
  static constexpr int32_t kCompactFrames = 1 << 16;
  int32_t compact_at_ = kCompactFrames;  // pool size that triggers CompactFrames
  std::vector<uint64_t> bits_;
  std::vector<Stack> cur_, nxt_;
};

}  // namespace mies::grammar
