#include "grammar/matcher.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "absl/strings/escaping.h"

namespace mies::grammar {
Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar, std::vector<int32_t> end_tokens)
    : grammar_(std::move(grammar)), end_tokens_(std::move(end_tokens)) {
  std::sort(end_tokens_.begin(), end_tokens_.end());
  end_tokens_.erase(std::unique(end_tokens_.begin(), end_tokens_.end()), end_tokens_.end());
  const Automaton& a = grammar_->automaton();
  StackOps ops(a, pool_);
  StepFlags flags;
  ops.Closure({a.rule_start[a.root], kTextStart}, &stacks_, &flags);
  complete_ = flags.complete;
}

bool Matcher::IsEndToken(int32_t token) const {
  return std::binary_search(end_tokens_.begin(), end_tokens_.end(), token);
}

int64_t Matcher::FillNextTokenBitmask(std::span<uint64_t> bitmask) {
  std::fill(bitmask.begin(), bitmask.end(), 0);
  if (ended_) return 0;
  const Vocabulary& vocab = grammar_->vocabulary();
  const int32_t n = vocab.size();
  bits_.assign(std::max(BitmaskWords(n), bitmask.size()), 0);
  const bool strip = at_start_ && vocab.strips_leading_space();
  StackOps ops(grammar_->automaton(), pool_);
  const int32_t checkpoint = pool_.Checkpoint();
  for (const Stack& s : stacks_) {
    const TokenClasses& classes = grammar_->Classes(s.state, strip);
    classes.OrInto(bits_, n);
    for (int32_t id : classes.uncertain) {
      if (IsSet(bits_, id)) continue;
      std::string_view bytes = vocab.TokenBytes(id);
      if (strip && bytes.front() == ' ') bytes.remove_prefix(1);
      if (ops.Accepts(s, bytes)) bits_[id >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  pool_.Rollback(checkpoint);
  const int64_t limit = static_cast<int64_t>(bitmask.size()) * 64;
  for (int32_t id : end_tokens_) {
    if (id < 0 || id >= limit) continue;
    if (complete_) {
      bits_[id >> 6] |= uint64_t{1} << (id & 63);
    } else {
      bits_[id >> 6] &= ~(uint64_t{1} << (id & 63));
    }
  }
  int64_t count = 0;
  for (size_t w = 0; w < bitmask.size(); ++w) {
    bitmask[w] = bits_[w];
    count += std::popcount(bits_[w]);
  }
  return count;
}

Status Matcher::Accept(int32_t token) {
  if (ended_) return FailedPrecondition("grammar: token ", token, " after the end of the text");
  if (IsEndToken(token)) {
    if (!complete_) {
      return InvalidArgument("grammar: end token ", token, " after ", num_tokens_,
                             " tokens, before the text is complete");
    }
    ended_ = true;
    ++num_tokens_;
    return OkStatus();
  }
  const Vocabulary& vocab = grammar_->vocabulary();
  std::string_view bytes = vocab.TokenBytes(token);
  if (bytes.empty()) {
    return InvalidArgument("grammar: token ", token,
                           " has no text a grammar accepts (special or unknown)");
  }
  if (at_start_ && vocab.strips_leading_space() && bytes.front() == ' ') bytes.remove_prefix(1);
  StackOps ops(grammar_->automaton(), pool_);
  cur_ = stacks_;
  bool complete = complete_;
  for (size_t i = 0; i < bytes.size(); ++i) {
    StepFlags flags;
    ops.Advance(cur_, static_cast<uint8_t>(bytes[i]), &nxt_, &flags);
    complete = flags.complete;
    if (nxt_.empty() && !(complete && i + 1 == bytes.size())) {
      return InvalidArgument("grammar: token ", token, " (\"",
                             absl::CHexEscape(std::string(vocab.TokenBytes(token))),
                             "\") is not allowed after ", num_tokens_, " tokens");
    }
    cur_.swap(nxt_);
  }
  stacks_.swap(cur_);
  complete_ = complete;
  at_start_ = false;
  ++num_tokens_;
  if (pool_.size() > compact_at_) CompactFrames();
  return OkStatus();
}

// Copies the frames the current stacks use into a fresh pool (the old one keeps every frame
// ever pushed, scratch checks aside).
void Matcher::CompactFrames() {
  FramePool fresh;
  std::unordered_map<int32_t, int32_t> map;
  std::vector<int32_t> chain;
  for (Stack& s : stacks_) {
    chain.clear();
    for (int32_t id = s.frame; id >= 0 && !map.contains(id); id = pool_.at(id).parent) {
      chain.push_back(id);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const FramePool::Frame f = pool_.at(*it);
      const int32_t parent = f.parent < 0 ? f.parent : map.at(f.parent);
      map.emplace(*it, fresh.Push(f.ret, parent));
    }
    if (s.frame >= 0) s.frame = map.at(s.frame);
  }
  pool_ = std::move(fresh);
  compact_at_ = std::max(kCompactFrames, 2 * pool_.size());
}

}  // namespace mies::grammar
