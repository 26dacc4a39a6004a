#include "jinja/chat_template.h"

#include <fstream>
#include <sstream>

#include "common/json_depth.h"
#include "jinja/py_string.h"

namespace mies::jinja {
namespace {

// tokenizer_config.json keys that transformers' special_tokens_map exposes to templates.
constexpr const char* kSpecialTokenKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                             "pad_token", "cls_token", "mask_token"};

// A special token is written either as a string or as a serialized AddedToken object.
template <typename Json>
std::optional<std::string> TokenContent(const Json& v) {
  if (v.is_string()) return v.template get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].template get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

StatusOr<ChatTemplate> ChatTemplate::FromTokenizerConfig(const nlohmann::json& config) {
  return FromConfigImpl(config);
}

StatusOr<ChatTemplate> ChatTemplate::FromTokenizerConfig(const nlohmann::ordered_json& config) {
  return FromConfigImpl(config);
}

template <typename Json>
StatusOr<ChatTemplate> ChatTemplate::FromConfigImpl(const Json& config) {
  if (!config.is_object())
    return InvalidArgument("tokenizer_config.json: top level must be an object");
  ChatTemplate ct;
  for (const char* key : kSpecialTokenKeys) {
    if (!config.contains(key) || config[key].is_null()) continue;
    auto content = TokenContent(config[key]);
    if (!content) {
      return InvalidArgument("tokenizer_config.json: '", key,
                             "' must be a string or an object with a string 'content'");
    }
    ct.special_tokens_.emplace_back(key, *content);
  }
  if (!config.contains("chat_template") || config["chat_template"].is_null()) {
    return NotFound("tokenizer_config.json has no 'chat_template'");
  }
  const auto& tmpl = config["chat_template"];
  std::vector<std::pair<std::string, std::string>> sources;
  if (tmpl.is_string()) {
    sources.emplace_back("default", tmpl.template get<std::string>());
  } else if (tmpl.is_array()) {
    for (size_t i = 0; i < tmpl.size(); ++i) {
      const auto& e = tmpl[i];
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string() ||
          !e.contains("template") || !e["template"].is_string()) {
        return InvalidArgument("tokenizer_config.json: chat_template[", i,
                               "] must be an object with string 'name' and 'template'");
      }
      sources.emplace_back(e["name"].template get<std::string>(),
                           e["template"].template get<std::string>());
    }
  } else {
    return InvalidArgument(
        "tokenizer_config.json: 'chat_template' must be a string or a list of "
        "{name, template}, got ",
        tmpl.type_name());
  }
  for (auto& [name, source] : sources) {
    auto parsed = Template::Parse(source);
    if (!parsed.ok()) {
      return InvalidArgument("chat template '", name, "': ", parsed.status().message());
    }
    ct.templates_.insert_or_assign(name, std::move(parsed).value());
  }
  return ct;
}

StatusOr<ChatTemplate> ChatTemplate::FromTokenizerConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open tokenizer config '", path, "'");
  std::stringstream buf;
  buf << in.rdbuf();
  // Key order does not matter here, and ordered_json's linear key lookup makes the large
  // added_tokens_decoder maps of some configs (Gemma: 1 MB) quadratic to parse.
  MIES_RETURN_IF_ERROR(CheckJsonTextDepth(buf.str(), "'" + path + "'"));
  auto config = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return InvalidArgument("'", path, "' is not valid JSON");
  auto ct = FromTokenizerConfig(config);
  if (!ct.ok()) return Status(ct.status().code(), absl::StrCat(path, ": ", ct.status().message()));
  return ct;
}

StatusOr<ChatTemplate> ChatTemplate::FromString(
    std::string_view source, std::vector<std::pair<std::string, std::string>> special_tokens) {
  MIES_ASSIGN_OR_RETURN(Template t, Template::Parse(source));
  ChatTemplate ct;
  ct.templates_.insert_or_assign("default", std::move(t));
  ct.special_tokens_ = std::move(special_tokens);
  return ct;
}

std::vector<std::string> ChatTemplate::template_names() const {
  std::vector<std::string> names;
  for (const auto& kv : templates_) names.push_back(kv.first);
  return names;
}

