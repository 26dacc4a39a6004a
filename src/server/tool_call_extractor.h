// Turns a ToolCallParser's events into what an OpenAI response says: content, and tool calls
// with ids and indices, whole or as the deltas of a stream.
//
// When a call counts:
//  - streamed: from its header on (the name is sent at once, the arguments as they come), so a
//    call that later stops following the format keeps what was sent and the rest of its text is
//    content;
//  - whole (non-streamed): only once complete; a call that stops following the format is all
//    content, so clients never get arguments that are not JSON.
// Whitespace between calls, and around them, is not content. Without parallel calls only the
// first call counts; later ones are dropped.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/tool_call_parser.h"

namespace mies::server {

// One entry of `delta.tool_calls`; id and name only in a call's first delta.
struct ToolCallDelta {
  int index = 0;
  std::string id;
  std::string name;
  std::string arguments;
};

struct ToolCallOutput {
  std::string content;
  std::vector<ToolCallDelta> calls;  // one entry per call touched, in order
};

class ToolCallExtractor {
 public:
  ToolCallExtractor(const ToolCallFormat& format, bool stream, bool parallel);
  ToolCallOutput Feed(std::string_view text);
  ToolCallOutput Finish();
  int calls() const { return calls_; }

 private:
  void Apply(const ToolParseEvent& ev, ToolCallOutput* out);
  void Content(std::string_view text, ToolCallOutput* out);
  ToolCallDelta& DeltaFor(ToolCallOutput* out, int index);

  const ToolCallFormat& format_;
  std::unique_ptr<ToolCallParser> parser_;
  bool stream_;
  bool parallel_;
  int calls_ = 0;            // calls counted (the next index)
  bool in_call_ = false;     // between a counted call's begin and its end
  bool skipping_ = false;    // inside a call dropped for parallel_tool_calls=false
  bool after_call_ = false;  // leading whitespace is not content
  std::string pending_ws_;   // trailing whitespace of content, until what follows decides
  // Whole mode: the call being read.
  ToolCallDelta pending_;
  std::string pending_raw_;
  std::vector<ToolParseEvent> events_;
};

}  // namespace mies::server
