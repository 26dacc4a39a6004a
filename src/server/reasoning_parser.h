// Reasoning in generated text: models whose chat template thinks (Qwen3, QwQ, DeepSeek-R1)
// write `<think>...</think>` before the answer. ReasoningParser splits a generation, fed in any
// pieces, into reasoning and content, holding back text that may be the start of a tag.
//
// Where the generation starts is read from the prompt (ReasoningStartOf): DeepSeek-R1's template
// ends the prompt inside an open <think>, so everything up to </think> is reasoning (all of it
// when the model never closes it); Qwen3's leaves it to the model, whose answer is reasoning
// only when it begins with <think>; Qwen3 with enable_thinking=false closes an empty block in the
// prompt, so all is content. Whitespace at the edges of the block is not part of either.
#pragma once

#include <string>
#include <string_view>

namespace mies::server {

enum class ReasoningStart {
  kMayOpen,  // the generation may begin with <think>
  kOpen,     // the prompt opened <think>: the generation begins inside it
  kClosed,   // the prompt ends right after a </think>: no reasoning follows
};

ReasoningStart ReasoningStartOf(std::string_view prompt);

struct ReasoningOutput {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  explicit ReasoningParser(ReasoningStart start);
  ReasoningOutput Feed(std::string_view text);
  ReasoningOutput Finish();

 private:
  enum class Phase { kStart, kReasoning, kContent };
  void Step(ReasoningOutput* out);

  Phase phase_;
  std::string buf_;               // text not yet decided
  bool reasoning_began_ = false;  // leading whitespace of the block is dropped
  bool after_block_ = false;      // leading whitespace after </think> is dropped
  std::string pending_ws_;        // trailing whitespace of reasoning, dropped at </think>
  bool at_end_ = false;
};

}  // namespace mies::server
