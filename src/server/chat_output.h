// A chat completion's text as OpenAI clients want it: reasoning (<think> blocks), content and
// tool calls, parsed as the engine's detokenized text comes (ReasoningParser first, then the
// model's ToolCallFormat on what is not reasoning), and the per-model configuration of both.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/reasoning_parser.h"
#include "server/tool_call_extractor.h"

namespace mies::server {

struct ModelInfo;

struct ChatOutputOptions {
  bool reasoning = false;  // split <think> blocks off
  ReasoningStart reasoning_start = ReasoningStart::kMayOpen;
  const ToolCallFormat* tool_format = nullptr;  // parse calls in this syntax (null: none)
  bool parallel_tool_calls = true;
  bool stream = false;  // calls count from their header (stream) or once complete
};

// What one piece of text adds to a choice.
struct ChatDelta {
  std::string content;
  std::string reasoning;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

// A whole message, from the deltas of a choice.
struct ChatMessage {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> tool_calls;
  void Add(const ChatDelta& delta);
};

class ChatOutputParser {
 public:
  explicit ChatOutputParser(const ChatOutputOptions& options);
  ChatDelta Feed(std::string_view text);
  ChatDelta Finish();
  // Feed then Finish, in one delta.
  ChatDelta FeedLast(std::string_view text);
  bool finished() const { return finished_; }
  int tool_calls() const { return tools_ ? tools_->calls() : 0; }

 private:
  std::optional<ReasoningParser> reasoning_;
  std::optional<ToolCallExtractor> tools_;
  bool finished_ = false;
};

// OpenAI's shapes: `delta` of a stream chunk (reasoning under both `reasoning_content`, as
// MindIE and llama.cpp name it, and `reasoning`, vLLM's current name), and `message`.
nlohmann::json ChatDeltaJson(const ChatDelta& delta);
nlohmann::json ChatMessageJson(const ChatMessage& message, bool reasoning);

// The served model's chat output settings from its ModelConfig keys and chat template:
// `tool_call_parser` (a FindToolCallFormat name; default: the syntax the template writes) and
// `enable_reasoning` (true/false, 1/0; default: on when the template has </think>). An unknown
// parser name is an error naming the supported ones.
Status ConfigureChatOutput(const std::map<std::string, std::string>& model_config_extra,
                           std::string_view chat_template_source, ModelInfo* model);

}  // namespace mies::server
