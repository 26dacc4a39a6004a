// Chat templates as Hugging Face transformers applies them (apply_chat_template): the Jinja
// template(s) from tokenizer_config.json, rendered with messages, tools, documents,
// add_generation_prompt and the tokenizer's special tokens.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "jinja/template.h"
#include "nlohmann/json.hpp"

namespace mies::jinja {

struct ChatRenderRequest {
  // JSON array of message objects. ordered_json keeps the client's key order, which
  // `tojson` in templates reproduces (transformers calls json.dumps with sort_keys=False).
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  bool add_generation_prompt = false;
  // Cut the output right after the final message's content so generation continues it
  // (transformers' continue_final_message). Exclusive with add_generation_prompt.
  bool continue_final_message = false;
  std::optional<nlohmann::ordered_json> tools;      // JSON array of tool schemas
  std::optional<nlohmann::ordered_json> documents;  // JSON array for RAG templates
  // Extra template variables (e.g. enable_thinking); they override special tokens.
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
  // Picks a named template; empty selects as transformers does ("tool_use" when tools are
  // given and such a template exists, else "default").
  std::string template_name;
};

// Thread-safe for concurrent Render() calls: rendering only reads the parsed templates.
class ChatTemplate {
 public:
  // `config` is a parsed tokenizer_config.json. Its chat_template is a string or a list of
  // {"name", "template"}; every template is parsed now, so unsupported constructs fail here.
  static StatusOr<ChatTemplate> FromTokenizerConfig(const nlohmann::json& config);
  static StatusOr<ChatTemplate> FromTokenizerConfig(const nlohmann::ordered_json& config);
  static StatusOr<ChatTemplate> FromTokenizerConfigFile(const std::string& path);
  // A single template; `special_tokens` become variables (bos_token, eos_token, ...).
  static StatusOr<ChatTemplate> FromString(
      std::string_view source,
      std::vector<std::pair<std::string, std::string>> special_tokens = {});

  StatusOr<std::string> Render(const ChatRenderRequest& request) const;

  std::vector<std::string> template_names() const;
  const std::vector<std::pair<std::string, std::string>>& special_tokens() const {
    return special_tokens_;
  }

 private:
  ChatTemplate() = default;
  template <typename Json>
  static StatusOr<ChatTemplate> FromConfigImpl(const Json& config);

  std::map<std::string, Template> templates_;
  std::vector<std::pair<std::string, std::string>> special_tokens_;
};

}  // namespace mies::jinja
