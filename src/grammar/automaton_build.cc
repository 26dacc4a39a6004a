// Grammar -> Thompson NFA per rule -> DFA per rule (subset construction over byte classes).
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "grammar/automaton.h"
#include "grammar/utf8_ranges.h"

namespace mies::grammar {
namespace {

struct ByteEdge {
  uint8_t lo, hi;
  int32_t to;
};
struct CallEdge {
  int32_t rule;
  int32_t to;
};
struct NfaState {
  std::vector<int32_t> eps;
  std::vector<ByteEdge> bytes;
  std::vector<CallEdge> calls;
};

class NfaBuilder {
 public:
  explicit NfaBuilder(std::vector<NfaState>* states) : s_(*states) {}

  int32_t NewState() {
    if (static_cast<int64_t>(s_.size()) >= kMaxNfaStates) {
      too_big_ = true;
      return 0;
    }
    s_.emplace_back();
    return static_cast<int32_t>(s_.size()) - 1;
  }
  bool too_big() const { return too_big_; }

  // Adds `e` starting at `from`; returns the state where it ends.
  int32_t Build(const Expr& e, int32_t from) {
    if (too_big_) return from;
    switch (e.kind) {
      case Expr::Kind::kEmpty:
        return from;
      case Expr::Kind::kLiteral: {
        int32_t cur = from;
        for (unsigned char c : e.literal) {
          const int32_t to = NewState();
          if (too_big_) return from;
          s_[cur].bytes.push_back({c, c, to});
          cur = to;
        }
        return cur;
      }
      case Expr::Kind::kChars: {
        const int32_t end = NewState();
        for (const auto& [lo, hi] : e.ranges) {
          for (const Utf8Sequence& seq : Utf8Sequences(lo, hi)) {
            int32_t cur = from;
            for (size_t i = 0; i < seq.size(); ++i) {
              const int32_t to = i + 1 == seq.size() ? end : NewState();
              if (too_big_) return from;
              s_[cur].bytes.push_back({seq[i].lo, seq[i].hi, to});
              cur = to;
            }
          }
        }
        return end;
      }
      case Expr::Kind::kRef: {
        const int32_t to = NewState();
        if (too_big_) return from;
        s_[from].calls.push_back({e.rule, to});
        return to;
      }
      case Expr::Kind::kSeq: {
        int32_t cur = from;
        for (const ExprPtr& item : e.items) cur = Build(*item, cur);
        return cur;
      }
      case Expr::Kind::kAlt: {
        const int32_t end = NewState();
        for (const ExprPtr& item : e.items) {
          const int32_t start = NewState();
          if (too_big_) return from;
          s_[from].eps.push_back(start);
          const int32_t item_end = Build(*item, start);
          if (too_big_) return from;
          s_[item_end].eps.push_back(end);
        }
        return end;
      }
      case Expr::Kind::kRepeat: {
        const Expr& item = *e.items[0];
        int32_t cur = from;
        for (int i = 0; i < e.min; ++i) {
          // A fresh state per copy keeps the copies' loops apart.
          const int32_t start = NewState();
          if (too_big_) return from;
          s_[cur].eps.push_back(start);
          cur = Build(item, start);
          if (too_big_) return from;
        }
        if (e.max == kUnbounded) {
          const int32_t loop = NewState();
          if (too_big_) return from;
          s_[cur].eps.push_back(loop);
          const int32_t body_start = NewState();
          if (too_big_) return from;
          s_[loop].eps.push_back(body_start);
          const int32_t body_end = Build(item, body_start);
          if (too_big_) return from;
          s_[body_end].eps.push_back(loop);
          return loop;
        }
        const int32_t end = NewState();
        for (int i = e.min; i < e.max; ++i) {
          if (too_big_) return from;
          s_[cur].eps.push_back(end);
          const int32_t start = NewState();
          if (too_big_) return from;
          s_[cur].eps.push_back(start);
          cur = Build(item, start);
        }
        if (too_big_) return from;
        s_[cur].eps.push_back(end);
        return end;
      }
    }
    return from;
  }