StatusOr<std::string> ChatTemplate::Render(const ChatRenderRequest& r) const {
  if (!r.messages.is_array()) return InvalidArgument("messages must be a JSON array");
  if (r.tools && !r.tools->is_array() && !r.tools->is_null()) {
    return InvalidArgument("tools must be a JSON array");
  }
  if (r.add_generation_prompt && r.continue_final_message) {
    return InvalidArgument(
        "continue_final_message and add_generation_prompt are not compatible: use "
        "continue_final_message to continue the last message, add_generation_prompt to start a "
        "new assistant turn");
  }
  if (!r.extra_context.is_object()) {
    return InvalidArgument("extra template context must be an object");
  }
  MIES_RETURN_IF_ERROR(CheckJsonDepth(r.messages, kMaxJsonDepth, "messages"));
  if (r.tools) MIES_RETURN_IF_ERROR(CheckJsonDepth(*r.tools, kMaxJsonDepth, "tools"));
  if (r.documents) MIES_RETURN_IF_ERROR(CheckJsonDepth(*r.documents, kMaxJsonDepth, "documents"));
  MIES_RETURN_IF_ERROR(CheckJsonDepth(r.extra_context, kMaxJsonDepth, "extra template context"));

  const bool has_tools = r.tools && !r.tools->is_null();
  const Template* chosen = nullptr;
  if (!r.template_name.empty()) {
    auto it = templates_.find(r.template_name);
    if (it == templates_.end()) {
      return NotFound("chat template '", r.template_name, "' does not exist");
    }
    chosen = &it->second;
  } else if (has_tools && templates_.count("tool_use")) {
    chosen = &templates_.at("tool_use");
  } else if (templates_.count("default")) {
    chosen = &templates_.at("default");
  } else {
    return InvalidArgument("this model has multiple chat templates and none is named 'default'");
  }

  std::vector<std::pair<std::string, Value>> ctx;
  ctx.emplace_back("messages", Value::FromJson(r.messages));
  ctx.emplace_back("tools", has_tools ? Value::FromJson(*r.tools) : Value::None());
  ctx.emplace_back("documents", r.documents ? Value::FromJson(*r.documents) : Value::None());
  ctx.emplace_back("add_generation_prompt", Value::Bool(r.add_generation_prompt));
  auto set = [&ctx](const std::string& k, Value v) {
    for (auto& kv : ctx) {
      if (kv.first == k) {
        kv.second = std::move(v);
        return;
      }
    }
    ctx.emplace_back(k, std::move(v));
  };
  for (const auto& [k, v] : special_tokens_) set(k, Value::String(v));
  for (auto it = r.extra_context.begin(); it != r.extra_context.end(); ++it) {
    set(it.key(), Value::FromJson(it.value()));
  }
  MIES_ASSIGN_OR_RETURN(std::string rendered, chosen->Render(ctx));

  if (r.continue_final_message) {
    if (r.messages.empty())
      return InvalidArgument("continue_final_message needs at least one message");
    const auto& last = r.messages.back();
    std::optional<std::string> final_text;
    if (last.is_object() && last.contains("content")) {
      const auto& c = last["content"];
      if (c.is_string()) {
        final_text = c.template get<std::string>();
      } else if (c.is_array()) {
        for (auto it = c.rbegin(); it != c.rend(); ++it) {
          if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
            final_text = (*it)["text"].template get<std::string>();
            break;
          }
        }
      }
    }
    if (!final_text) {
      return InvalidArgument(
          "continue_final_message is set but the final message has no text to continue");
    }
    const std::string stripped = py::Strip(*final_text, std::nullopt, true, true);
    const std::string lstripped = py::Strip(*final_text, std::nullopt, true, false);
    size_t loc = rendered.rfind(stripped);
    if (loc == std::string::npos) {
      return InvalidArgument(
          "continue_final_message is set but the final message does not appear in the rendered "
          "chat");
    }
    // As transformers: keep the message's own trailing whitespace if the template kept it.
    if (lstripped == *final_text && rendered.compare(loc, lstripped.size(), *final_text) == 0) {
      rendered.resize(loc + lstripped.size());
    } else {
      rendered.resize(loc + stripped.size());
    }
  }
  return rendered;
}

}  // namespace mies::jinja
