#include "grammar/parse_stack.h"

#include <algorithm>

namespace mies::grammar {

int32_t FramePool::Push(int32_t ret, int32_t parent) {
  auto [it, inserted] = index_.try_emplace(Key(ret, parent), size());
  if (inserted) frames_.push_back({ret, parent});
  return it->second;
}

void FramePool::Rollback(int32_t checkpoint) {
  while (size() > checkpoint) {
    index_.erase(Key(frames_.back().ret, frames_.back().parent));
    frames_.pop_back();
  }
}

void FramePool::Clear() {
  frames_.clear();
  index_.clear();
}

void StackOps::Closure(Stack s, std::vector<Stack>* out, StepFlags* flags) {
  seen_.clear();
  Expand(s, out, flags);
}

void StackOps::Expand(Stack s, std::vector<Stack>* out, StepFlags* flags) {
  // Closures are small (a handful of stacks): a linear scan beats hashing.
  if (std::find(seen_.begin(), seen_.end(), s) != seen_.end()) return;
  seen_.push_back(s);
  if (a_.has_bytes[s.state] && std::find(out->begin(), out->end(), s) == out->end()) {
    out->push_back(s);
  }
  for (int32_t i = a_.call_begin[s.state]; i < a_.call_begin[s.state + 1]; ++i) {
    const Automaton::Call& call = a_.calls[i];
    Expand({call.start, pool_.Push(call.ret, s.frame)}, out, flags);
  }
  if (a_.accepting[s.state]) {
    if (s.frame == kTextStart) {
      flags->complete = true;
    } else if (s.frame == kUnknown) {
      flags->escape = true;
    } else {
      const FramePool::Frame f = pool_.at(s.frame);
      Expand({f.ret, f.parent}, out, flags);
    }
  }
}

void StackOps::Advance(const std::vector<Stack>& in, uint8_t byte, std::vector<Stack>* out,
                       StepFlags* flags) {
  out->clear();
  for (const Stack& s : in) {
    const int32_t t = a_.Next(s.state, byte);
    if (t < 0) continue;
    seen_.clear();
    Expand({t, s.frame}, out, flags);
  }
}

bool StackOps::Accepts(Stack start, std::string_view bytes) {
  cur_.assign(1, start);
  bool complete = false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    StepFlags flags;
    Advance(cur_, static_cast<uint8_t>(bytes[i]), &nxt_, &flags);
    complete = flags.complete;
    if (nxt_.empty()) {
      // Only a text that ends exactly here survives.
      return complete && i + 1 == bytes.size();
    }
    cur_.swap(nxt_);
  }
  return !cur_.empty() || complete;
}

}  // namespace mies::grammar
