// Chat templates: fuzzed template source (what a model's tokenizer_config.json carries), and
// fuzzed messages / tools / documents / kwargs rendered through real models' templates.
#include <fstream>
#include <optional>
#include <sstream>

#include "entries.h"
#include "jinja/chat_template.h"
#include "support.h"

namespace mies::fuzz {
namespace {

using nlohmann::ordered_json;

ordered_json SampleMessages() {
  return ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi <b>there</b>"},
    {"role": "assistant", "content": "Hello!", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
    {"role": "tool", "content": "42", "name": "f"},
    {"role": "user", "content": [{"type": "text", "text": "and?"}]}])");
}

// The daemon's way (serving.cc): tokenizer_config.json as ordered JSON, FromTokenizerConfig.
const jinja::ChatTemplate& RealTemplate(int which) {
  static const char* const kNames[] = {"llama3", "qwen3", "gemma3"};
  static std::optional<jinja::ChatTemplate> loaded[3];
  if (!loaded[which]) {
    const std::string path =
        SharedDir() + "/tokenizers/" + kNames[which] + "/tokenizer_config.json";
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto cfg = ordered_json::parse(ss.str(), nullptr, false);
    if (cfg.is_discarded()) Die("cannot read a reference tokenizer_config.json");
    auto t = jinja::ChatTemplate::FromTokenizerConfig(cfg);
    if (!t.ok()) Die("a reference chat template does not parse");
    loaded[which].emplace(std::move(*t));
  }
  return *loaded[which];
}

}  // namespace

void InitChatTemplates() {
  for (int i = 0; i < 3; ++i) (void)RealTemplate(i);
}

Status FuzzJinjaTemplate(std::string_view data) {
  auto tmpl = jinja::ChatTemplate::FromString(
      data, {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}});
  if (!tmpl.ok()) return tmpl.status();
  jinja::ChatRenderRequest req;
  req.messages = SampleMessages();
  req.add_generation_prompt = true;
  req.tools = ordered_json::parse(
      R"([{"type":"function","function":{"name":"f","description":"d",
          "parameters":{"type":"object","properties":{"x":{"type":"integer"}}}}}])");
  req.documents = ordered_json::parse(R"([{"title":"t","text":"body"}])");
  req.extra_context = {{"enable_thinking", false}};
  auto out = tmpl->Render(req);
  return out.ok() ? OkStatus() : out.status();
}

Status FuzzChatMessages(std::string_view data) {
  if (data.empty()) return InvalidArgument("empty input");
  const int which = static_cast<uint8_t>(data[0]) % 3;
  auto doc = ordered_json::parse(data.substr(1), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("not JSON");
  jinja::ChatRenderRequest req;
  if (doc.is_array()) {
    req.messages = doc;
  } else if (doc.is_object()) {
    // The fields the OpenAI adapter fills from a request body.
    if (auto it = doc.find("messages"); it != doc.end()) req.messages = *it;
    if (auto it = doc.find("tools"); it != doc.end()) req.tools = *it;
    if (auto it = doc.find("documents"); it != doc.end()) req.documents = *it;
    if (auto it = doc.find("chat_template_kwargs"); it != doc.end() && it->is_object()) {
      req.extra_context = *it;
    }
    if (auto it = doc.find("add_generation_prompt"); it != doc.end() && it->is_boolean()) {
      req.add_generation_prompt = it->get<bool>();
    }
    if (auto it = doc.find("continue_final_message"); it != doc.end() && it->is_boolean()) {
      req.continue_final_message = it->get<bool>();
    }
  } else {
    return InvalidArgument("not an array or object");
  }
  auto out = RealTemplate(which).Render(req);
  return out.ok() ? OkStatus() : out.status();
}

}  // namespace mies::fuzz