 private:
  std::vector<NfaState>& s_;
  bool too_big_ = false;
};

}  // namespace

StatusOr<Automaton> BuildAutomaton(const Grammar& input) {
  const Grammar g = InlineRules(input);
  const int num_rules = static_cast<int>(g.rules.size());
  for (int r = 0; r < num_rules; ++r) {
    if (!g.rules[r]) return InvalidArgument("grammar rule '", g.names[r], "' is not defined");
  }

  // NFAs of all rules in one state vector; rule r runs from nfa_start[r] to nfa_end[r].
  std::vector<NfaState> nfa;
  nfa.reserve(1024);
  NfaBuilder builder(&nfa);
  std::vector<int32_t> nfa_start(num_rules), nfa_end(num_rules);
  for (int r = 0; r < num_rules; ++r) {
    nfa_start[r] = builder.NewState();
    nfa_end[r] = builder.Build(*g.rules[r], nfa_start[r]);
    if (builder.too_big()) {
      return InvalidArgument("grammar too large: more than ", kMaxNfaStates,
                             " NFA states (in rule '", g.names[r],
                             "'; large maxLength/maxItems or regex counts multiply states)");
    }
  }

  Automaton a;
  // Byte classes: bytes no edge tells apart.
  std::bitset<257> cut;
  cut[0] = cut[256] = true;
  for (const NfaState& st : nfa) {
    for (const ByteEdge& e : st.bytes) {
      cut[e.lo] = true;
      cut[e.hi + 1] = true;
    }
  }
  std::vector<uint8_t> class_lo;  // first byte of each class
  for (int b = 0; b < 256; ++b) {
    if (cut[b]) class_lo.push_back(static_cast<uint8_t>(b));
    a.byte_class[b] = static_cast<uint8_t>(class_lo.size() - 1);
  }
  a.num_classes = static_cast<int>(class_lo.size());
  const int num_classes = a.num_classes;

  // Important NFA states: those with an edge, and rule ends (acceptance).
  std::vector<uint8_t> is_end(nfa.size(), 0);
  for (int r = 0; r < num_rules; ++r) is_end[nfa_end[r]] = 1;
  std::vector<int32_t> mark(nfa.size(), -1);
  int32_t mark_gen = 0;
  std::vector<int32_t> work;
  auto closure = [&](std::vector<int32_t>& seeds) {
    ++mark_gen;
    work.clear();
    std::vector<int32_t> out;
    for (int32_t s : seeds) {
      if (mark[s] != mark_gen) {
        mark[s] = mark_gen;
        work.push_back(s);
      }
    }
    while (!work.empty()) {
      const int32_t s = work.back();
      work.pop_back();
      const NfaState& st = nfa[s];
      if (!st.bytes.empty() || !st.calls.empty() || is_end[s]) out.push_back(s);
      for (int32_t t : st.eps) {
        if (mark[t] != mark_gen) {
          mark[t] = mark_gen;
          work.push_back(t);
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };

  absl::flat_hash_map<std::vector<int32_t>, int32_t> ids;
  std::vector<std::vector<int32_t>> sets;
  std::vector<std::vector<Automaton::Call>> state_calls;
  bool too_big = false;
  auto intern = [&](std::vector<int32_t> set, int32_t rule) -> int32_t {
    if (set.empty()) return -1;
    auto it = ids.find(set);
    if (it != ids.end()) return it->second;
    if (static_cast<int64_t>(sets.size()) >= kMaxDfaStates) {
      too_big = true;
      return -1;
    }
    const int32_t id = static_cast<int32_t>(sets.size());
    ids.emplace(set, id);
    sets.push_back(std::move(set));
    a.rule_of.push_back(rule);
    return id;
  };

  a.rule_start.resize(num_rules);
  for (int r = 0; r < num_rules; ++r) {
    // Sets of different rules never coincide: their NFA states are disjoint.
    std::vector<int32_t> seed{nfa_start[r]};
    a.rule_start[r] = intern(closure(seed), r);
  }
  std::vector<std::vector<int32_t>> targets(num_classes);
  for (size_t d = 0; d < sets.size() && !too_big; ++d) {
    const std::vector<int32_t> set = sets[d];  // copy: `sets` grows below
    const int32_t rule = a.rule_of[d];
    for (auto& t : targets) t.clear();
    absl::flat_hash_map<int32_t, std::vector<int32_t>> call_targets;
    bool accepting = false;
    for (int32_t s : set) {
      if (s == nfa_end[rule]) accepting = true;
      for (const ByteEdge& e : nfa[s].bytes) {
        for (int c = a.byte_class[e.lo]; c <= a.byte_class[e.hi]; ++c) targets[c].push_back(e.to);
      }
      for (const CallEdge& e : nfa[s].calls) call_targets[e.rule].push_back(e.to);
    }
    a.accepting.push_back(accepting ? 1 : 0);
    a.next.resize((d + 1) * num_classes, -1);
    bool has_bytes = false;
    for (int c = 0; c < num_classes; ++c) {
      if (targets[c].empty()) continue;
      const int32_t to = intern(closure(targets[c]), rule);
      a.next[d * num_classes + c] = to;
      has_bytes = has_bytes || to >= 0;
    }
    a.has_bytes.push_back(has_bytes ? 1 : 0);
    std::vector<Automaton::Call> calls;
    for (auto& [callee, tos] : call_targets) {
      const int32_t ret = intern(closure(tos), rule);
      calls.push_back({callee, 0, ret});
    }
    std::sort(calls.begin(), calls.end(),
              [](const Automaton::Call& x, const Automaton::Call& y) { return x.rule < y.rule; });
    state_calls.push_back(std::move(calls));
  }
  if (too_big) {
    return InvalidArgument("grammar too large: more than ", kMaxDfaStates,
                           " automaton states (large maxLength/maxItems or regex counts multiply "
                           "states)");
  }
  a.call_begin.push_back(0);
  for (auto& calls : state_calls) {
    for (Automaton::Call& c : calls) {
      c.start = a.rule_start[c.rule];
      a.calls.push_back(c);
    }
    a.call_begin.push_back(static_cast<int32_t>(a.calls.size()));
  }
  a.rule_names = g.names;
  a.root = 0;
  MIES_RETURN_IF_ERROR(AnalyzeAutomaton(a));
  return a;
}

}  // namespace mies::grammar
