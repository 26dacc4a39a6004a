// A grammar compiled to byte automata: every rule becomes a DFA over bytes whose states may also
// "call" another rule (push a return state, continue at the callee's start). A text is in the
// grammar when the root rule's DFA can read it from its start to an accepting state with all
// calls returned — a recursive transition network, so recursion (nested JSON, GBNF rules) is
// exact, while rules that are not recursive are inlined and run as plain DFA states.
//
// Construction: inline non-recursive references (size-bounded) -> Thompson NFA per rule (one
// character class = its UTF-8 byte sequences) -> subset construction keyed by the NFA states
// that have edges, over byte classes (bytes no edge tells apart share a column) -> trimming of
// states that cannot finish -> analyses the matcher relies on (left recursion is an error;
// FOLLOW byte sets per rule for the mask cache).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "grammar/expr.h"

namespace mies::grammar {

// Limits that turn a grammar too big to compile into an error instead of a stall.
inline constexpr int64_t kMaxNfaStates = 2'000'000;
inline constexpr int64_t kMaxDfaStates = 200'000;
// A non-recursive rule whose expansion is at most this big is inlined at each use.
inline constexpr int64_t kInlineLimit = 4096;

struct Automaton {
  struct Call {
    int32_t rule = 0;
    int32_t start = 0;  // the callee's start state
    int32_t ret = 0;    // where the caller continues when the callee ends
  };

  int num_classes = 0;
  std::array<uint8_t, 256> byte_class{};
  std::vector<int32_t> next;        // state * num_classes + class -> state; -1: no edge
  std::vector<uint8_t> accepting;   // the state's rule may end here
  std::vector<uint8_t> has_bytes;   // some byte leads on
  std::vector<int32_t> call_begin;  // calls of state s: calls[call_begin[s], call_begin[s + 1])
  std::vector<Call> calls;
  std::vector<int32_t> rule_of;     // state -> rule
  std::vector<int32_t> rule_start;  // rule -> its start state
  std::vector<std::string> rule_names;
  std::vector<uint8_t> rule_has_calls;
  // Bytes that can come right after rule r ends, in any context; follow_end[r]: the text may
  // end right after it.
  std::vector<std::bitset<256>> follow;
  std::vector<uint8_t> follow_end;
  int32_t root = 0;  // root rule

  int32_t Next(int32_t state, uint8_t byte) const {
    return next[static_cast<size_t>(state) * num_classes + byte_class[byte]];
  }
  int32_t num_states() const { return static_cast<int32_t>(accepting.size()); }
};

// Replaces references to non-recursive rules by their expressions (when small enough) and drops
// rules the root no longer reaches. Root is rule 0 of the result.
Grammar InlineRules(const Grammar& grammar);

// The whole pipeline; errors name the rule or the limit.
StatusOr<Automaton> BuildAutomaton(const Grammar& grammar);

// Trimming and analyses on a freshly built automaton (automaton_analysis.cc).
Status AnalyzeAutomaton(Automaton& a);

}  // namespace mies::grammar
