// Checks and facts about a built automaton:
//  * trimming: edges into states from which the rule can never end are removed, so a matcher
//    never walks into a dead end the grammar itself set up;
//  * left recursion (a rule reaching a call of itself without reading a byte) is an error, as
//    it would make the matcher's stack grow without end;
//  * FOLLOW byte sets: what can come right after a rule ends, in any context. The mask cache
//    classifies a token that leaves its rule mid-way as "depends on the context" only when the
//    next byte is in FOLLOW, and as rejected otherwise.
#include <functional>

#include "grammar/automaton.h"

namespace mies::grammar {
namespace {

void Trim(Automaton& a, std::vector<uint8_t>& productive) {
  const int32_t n = a.num_states();
  const int C = a.num_classes;
  productive.assign(n, 0);
  std::vector<std::vector<int32_t>> byte_preds(n);
  std::vector<std::vector<std::pair<int32_t, int32_t>>> calls_by_ret(n);    // ret -> (s, start)
  std::vector<std::vector<std::pair<int32_t, int32_t>>> calls_by_start(n);  // start -> (s, ret)
  for (int32_t s = 0; s < n; ++s) {
    for (int c = 0; c < C; ++c) {
      const int32_t t = a.next[static_cast<size_t>(s) * C + c];
      if (t >= 0) byte_preds[t].push_back(s);
    }
    for (int32_t i = a.call_begin[s]; i < a.call_begin[s + 1]; ++i) {
      const Automaton::Call& call = a.calls[i];
      if (call.ret < 0 || call.start < 0) continue;
      calls_by_ret[call.ret].push_back({s, call.start});
      calls_by_start[call.start].push_back({s, call.ret});
    }
  }
  std::vector<int32_t> work;
  auto mark = [&](int32_t s) {
    if (!productive[s]) {
      productive[s] = 1;
      work.push_back(s);
    }
  };
  for (int32_t s = 0; s < n; ++s) {
    if (a.accepting[s]) mark(s);
  }
  while (!work.empty()) {
    const int32_t t = work.back();
    work.pop_back();
    for (int32_t s : byte_preds[t]) mark(s);
    for (auto [s, start] : calls_by_ret[t]) {
      if (productive[start]) mark(s);
    }
    for (auto [s, ret] : calls_by_start[t]) {
      if (productive[ret]) mark(s);
    }
  }
  for (int32_t s = 0; s < n; ++s) {
    for (int c = 0; c < C; ++c) {
      int32_t& t = a.next[static_cast<size_t>(s) * C + c];
      if (t >= 0 && !productive[t]) t = -1;
    }
  }
  std::vector<Automaton::Call> kept;
  std::vector<int32_t> begin{0};
  for (int32_t s = 0; s < n; ++s) {
    for (int32_t i = a.call_begin[s]; i < a.call_begin[s + 1]; ++i) {
      const Automaton::Call& call = a.calls[i];
      if (call.ret >= 0 && call.start >= 0 && productive[call.ret] && productive[call.start]) {
        kept.push_back(call);
      }
    }
    begin.push_back(static_cast<int32_t>(kept.size()));
  }
  a.calls = std::move(kept);
  a.call_begin = std::move(begin);
  a.has_bytes.assign(n, 0);
  for (int32_t s = 0; s < n; ++s) {
    for (int c = 0; c < C && !a.has_bytes[s]; ++c) {
      if (a.next[static_cast<size_t>(s) * C + c] >= 0) a.has_bytes[s] = 1;
    }
  }
}

}  // namespace

Status AnalyzeAutomaton(Automaton& a) {
  const int32_t n = a.num_states();
  const int num_rules = static_cast<int>(a.rule_start.size());
  for (int r = 0; r < num_rules; ++r) {
    if (a.rule_start[r] < 0) {
      return InvalidArgument("grammar rule '", a.rule_names[r], "' matches no text");
    }
  }
  std::vector<uint8_t> productive;
  Trim(a, productive);
  if (!productive[a.rule_start[a.root]]) {
    return InvalidArgument("the grammar matches no text (rule '", a.rule_names[a.root],
                           "' can never end)");
  }

  // Nullable rules, and states that can reach acceptance through nullable calls only.
  std::vector<uint8_t> empty_accept(a.accepting);
  std::vector<uint8_t> nullable(num_rules, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (int r = 0; r < num_rules; ++r) {
      if (!nullable[r] && empty_accept[a.rule_start[r]]) nullable[r] = changed = true;
    }
    for (int32_t s = 0; s < n; ++s) {
      if (empty_accept[s]) continue;
      for (int32_t i = a.call_begin[s]; i < a.call_begin[s + 1]; ++i) {
        if (nullable[a.calls[i].rule] && empty_accept[a.calls[i].ret]) {
          empty_accept[s] = changed = true;
          break;
        }
      }
    }
  }

  // Left recursion: rule X -> rule Y when X can call Y before reading a byte.
  std::vector<std::vector<int>> left(num_rules);
  for (int r = 0; r < num_rules; ++r) {
    std::vector<int32_t> states{a.rule_start[r]};
    std::vector<uint8_t> seen(n, 0);
    seen[a.rule_start[r]] = 1;
    for (size_t i = 0; i < states.size(); ++i) {
      const int32_t s = states[i];
      for (int32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
        const Automaton::Call& call = a.calls[k];
        left[r].push_back(call.rule);
        if (nullable[call.rule] && !seen[call.ret]) {
          seen[call.ret] = 1;
          states.push_back(call.ret);
        }
      }
    }
  }
  std::vector<int> color(num_rules, 0);  // 0 new, 1 on the path, 2 done
  int culprit = -1;
  std::function<bool(int)> cycle = [&](int r) {
    color[r] = 1;
    for (int t : left[r]) {
      if (color[t] == 1 || (color[t] == 0 && cycle(t))) {
        if (culprit < 0) culprit = t;
        return true;
      }
    }
    color[r] = 2;
    return false;
  };
  for (int r = 0; r < num_rules; ++r) {
    if (color[r] == 0 && cycle(r)) {
      return InvalidArgument("grammar rule '", a.rule_names[culprit],
                             "' is left-recursive (it can reach itself before reading any "
                             "text); rewrite it with repetition");
    }
  }

  // FIRST byte sets of states (through calls), then FOLLOW of rules.
  std::vector<std::bitset<256>> first(n);
  for (int32_t s = 0; s < n; ++s) {
    for (int b = 0; b < 256; ++b) {
      if (a.Next(s, static_cast<uint8_t>(b)) >= 0) first[s].set(b);
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t s = 0; s < n; ++s) {
      for (int32_t i = a.call_begin[s]; i < a.call_begin[s + 1]; ++i) {
        const Automaton::Call& call = a.calls[i];
        std::bitset<256> add = first[call.start];
        if (nullable[call.rule]) add |= first[call.ret];
        if ((first[s] | add) != first[s]) {
          first[s] |= add;
          changed = true;
        }
      }
    }
  }
  a.follow.assign(num_rules, {});
  a.follow_end.assign(num_rules, 0);
  a.follow_end[a.root] = 1;
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t s = 0; s < n; ++s) {
      const int32_t caller = a.rule_of[s];
      for (int32_t i = a.call_begin[s]; i < a.call_begin[s + 1]; ++i) {
        const Automaton::Call& call = a.calls[i];
        std::bitset<256> add = first[call.ret];
        uint8_t end = 0;
        if (empty_accept[call.ret]) {
          add |= a.follow[caller];
          end = a.follow_end[caller];
        }
        if ((a.follow[call.rule] | add) != a.follow[call.rule] ||
            (end && !a.follow_end[call.rule])) {
          a.follow[call.rule] |= add;
          a.follow_end[call.rule] |= end;
          changed = true;
        }
      }
    }
  }
  a.rule_has_calls.assign(num_rules, 0);
  for (int32_t s = 0; s < n; ++s) {
    if (a.call_begin[s + 1] > a.call_begin[s]) a.rule_has_calls[a.rule_of[s]] = 1;
  }
  return OkStatus();
}

}  // namespace mies::grammar
