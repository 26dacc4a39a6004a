// What the route handlers share: the served model's facts, the tokenizer and chat template, the
// engine (through EngineInterface only), metrics, the live-request registry and service state.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.h"
#include "engine/request.h"
#include "engine/step_plan.h"
#include "jinja/chat_template.h"
#include "server/cluster_view.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"

namespace mies::server {

class ToolCallFormat;      // server/tool_call_parser.h
class ConstraintCompiler;  // server/constraint_spec.h
class ApiKeyStore;         // server/api_key_store.h

struct ModelInfo {
  std::string name;         // modelName: what clients send as `model`
  std::string weight_path;  // absolute model directory
  std::string torch_dtype = "float32";
  std::string instance_type = "Standard";
  int64_t vocab_size = 0;
  int64_t max_seq_len = 2560;
  int64_t max_input_tokens = 2048;  // min(maxInputTokenLen, maxSeqLen - 1)
  int64_t max_iter_times = 512;
  int64_t max_prefill_tokens = 8192;
  int max_batch_size = 200;
  int max_prefill_batch_size = 50;
  int max_n = 128;
  int cache_block_size = 128;
  int world_size = 1;
  int npu_mem_size = -1;
  int cpu_mem_size = 0;
  int prefill_policy_type = 0;
  int decode_policy_type = 0;
  int64_t max_request_chars = 40ll << 20;  // maxRequestLength x 2^20 (UTF-16 units)
  bool native_openai = false;              // openAiSupport != "vllm"
  bool full_text = false;                  // fullTextEnabled
  // Chat output parsing (ConfigureChatOutput in chat_output.h): the syntax the model writes tool
  // calls in (null: none known) and whether <think> blocks become reasoning_content.
  const ToolCallFormat* tool_format = nullptr;
  bool reasoning = false;

  static ModelInfo FromConfig(const config::Config& config, int64_t vocab_size);
};

// Maps the ids clients know (Triton `id`, OpenAI `id`) to live engine requests, for stopInfer.
class RequestRegistry {
 public:
  void Add(const std::string& public_id, const std::string& engine_id);
  void Remove(const std::string& public_id);
  std::optional<std::string> Find(const std::string& public_id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> ids_;
};

struct ServingContext {
  ModelInfo model;
  const config::Config* config = nullptr;
  const tokenizer::Tokenizer* tokenizer = nullptr;
  const jinja::ChatTemplate* chat_template = nullptr;  // null: the model has none
  engine::EngineInterface* engine = nullptr;
  Metrics* metrics = nullptr;
  // Compiles structured-output constraints (response_format, guided_*, tool_choice) for the
  // engine; null: this build has no grammar engine and such requests are refused.
  ConstraintCompiler* constraints = nullptr;
  // ServerConfig.apiKeyFile's keys: the service plane's routes need one (router.cc); null: keys
  // are off.
  ApiKeyStore* api_keys = nullptr;
  RequestRegistry registry;
  bool monitor_mode = false;         // MIES_SERVICE_MONITOR_MODE=1: /metrics enabled
  std::atomic<bool> ready{true};     // engine started
  std::atomic<bool> stopped{false};  // /stopService was called
  std::atomic<uint64_t> next_id{0};
  int64_t start_time_s = 0;             // unix seconds, for "created"
  engine::ExecutorResources resources;  // /v1/status "resources"
  std::string version = "0.1.0";
  // The console (GET /v1/cluster): the model's layout, the cluster's nodes, state and events
  // (null: a single node described from this context), and the service plane's URL for its
  // playground ("<http|https>://<ipAddress>:<port>").
  ModelLayout layout;
  std::function<ClusterSnapshot()> cluster_view;
  std::string service_url;
  // CORS on the service plane: the origins whose browsers may call it ("*": any). The daemon
  // puts the management plane's own origin first, then ServerConfig.allowedOrigins.
  std::vector<std::string> allowed_origins;

  std::string NewRequestId() { return "endpoint_common_" + std::to_string(++next_id); }
};

}  // namespace mies::server
