#include "server/chat_output.h"

#include "absl/strings/str_join.h"
#include "server/serving_context.h"

namespace mies::server {

using nlohmann::json;

namespace {

void Merge(ChatDelta* into, ChatDelta&& more) {
  into->content += more.content;
  into->reasoning += more.reasoning;
  for (ToolCallDelta& d : more.tool_calls) {
    if (!into->tool_calls.empty() && into->tool_calls.back().index == d.index) {
      ToolCallDelta& last = into->tool_calls.back();
      if (last.id.empty()) last.id = std::move(d.id);
      last.name += d.name;
      last.arguments += d.arguments;
    } else {
      into->tool_calls.push_back(std::move(d));
    }
  }
}

ChatDelta FromTools(ToolCallOutput&& out) {
  ChatDelta d;
  d.content = std::move(out.content);
  d.tool_calls = std::move(out.calls);
  return d;
}

}  // namespace

void ChatMessage::Add(const ChatDelta& delta) {
  content += delta.content;
  reasoning += delta.reasoning;
  for (const ToolCallDelta& d : delta.tool_calls) {
    if (d.index >= static_cast<int>(tool_calls.size())) tool_calls.resize(d.index + 1);
    ToolCall& call = tool_calls[d.index];
    if (!d.id.empty()) call.id = d.id;
    call.name += d.name;
    call.arguments += d.arguments;
  }
}

ChatOutputParser::ChatOutputParser(const ChatOutputOptions& o) {
  if (o.reasoning) reasoning_.emplace(o.reasoning_start);
  if (o.tool_format != nullptr) tools_.emplace(*o.tool_format, o.stream, o.parallel_tool_calls);
}

ChatDelta ChatOutputParser::Feed(std::string_view text) {
  ChatDelta d;
  std::string content(text);
  if (reasoning_) {
    ReasoningOutput r = reasoning_->Feed(text);
    d.reasoning = std::move(r.reasoning);
    content = std::move(r.content);
  }
  if (!tools_) {
    d.content = std::move(content);
    return d;
  }
  Merge(&d, FromTools(tools_->Feed(content)));
  return d;
}

ChatDelta ChatOutputParser::FeedLast(std::string_view text) {
  ChatDelta d = Feed(text);
  Merge(&d, Finish());
  return d;
}

ChatDelta ChatOutputParser::Finish() {
  finished_ = true;
  ChatDelta d;
  std::string content;
  if (reasoning_) {
    ReasoningOutput r = reasoning_->Finish();
    d.reasoning = std::move(r.reasoning);
    content = std::move(r.content);
  }
  if (!tools_) {
    d.content = std::move(content);
    return d;
  }
  if (!content.empty()) Merge(&d, FromTools(tools_->Feed(content)));
  Merge(&d, FromTools(tools_->Finish()));
  return d;
}

json ChatDeltaJson(const ChatDelta& delta) {
  json d = json::object();
  if (!delta.reasoning.empty()) {
    d["reasoning_content"] = delta.reasoning;
    d["reasoning"] = delta.reasoning;
  }
  if (!delta.content.empty()) d["content"] = delta.content;
  if (!delta.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCallDelta& c : delta.tool_calls) {
      json call = {{"index", c.index}};
      json fn = json::object();
      if (!c.id.empty()) {
        call["id"] = c.id;
        call["type"] = "function";
        fn["name"] = c.name;
      }
      fn["arguments"] = c.arguments;
      call["function"] = std::move(fn);
      calls.push_back(std::move(call));
    }
    d["tool_calls"] = std::move(calls);
  }
  return d;
}

json ChatMessageJson(const ChatMessage& m, bool reasoning) {
  json calls = json::array();
  for (const ToolCall& c : m.tool_calls) {
    calls.push_back({{"id", c.id},
                     {"type", "function"},
                     {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  json msg = {{"role", "assistant"},
              {"content", m.content.empty() && !calls.empty() ? json(nullptr) : json(m.content)}};
  if (reasoning) {
    json r = m.reasoning.empty() ? json(nullptr) : json(m.reasoning);
    msg["reasoning_content"] = r;
    msg["reasoning"] = r;
  }
  msg["tool_calls"] = std::move(calls);
  return msg;
}

Status ConfigureChatOutput(const std::map<std::string, std::string>& extra,
                           std::string_view template_source, ModelInfo* model) {
  model->tool_format = ToolCallFormatOfTemplate(template_source);
  if (auto it = extra.find("tool_call_parser"); it != extra.end() && !it->second.empty()) {
    model->tool_format = FindToolCallFormat(it->second);
    if (model->tool_format == nullptr) {
      return InvalidArgument(
          "ModelConfig.tool_call_parser ", it->second,
          " is not supported; supported: ", absl::StrJoin(ToolCallFormatNames(), ", "));
    }
  }
  model->reasoning = template_source.find("</think>") != std::string_view::npos;
  if (auto it = extra.find("enable_reasoning"); it != extra.end()) {
    const std::string& v = it->second;
    if (v == "1" || v == "true") {
      model->reasoning = true;
    } else if (v == "0" || v == "false") {
      model->reasoning = false;
    } else {
      return InvalidArgument("ModelConfig.enable_reasoning must be a boolean, got ", v);
    }
  }
  return OkStatus();
}

}  // namespace mies::server
