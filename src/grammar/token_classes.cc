#include "grammar/token_classes.h"

#include <algorithm>

#include "grammar/parse_stack.h"

namespace mies::grammar {
namespace {

// Outcome of one walk, by token id.
struct WalkResult {
  std::vector<uint8_t> accepted;
  std::vector<int32_t> uncertain;
};

// The state's rule has no calls: a single DFA state per trie node.
void WalkDfa(const Automaton& a, const Vocabulary& v, int32_t state, bool strip, WalkResult* out) {
  const TokenTrie& trie = v.trie();
  const std::vector<int32_t>& order = trie.order();
  const int32_t max_depth = v.max_token_bytes() + 1;
  std::vector<int32_t> st(max_depth + 1, -1);
  std::vector<uint8_t> esc(max_depth + 1, 0), can_escape(max_depth + 1, 0);
  st[0] = state;
  const std::bitset<256>& follow = a.follow[a.rule_of[state]];
  const int32_t strip_node = strip ? trie.RootChild(' ') : -1;
  const int32_t n = trie.num_nodes();
  for (int32_t i = 1; i < n;) {
    const int32_t d = trie.depth(i);
    int32_t t;
    bool e;
    if (i == strip_node) {
      t = state;  // the stripped space reads nothing
      e = false;
      can_escape[d] = 0;
    } else {
      const int32_t p = st[d - 1];
      const uint8_t b = trie.byte(i);
      t = p >= 0 ? a.Next(p, b) : -1;
      e = esc[d - 1] || (can_escape[d - 1] && follow[b]);
      if (t < 0) {
        if (e) {
          out->uncertain.insert(out->uncertain.end(), order.begin() + trie.subtree_begin(i),
                                order.begin() + trie.subtree_end(i));
        }
        i = trie.end(i);
        continue;
      }
      can_escape[d] = a.accepting[t];
    }
    for (int32_t k = trie.here_begin(i); k < trie.here_end(i); ++k) out->accepted[order[k]] = 1;
    st[d] = t;
    esc[d] = e;
    ++i;
  }
}

// General case: sets of stacks above an unknown context.
void WalkStacks(const Automaton& a, const Vocabulary& v, int32_t state, bool strip,
                WalkResult* out) {
  const TokenTrie& trie = v.trie();
  const std::vector<int32_t>& order = trie.order();
  const int32_t max_depth = v.max_token_bytes() + 1;
  FramePool pool;
  StackOps ops(a, pool);
  std::vector<std::vector<Stack>> st(max_depth + 1);
  std::vector<uint8_t> esc(max_depth + 1, 0), can_escape(max_depth + 1, 0);
  st[0] = {Stack{state, kUnknown}};
  const std::bitset<256>& follow = a.follow[a.rule_of[state]];
  const int32_t strip_node = strip ? trie.RootChild(' ') : -1;
  const int32_t n = trie.num_nodes();
  for (int32_t i = 1; i < n;) {
    const int32_t d = trie.depth(i);
    if (i == strip_node) {
      st[d] = st[0];
      esc[d] = 0;
      can_escape[d] = 0;
    } else {
      const uint8_t b = trie.byte(i);
      StepFlags flags;
      ops.Advance(st[d - 1], b, &st[d], &flags);
      const bool e = esc[d - 1] || (can_escape[d - 1] && follow[b]);
      if (st[d].empty()) {
        // No stack reads on; the rule may still end right here (flags.escape): tokens ending
        // here are then accepted, longer ones depend on what follows the rule.
        if (e) {
          out->uncertain.insert(out->uncertain.end(), order.begin() + trie.subtree_begin(i),
                                order.begin() + trie.subtree_end(i));
        } else if (flags.escape) {
          for (int32_t j = i + 1; j < trie.end(i); j = trie.end(j)) {
            if (!follow[trie.byte(j)]) continue;
            out->uncertain.insert(out->uncertain.end(), order.begin() + trie.subtree_begin(j),
                                  order.begin() + trie.subtree_end(j));
          }
        }
        if (flags.escape) {
          for (int32_t k = trie.here_begin(i); k < trie.here_end(i); ++k) {
            out->accepted[order[k]] = 1;
          }
        }
        i = trie.end(i);
        continue;
      }
      esc[d] = e;
      can_escape[d] = flags.escape;
    }
    for (int32_t k = trie.here_begin(i); k < trie.here_end(i); ++k) out->accepted[order[k]] = 1;
    ++i;
  }
}

}  // namespace

void SetBitRange(std::span<uint64_t> mask, int32_t lo, int32_t hi) {
  if (lo >= hi) return;
  const int32_t wlo = lo >> 6, whi = (hi - 1) >> 6;
  const uint64_t first = ~uint64_t{0} << (lo & 63);
  const uint64_t last = ~uint64_t{0} >> (63 - ((hi - 1) & 63));
  if (wlo == whi) {
    mask[wlo] |= first & last;
    return;
  }
  mask[wlo] |= first;
  for (int32_t w = wlo + 1; w < whi; ++w) mask[w] = ~uint64_t{0};
  mask[whi] |= last;
}

void TokenClasses::OrInto(std::span<uint64_t> mask, int32_t vocab_size) const {
  switch (form) {
    case Form::kAllowList:
      for (int32_t id : ids) mask[id >> 6] |= uint64_t{1} << (id & 63);
      break;
    case Form::kDenyList: {
      int32_t from = 0;
      for (int32_t id : ids) {
        SetBitRange(mask, from, id);
        from = id + 1;
      }
      SetBitRange(mask, from, vocab_size);
      break;
    }
    case Form::kBitset:
      for (size_t w = 0; w < bits.size(); ++w) mask[w] |= bits[w];
      break;
  }
}

bool TokenClasses::Accepts(int32_t id) const {
  switch (form) {
    case Form::kAllowList:
      return std::binary_search(ids.begin(), ids.end(), id);
    case Form::kDenyList:
      return !std::binary_search(ids.begin(), ids.end(), id);
    case Form::kBitset:
      return (bits[id >> 6] >> (id & 63)) & 1;
  }
  return false;
}

size_t TokenClasses::MemoryBytes() const {
  return sizeof(*this) + ids.capacity() * 4 + bits.capacity() * 8 + uncertain.capacity() * 4;
}

TokenClasses ClassifyTokens(const Automaton& a, const Vocabulary& v, int32_t state,
                            bool strip_space) {
  const int32_t n = v.size();
  WalkResult walk;
  walk.accepted.assign(n, 0);
  if (a.rule_has_calls[a.rule_of[state]]) {
    WalkStacks(a, v, state, strip_space, &walk);
  } else {
    WalkDfa(a, v, state, strip_space, &walk);
  }
  TokenClasses c;
  int32_t accepted = 0;
  for (uint8_t x : walk.accepted) accepted += x;
  c.num_accepted = accepted;
  if (accepted <= n / 16) {
    c.form = TokenClasses::Form::kAllowList;
    c.ids.reserve(accepted);
    for (int32_t id = 0; id < n; ++id) {
      if (walk.accepted[id]) c.ids.push_back(id);
    }
  } else if (n - accepted <= n / 16) {
    c.form = TokenClasses::Form::kDenyList;
    c.ids.reserve(n - accepted);
    for (int32_t id = 0; id < n; ++id) {
      if (!walk.accepted[id]) c.ids.push_back(id);
    }
  } else {
    c.form = TokenClasses::Form::kBitset;
    c.bits.assign((n + 63) / 64, 0);
    for (int32_t id = 0; id < n; ++id) {
      if (walk.accepted[id]) c.bits[id >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  // A token both accepted in the rule and uncertain is simply accepted.
  std::erase_if(walk.uncertain, [&](int32_t id) { return walk.accepted[id] != 0; });
  c.uncertain = std::move(walk.uncertain);
  return c;
}

}  // namespace mies::grammar
