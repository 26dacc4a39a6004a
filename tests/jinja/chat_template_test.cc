// ChatTemplate against transformers' apply_chat_template: fixtures/chat_cases.json holds the
// outputs jinja2 produced for the shared tokenizer configs and the public templates in
// fixtures/templates, over conversations with system prompts, several turns, tool calls,
// multimodal parts and Unicode, with add_generation_prompt both ways.
#include "jinja/chat_template.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "fixture_util.h"
#include "jinja/builtins.h"

namespace mies::jinja {
namespace {

using nlohmann::ordered_json;
using testing::FixturePath;
using testing::LoadJson;
using testing::SharedPath;

std::string ConfigPath(const std::string& ref) {
  const std::string shared = "shared:";
  if (ref.rfind(shared, 0) == 0) return SharedPath(ref.substr(shared.size()));
  return FixturePath(ref);
}

// absl::string_view (Status::message) is not std::string_view in Debian's Abseil build.
bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

TEST(ChatTemplate, RendersLikeTransformersOnAllFixtureConversations) {
  const auto cases = LoadJson(FixturePath("chat_cases.json"));
  ASSERT_GT(cases.size(), 500u);
  std::map<std::string, ChatTemplate> templates;
  int rendered = 0, errors = 0;
  for (const auto& c : cases) {
    const std::string ref = c["config"].get<std::string>();
    SCOPED_TRACE(
        ref + " / " + c["conversation"].get<std::string>() +
        " / tools=" + (c["tools"].is_null() ? "no" : "yes") +
        " / documents=" + (c["documents"].is_null() ? "no" : "yes") + " / add_generation_prompt=" +
        (c["add_generation_prompt"].get<bool>() ? "1" : "0") + " / extra=" + c["extra"].dump());
    auto it = templates.find(ref);
    if (it == templates.end()) {
      auto loaded = ChatTemplate::FromTokenizerConfigFile(ConfigPath(ref));
      ASSERT_TRUE(loaded.ok()) << loaded.status().message();
      it = templates.emplace(ref, std::move(loaded).value()).first;
    }
    ChatRenderRequest req;
    req.messages = c["messages"];
    req.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    if (!c["tools"].is_null()) req.tools = c["tools"];
    if (!c["documents"].is_null()) req.documents = c["documents"];
    req.extra_context = c["extra"];
    auto out = it->second.Render(req);
    if (c.contains("expected")) {
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_EQ(*out, c["expected"].get<std::string>());
      ++rendered;
    } else {
      ASSERT_FALSE(out.ok()) << "jinja2 failed with: " << c["error"] << "\nwe rendered:\n" << *out;
      if (c["error_type"] == "TemplateError") {
        EXPECT_EQ(out.status().message(), c["error"].get<std::string>());
      }
      ++errors;
    }
  }
  EXPECT_GT(rendered, 400);
  EXPECT_GT(errors, 50);  // alternation checks, unsupported roles, type errors
}

TEST(ChatTemplate, ConfigWithoutChatTemplateIsNotFound) {
  auto ct =
      ChatTemplate::FromTokenizerConfigFile(SharedPath("tokenizers/gpt4o/tokenizer_config.json"));
  ASSERT_FALSE(ct.ok());
  EXPECT_EQ(ct.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(ct.status().message(), "chat_template"));
}

TEST(ChatTemplate, NamedListPicksToolUseOnlyWhenToolsAreGiven) {
  auto ct = ChatTemplate::FromTokenizerConfigFile(FixturePath("configs/named_list.json"));
  ASSERT_TRUE(ct.ok()) << ct.status().message();
  EXPECT_EQ(ct->template_names(), (std::vector<std::string>{"default", "tool_use"}));
  ChatRenderRequest req;
  req.messages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  auto plain = ct->Render(req);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "<|im_start|>user\nhi<|im_end|>\n");
  req.tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  auto with_tools = ct->Render(req);
  ASSERT_TRUE(with_tools.ok());
  EXPECT_TRUE(
      Contains(*with_tools, "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"f\"}}"));
  req.template_name = "default";
  auto forced = ct->Render(req);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(*forced, *plain);
  req.template_name = "nope";
  auto missing = ct->Render(req);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(Contains(missing.status().message(), "'nope'"));
}

TEST(ChatTemplate, BadConfigsAreClearErrors) {
  auto ct = ChatTemplate::FromTokenizerConfig(ordered_json{{"chat_template", 5}});
  ASSERT_FALSE(ct.ok());
  EXPECT_TRUE(Contains(ct.status().message(), "'chat_template' must be a string or a list"));
  ct = ChatTemplate::FromTokenizerConfig(
      ordered_json::parse(R"({"chat_template": [{"name": "default"}]})"));
  ASSERT_FALSE(ct.ok());
  EXPECT_TRUE(Contains(ct.status().message(), "chat_template[0]"));
  ct = ChatTemplate::FromTokenizerConfig(
      ordered_json::parse(R"({"chat_template": "ok\n{% include 'x' %}"})"));
  ASSERT_FALSE(ct.ok());
  EXPECT_TRUE(Contains(ct.status().message(), "include")) << ct.status().message();
  EXPECT_TRUE(Contains(ct.status().message(), "line 2")) << ct.status().message();
  ct = ChatTemplate::FromTokenizerConfig(
      ordered_json::parse(R"({"chat_template": "x", "bos_token": 3})"));
  ASSERT_FALSE(ct.ok());
  EXPECT_TRUE(Contains(ct.status().message(), "bos_token"));
}

TEST(ChatTemplate, SpecialTokensComeFromStringsAndAddedTokenObjects) {
  auto ct = ChatTemplate::FromTokenizerConfigFile(FixturePath("configs/llama2.json"));
  ASSERT_TRUE(ct.ok()) << ct.status().message();
  std::map<std::string, std::string> tokens(ct->special_tokens().begin(),
                                            ct->special_tokens().end());
  EXPECT_EQ(tokens["bos_token"], "<s>");
  EXPECT_EQ(tokens["eos_token"], "</s>");
  EXPECT_EQ(tokens["unk_token"], "<unk>");
  EXPECT_EQ(tokens.count("pad_token"), 0u);  // null in the config: not defined for the template
}

TEST(ChatTemplate, ExtraContextOverridesAndReachesTemplate) {
  auto ct = ChatTemplate::FromString("{{ bos_token }}|{{ enable_thinking }}|{{ tools is none }}",
                                     {{"bos_token", "<s>"}});
  ASSERT_TRUE(ct.ok());
  ChatRenderRequest req;
  req.extra_context = ordered_json{{"enable_thinking", false}, {"bos_token", "<B>"}};
  auto out = ct->Render(req);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "<B>|False|True");
}

