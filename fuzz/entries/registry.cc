#include "entries.h"

namespace mies::fuzz {
namespace {

constexpr Target kTargets[] = {
    {"config_json", "config.json through LoadConfigFile (file rules, JSON, validation)",
     FuzzConfigJson},
    {"ranktable", "ranktable.json through LoadRankTableFile and LocateLocalServer", FuzzRankTable},
    {"safetensors", "a model.safetensors file through Checkpoint::Open", FuzzSafetensors},
    {"hf_config", "model config.json / generation_config.json parsers", FuzzHfConfig},
    {"tokenizer_json", "tokenizer.json through Tokenizer::FromJson, then encode/decode",
     FuzzTokenizerJson},
    {"tokenizer_encode", "encode / decode / streaming decode on real tokenizers",
     FuzzTokenizerEncode, InitTokenizers},
    {"jinja_template", "chat template source: parse and render", FuzzJinjaTemplate},
    {"chat_messages", "messages/tools JSON through the llama3, qwen3, gemma3 templates",
     FuzzChatMessages, InitChatTemplates},
    {"http_openai", "OpenAI /v1/chat/completions and /v1/completions bodies", FuzzHttpOpenAi,
     InitHttpServer},
    {"http_vllm", "vLLM /generate, /tokenize, /detokenize bodies", FuzzHttpVllm, InitHttpServer},
    {"http_tgi", "TGI /, /generate, /generate_stream bodies", FuzzHttpTgi, InitHttpServer},
    {"http_triton", "Triton /v2/models/{m}/generate|generate_stream|infer|stopInfer bodies",
     FuzzHttpTriton, InitHttpServer},
    {"http_native", "MindIE /infer, /infer_token, /v1/tokenizer bodies", FuzzHttpNative,
     InitHttpServer},
    {"cluster_join", "JoinRequest wire bytes through the master's join check", FuzzClusterJoin},
    {"step_plan", "step plan bytes through decoding and a rank's ModelRunner", FuzzStepPlan,
     InitModelShard},
};

}  // namespace

std::span<const Target> Targets() { return kTargets; }

const Target* FindTarget(std::string_view name) {
  for (const Target& t : kTargets) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

}  // namespace mies::fuzz
