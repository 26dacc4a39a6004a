// Chat output parsing: <think> blocks split into reasoning in any pieces, where the prompt left
// the generation (open, closed, up to the model), reasoning and tool calls together, and the real
// chat templates of shared/tokenizers: which parsers they select, and that a call Qwen3's
// template writes into the history reads back as the same call.
#include "server/chat_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "jinja/chat_template.h"
#include "server/serving_context.h"

namespace mies::server {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

struct Split {
  std::string reasoning;
  std::string content;
};

Split Reason(ReasoningStart start, const std::vector<std::string>& pieces) {
  ReasoningParser p(start);
  Split s;
  for (const auto& piece : pieces) {
    ReasoningOutput o = p.Feed(piece);
    s.reasoning += o.reasoning;
    s.content += o.content;
  }
  ReasoningOutput o = p.Finish();
  s.reasoning += o.reasoning;
  s.content += o.content;
  return s;
}

void ExpectSplits(ReasoningStart start, const std::string& text, const std::string& reasoning,
                  const std::string& content) {
  for (size_t i = 0; i <= text.size(); ++i) {
    Split s = Reason(start, {text.substr(0, i), text.substr(i)});
    EXPECT_EQ(s.reasoning, reasoning) << "split at " << i << " of " << text;
    EXPECT_EQ(s.content, content) << "split at " << i << " of " << text;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  Split s = Reason(start, bytes);
  EXPECT_EQ(s.reasoning, reasoning) << "byte by byte: " << text;
  EXPECT_EQ(s.content, content) << "byte by byte: " << text;
}

TEST(ReasoningParserTest, SplitsTheThinkBlockInAnyPieces) {
  // Qwen3: the model opens the block itself.
  ExpectSplits(ReasoningStart::kMayOpen, "<think>\nLet me see.\n2+2=4\n</think>\n\nIt is 4.",
               "Let me see.\n2+2=4", "It is 4.");
  ExpectSplits(ReasoningStart::kMayOpen, "No thinking <think>here</think>", "",
               "No thinking <think>here</think>");
  // DeepSeek-R1: the prompt opened it; never closed, it is all reasoning.
  ExpectSplits(ReasoningStart::kOpen, "Hmm.\n</think>\n\nAnswer.", "Hmm.", "Answer.");
  ExpectSplits(ReasoningStart::kOpen, "Still thinking <thi", "Still thinking <thi", "");
  // enable_thinking=false: the prompt closed an empty block.
  ExpectSplits(ReasoningStart::kClosed, "<think>x</think>y", "", "<think>x</think>y");
}

TEST(ReasoningParserTest, ThePromptSaysWhereTheGenerationStarts) {
  EXPECT_EQ(ReasoningStartOf("<|im_start|>assistant\n"), ReasoningStart::kMayOpen);
  EXPECT_EQ(ReasoningStartOf("<｜Assistant｜><think>\n"), ReasoningStart::kOpen);
  EXPECT_EQ(ReasoningStartOf("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
            ReasoningStart::kClosed);
  // An earlier turn's closed block does not count.
  EXPECT_EQ(ReasoningStartOf("<think>a</think>b<|im_start|>assistant\n"), ReasoningStart::kMayOpen);
}

TEST(ChatOutputTest, ReasoningThenToolCallsInOnePass) {
  ChatOutputOptions o;
  o.reasoning = true;
  o.tool_format = &HermesToolCallFormat();
  const std::string text =
      "<think>\nI should call get_weather. <tool_call> is "
      "how.\n</think>\n\n<tool_call>\n{\"name\": "
      "\"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
  for (bool stream : {false, true}) {
    for (size_t i = 0; i <= text.size(); ++i) {
      o.stream = stream;
      ChatOutputParser p(o);
      ChatMessage m;
      m.Add(p.Feed(text.substr(0, i)));
      m.Add(p.Feed(text.substr(i)));
      m.Add(p.Finish());
      ASSERT_EQ(m.tool_calls.size(), 1u) << i;
      EXPECT_EQ(m.reasoning, "I should call get_weather. <tool_call> is how.");
      EXPECT_EQ(m.content, "");
      EXPECT_EQ(m.tool_calls[0].arguments, R"({"city": "Paris"})");
    }
  }
}

TEST(ChatOutputTest, MessageAndDeltaShapes) {
  ChatMessage m;
  m.content = "";
  m.reasoning = "because";
  m.tool_calls.push_back({"call_1", "f", "{}"});
  json msg = ChatMessageJson(m, /*reasoning=*/true);
  EXPECT_TRUE(msg["content"].is_null());  // only calls: null content, as OpenAI
  EXPECT_EQ(msg["reasoning_content"], "because");
  EXPECT_EQ(msg["reasoning"], "because");
  EXPECT_EQ(msg["tool_calls"][0], json({{"id", "call_1"},
                                        {"type", "function"},
                                        {"function", {{"name", "f"}, {"arguments", "{}"}}}}));
  json plain = ChatMessageJson(ChatMessage{"hi", "", {}}, /*reasoning=*/false);
  EXPECT_EQ(plain, json({{"role", "assistant"}, {"content", "hi"}, {"tool_calls", json::array()}}));

  ChatDelta d;
  d.tool_calls = {{0, "call_1", "f", ""}, {1, "", "", "{\"a\""}};
  json dj = ChatDeltaJson(d);
  EXPECT_EQ(dj["tool_calls"][0], json({{"index", 0},
                                       {"id", "call_1"},
                                       {"type", "function"},
                                       {"function", {{"name", "f"}, {"arguments", ""}}}}));
  EXPECT_EQ(dj["tool_calls"][1], json({{"index", 1}, {"function", {{"arguments", "{\"a\""}}}}));
  EXPECT_FALSE(dj.contains("content"));
}

// --- real chat templates ---------------------------------------------------------------------

std::string TemplateSource(const std::string& name) {
  std::ifstream in(std::string(MIES_SHARED_DIR) + "/tokenizers/" + name + "/tokenizer_config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  json cfg = json::parse(ss.str());
  return cfg.value("chat_template", json("")).is_string() ? cfg.value("chat_template", "") : "";
}

TEST(ChatOutputTest, RealTemplatesSelectTheirParsers) {
  std::map<std::string, std::string> none;
  ModelInfo qwen3;
  ASSERT_TRUE(ConfigureChatOutput(none, TemplateSource("qwen3"), &qwen3).ok());
  EXPECT_EQ(qwen3.tool_format, &HermesToolCallFormat());
  EXPECT_TRUE(qwen3.reasoning);
  for (const char* name : {"llama3", "gemma3", "mistral-7b", "gpt4o"}) {
    ModelInfo m;
    ASSERT_TRUE(ConfigureChatOutput(none, TemplateSource(name), &m).ok()) << name;
    EXPECT_EQ(m.tool_format, nullptr) << name;  // these templates take no tools
    EXPECT_FALSE(m.reasoning) << name;
  }
  // MindIE's per-model keys override the template.
  ModelInfo m;
  ASSERT_TRUE(ConfigureChatOutput({{"tool_call_parser", "mistral"}, {"enable_reasoning", "0"}},
                                  TemplateSource("qwen3"), &m)
                  .ok());
  EXPECT_EQ(m.tool_format, &MistralToolCallFormat());
  EXPECT_FALSE(m.reasoning);
  Status bad = ConfigureChatOutput({{"tool_call_parser", "chatglm4"}}, "", &m);
  EXPECT_THAT(bad.message(), ::testing::HasSubstr("chatglm4 is not supported; supported: hermes"));
  EXPECT_FALSE(ConfigureChatOutput({{"enable_reasoning", "maybe"}}, "", &m).ok());
}

jinja::ChatTemplate Qwen3() {
  auto t = jinja::ChatTemplate::FromTokenizerConfigFile(std::string(MIES_SHARED_DIR) +
                                                        "/tokenizers/qwen3/tokenizer_config.json");
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

TEST(ChatOutputTest, Qwen3WritesCallsAndThinkingTheParsersReadBack) {
  jinja::ChatTemplate qwen3 = Qwen3();
  jinja::ChatRenderRequest r;
  r.messages = ordered_json::parse(R"([
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "reasoning_content": "Use the tool.",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}])");
  r.tools = ordered_json::parse(
      R"([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])");
  auto text = qwen3.Render(r);
  ASSERT_TRUE(text.ok()) << text.status();
  // The template describes the format it asks for, then writes the call into the history.
  const std::string marker = "<|im_start|>assistant\n";
  const size_t at = text->rfind(marker);
  ASSERT_NE(at, std::string::npos);
  std::string turn = text->substr(at + marker.size());
  turn = turn.substr(0, turn.find("<|im_end|>"));
  ChatOutputOptions o;
  o.reasoning = true;
  o.tool_format = &HermesToolCallFormat();
  ChatOutputParser p(o);
  ChatMessage m;
  m.Add(p.Feed(turn));
  m.Add(p.Finish());
  EXPECT_EQ(m.reasoning, "Use the tool.");
  EXPECT_EQ(m.content, "");
  ASSERT_EQ(m.tool_calls.size(), 1u) << turn;
  EXPECT_EQ(m.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(m.tool_calls[0].arguments), json({{"city", "Paris"}}));

  // enable_thinking=false closes an empty block in the prompt; the default leaves it to the model.
  jinja::ChatRenderRequest ask;
  ask.messages = ordered_json::parse(R"([{"role": "user", "content": ""}])");
  ask.add_generation_prompt = true;
  auto open = qwen3.Render(ask);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(ReasoningStartOf(*open), ReasoningStart::kMayOpen);
  ask.extra_context = ordered_json{{"enable_thinking", false}};
  auto closed = qwen3.Render(ask);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(ReasoningStartOf(*closed), ReasoningStart::kClosed);
}

}  // namespace
}  // namespace mies::server