TEST(ChatTemplate, ContinueFinalMessageCutsAfterTheLastMessage) {
  auto ct = ChatTemplate::FromTokenizerConfigFile(FixturePath("configs/chatml.json"));
  ASSERT_TRUE(ct.ok());
  ChatRenderRequest req;
  req.messages = ordered_json::parse(
      R"([{"role": "user", "content": "Write a haiku"}, {"role": "assistant", "content": "Autumn moon "}])");
  req.continue_final_message = true;
  auto out = ct->Render(req);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, "<|im_start|>user\nWrite a haiku<|im_end|>\n<|im_start|>assistant\nAutumn moon ");
  req.add_generation_prompt = true;
  out = ct->Render(req);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "not compatible"));
}

TEST(ChatTemplate, RequestShapeIsValidated) {
  auto ct = ChatTemplate::FromTokenizerConfigFile(FixturePath("configs/chatml.json"));
  ASSERT_TRUE(ct.ok());
  ChatRenderRequest req;
  req.messages = ordered_json{{"role", "user"}};
  auto out = ct->Render(req);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "messages must be a JSON array"));
  req.messages = ordered_json::array();
  req.tools = ordered_json{{"type", "function"}};
  out = ct->Render(req);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(Contains(out.status().message(), "tools must be a JSON array"));
}

TEST(ChatTemplate, RaisedTemplateErrorReachesCaller) {
  auto ct =
      ChatTemplate::FromTokenizerConfigFile(SharedPath("tokenizers/gemma3/tokenizer_config.json"));
  ASSERT_TRUE(ct.ok()) << ct.status().message();
  ChatRenderRequest req;
  req.messages = ordered_json::parse(R"([{"role": "assistant", "content": "first"}])");
  auto out = ct->Render(req);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(IsRaisedError(out.status()));
  EXPECT_EQ(out.status().message(),
            "Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ChatTemplate, GenerationTagOfTransformersRendersItsBody) {
  // transformers' AssistantTracker adds {% generation %} to mark assistant text for masks.
  auto ct = ChatTemplate::FromString(
      "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}<a>{{ m.content }}"
      "{% endgeneration %}{% else %}<u>{{ m.content }}{% endif %}{% endfor %}");
  ASSERT_TRUE(ct.ok()) << ct.status().message();
  ChatRenderRequest req;
  req.messages = ordered_json::parse(
      R"([{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}])");
  auto out = ct->Render(req);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "<u>q<a>r");
}

TEST(ChatTemplate, ConcurrentRendersOfOneTemplateAgree) {
  auto ct = ChatTemplate::FromTokenizerConfigFile(FixturePath("configs/qwen2.5.json"));
  ASSERT_TRUE(ct.ok());
  ChatRenderRequest req;
  req.messages = ordered_json::parse(
      R"([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])");
  req.add_generation_prompt = true;
  req.tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  auto expected = ct->Render(req);
  ASSERT_TRUE(expected.ok());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto out = ct->Render(req);
        if (!out.ok() || *out != *expected) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace mies::jinja
