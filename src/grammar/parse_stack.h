// Parse stacks over an Automaton. A stack is its top state plus an interned chain of return
// frames, so equal stacks are equal pairs of ints and a set of alternatives (the grammar may be
// ambiguous for a prefix) is a short vector. Reading a byte moves the top state; calls push a
// frame, acceptance pops one. Closure() expands a stack until every top can read a byte.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "grammar/automaton.h"

namespace mies::grammar {

// Frame ids below zero end a chain.
inline constexpr int32_t kTextStart = -1;  // the root: popping here means the text may end
inline constexpr int32_t kUnknown = -2;    // unknown context (mask classification)

struct Stack {
  int32_t state = 0;
  int32_t frame = kTextStart;
  bool operator==(const Stack&) const = default;
};

class FramePool {
 public:
  struct Frame {
    int32_t ret;
    int32_t parent;
  };
  int32_t Push(int32_t ret, int32_t parent);
  const Frame& at(int32_t id) const { return frames_[id]; }
  int32_t size() const { return static_cast<int32_t>(frames_.size()); }
  // Frames pushed after a checkpoint are dropped by Rollback (scratch work).
  int32_t Checkpoint() const { return size(); }
  void Rollback(int32_t checkpoint);
  void Clear();

 private:
  static uint64_t Key(int32_t ret, int32_t parent) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(ret)) << 32) |
           static_cast<uint32_t>(parent);
  }
  std::vector<Frame> frames_;
  absl::flat_hash_map<uint64_t, int32_t> index_;
};

// What a closure or a step found besides the stacks.
struct StepFlags {
  bool complete = false;  // a stack can pop past kTextStart: the text may end here
  bool escape = false;    // a stack can pop into kUnknown
};

class StackOps {
 public:
  StackOps(const Automaton& a, FramePool& pool) : a_(a), pool_(pool) {}
  // Appends to `out` the expansion of `s` (tops that read bytes), skipping stacks already there.
  void Closure(Stack s, std::vector<Stack>* out, StepFlags* flags);
  // out = closure of every stack of `in` after reading `byte`.
  void Advance(const std::vector<Stack>& in, uint8_t byte, std::vector<Stack>* out,
               StepFlags* flags);
  // Whether `bytes` can be read from `start` (the stacks may end as an empty set when the text
  // is complete right at the last byte).
  bool Accepts(Stack start, std::string_view bytes);

 private:
  void Expand(Stack s, std::vector<Stack>* out, StepFlags* flags);

  const Automaton& a_;
  FramePool& pool_;
  std::vector<Stack> seen_;
  std::vector<Stack> cur_, nxt_;
};

}  // namespace mies::grammar
