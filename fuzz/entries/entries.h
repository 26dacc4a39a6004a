// Fuzz entry points: each feeds one input to the same functions mies calls on outside input
// (files a deployment hands over, HTTP bodies, control-plane messages) and returns their verdict.
// An error Status is a normal outcome; a crash, a sanitizer report, a leak or a hang is a bug.
// The libFuzzer driver (fuzz/fuzz_main.cc) and the regression replay test (tests/fuzz/) share
// these, so a crash input replays through exactly the code that crashed.
#pragma once

#include <span>
#include <string_view>

#include "common/status.h"

namespace mies::fuzz {

struct Target {
  const char* name;  // also the folder name under fuzz/corpus/ and fuzz/regressions/
  const char* what;  // one line for reports
  Status (*run)(std::string_view data);
  // Loads what the target shares between inputs (tokenizers, templates, the model), so that the
  // first input is not charged for it (libFuzzer's per-input timeout). May be null.
  void (*init)() = nullptr;
};

// Every target, in the order scripts/fuzz.sh runs them.
std::span<const Target> Targets();
// nullptr when unknown.
const Target* FindTarget(std::string_view name);

// --- per module (one .cc each) -------------------------------------------------------------
Status FuzzConfigJson(std::string_view data);       // config.json through LoadConfigFile
Status FuzzRankTable(std::string_view data);        // ranktable.json through LoadRankTableFile
Status FuzzSafetensors(std::string_view data);      // a .safetensors file through Open
Status FuzzHfConfig(std::string_view data);         // model config.json / generation_config.json
Status FuzzTokenizerJson(std::string_view data);    // tokenizer.json through Tokenizer::FromJson
Status FuzzTokenizerEncode(std::string_view data);  // encode/decode on real tokenizers
Status FuzzJinjaTemplate(std::string_view data);    // chat template source: parse + render
Status FuzzChatMessages(std::string_view data);     // messages JSON through real chat templates
Status FuzzHttpOpenAi(std::string_view data);       // /v1/chat/completions, /v1/completions
Status FuzzHttpVllm(std::string_view data);         // vLLM /generate, /tokenize, /detokenize
Status FuzzHttpTgi(std::string_view data);          // TGI /, /generate, /generate_stream
Status FuzzHttpTriton(std::string_view data);       // Triton /v2/models/{m}/...
Status FuzzHttpNative(std::string_view data);       // MindIE /infer, /infer_token, /v1/tokenizer
Status FuzzClusterJoin(std::string_view data);      // the master's check of a JoinRequest
Status FuzzStepPlan(std::string_view data);         // a slave's step plan: decode + run

void InitTokenizers();
void InitChatTemplates();
void InitHttpServer();
void InitModelShard();

}  // namespace mies::fuzz
