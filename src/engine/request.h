// The engine's own request and response types. API adapters (src/server) translate wire
// formats into these and back; the multi-node layer never sees them. Nothing here knows HTTP.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mies::grammar {
class CompiledGrammar;
}  // namespace mies::grammar

namespace mies::engine {

// Sampling parameters of one request. Unset optionals take the model's
// generation_config.json defaults, then the engine's (greedy when nothing says otherwise).
struct SamplingParams {
  std::optional<bool> do_sample;             // false: greedy whatever the temperature
  std::optional<double> temperature;         // >= 0; 0 means greedy
  std::optional<int64_t> top_k;              // 0 or -1: off
  std::optional<double> top_p;               // (0, 1]
  std::optional<double> min_p;               // [0, 1]
  std::optional<double> typical_p;           // (0, 1]
  std::optional<double> repetition_penalty;  // > 0; 1 = off
  double presence_penalty = 0;               // [-2, 2]
  double frequency_penalty = 0;              // [-2, 2]
  std::optional<uint64_t> seed;              // same seed + same prompt = same output
  int n = 1;                                 // sequences returned
  std::optional<int> best_of;          // sequences generated (>= n); best by cumulative logprob
  std::optional<int> logprobs;         // top logprobs per generated token (0..20); unset: none
  std::optional<int> prompt_logprobs;  // top logprobs per prompt token
  // Added to the logits of these ids before sampling (OpenAI's logit_bias, [-100, 100]).
  std::vector<std::pair<int32_t, float>> logit_bias;
};

struct StopConditions {
  std::optional<int64_t> max_tokens;    // unset: up to maxIterTimes / maxSeqLen
  int64_t min_tokens = 0;               // stop ids and stop strings ignored before this
  std::vector<std::string> stop;        // stop strings (excluded from the output)
  std::vector<int32_t> stop_token_ids;  // extra stop ids (included in the ids, not the text)
  bool ignore_eos = false;
  bool include_stop_str_in_output = false;
};

struct GenerateRequest {
  std::string request_id;  // unique among live requests
  std::vector<int32_t> prompt_ids;
  SamplingParams sampling;
  StopConditions stop;
  bool skip_special_tokens = true;  // for detokenized text
  bool stream = false;              // the sink wants every token as it comes
  // Structured output: every sequence's tokens must keep this grammar alive (src/grammar);
  // null: unconstrained. Compiled by the caller (errors are the caller's 4xx).
  std::shared_ptr<const grammar::CompiledGrammar> constraint;
};

enum class FinishReason { kNone, kLength, kStop, kCancelled, kError };
const char* FinishReasonName(FinishReason reason);  // "length", "stop", "cancelled", "error"

struct TopLogprob {
  int32_t token_id = 0;
  float logprob = 0;
};

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0;
  std::vector<TopLogprob> top;  // sorted by logprob, descending
};

// One event for one of the request's sequences (index in [0, n)).
struct SequenceEvent {
  int index = 0;
  std::vector<int32_t> new_token_ids;  // tokens produced since the last event
  std::string text_delta;              // complete UTF-8 only; stop strings removed
  std::vector<TokenLogprob> logprobs;  // one per new token when logprobs were asked
  FinishReason finish = FinishReason::kNone;
  std::optional<std::string> stop_reason;  // the stop string or id that ended it
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;     // over all returned sequences
  int64_t cached_prompt_tokens = 0;  // served from the prefix cache
};

// What the engine hands a sink: a batch of sequence events; `finished` is true exactly once,
// in the last output, which also carries usage. An error ends the request with `error` set
// (its code maps to an HTTP status: InvalidArgument 4xx, Unavailable 503, ...).
struct RequestOutput {
  std::string request_id;
  std::vector<SequenceEvent> events;
  std::vector<TokenLogprob> prompt_logprobs;  // in the first output, when asked
  bool finished = false;
  Usage usage;
  Status error;
  // Timing for metrics (engine clock, seconds since the request was queued).
  double first_token_s = 0;
};

// Called from the engine's thread; must not block (queue the output and return).
using OutputSink = std::function<void(RequestOutput)>;

// Live figures for health, status and metrics endpoints.
struct EngineStats {
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  int64_t block_size = 0;
  int64_t preemptions_total = 0;
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int64_t prefix_cache_queries = 0;  // prompt blocks looked up in the prefix cache
  int64_t prefix_cache_hits = 0;
  bool healthy = true;
  std::string unhealthy_reason;
  std::vector<std::string> abnormal_nodes;  // multi-node: MindIE's no_contact_node entries
};

// What the server sees of the engine.
class EngineInterface {
 public:
  virtual ~EngineInterface() = default;
  // Validates (parameter ranges, prompt length against maxInputTokenLen/maxSeqLen and
  // truncation) and queues. An error here means nothing was queued and the sink is not called.
  virtual Status Submit(GenerateRequest request, OutputSink sink) = 0;
  // Ends the request at once (no further outputs except a final kCancelled one) and frees its
  // KV blocks. Unknown ids are ignored.
  virtual void Cancel(const std::string& request_id) = 0;
  virtual EngineStats Stats() const = 0;
};

}  // namespace mies::engine
