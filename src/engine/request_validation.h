// Checks a GenerateRequest against the parameter ranges and the deployment's limits, applies
// generation_config.json defaults and the prompt truncation rule, and yields the values the
// engine runs with. Every error names the parameter, the rule and the value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "model/hf_config.h"

namespace mies::engine {

struct RequestLimits {
  int64_t max_seq_len = 2560;       // ModelDeployConfig.maxSeqLen
  int64_t max_input_tokens = 2048;  // min(maxInputTokenLen, maxSeqLen - 1)
  int truncation = 0;               // -1 keep head, 0 reject, 1 keep tail
  int64_t max_iter_times = 512;     // ScheduleConfig.maxIterTimes
  int max_n = 128;                  // ScheduleConfig.maxN
  int max_batch_size = 200;         // n / best_of may not exceed it
  int64_t vocab_size = 0;           // model vocabulary (logits width)
  int64_t top_k_cap = 1000;         // generation_config top_k, else 1000 (MindIE's cap)
  int64_t pool_tokens = 0;          // KV pool capacity in tokens (0: unchecked)
};

struct ResolvedRequest {
  std::vector<int32_t> prompt;  // after truncation
  ResolvedSampling sampling;
  int64_t max_tokens = 0;  // effective: also bounded by maxSeqLen and the KV pool
  int64_t min_tokens = 0;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;
  bool stream = false;
  std::shared_ptr<const grammar::CompiledGrammar> constraint;  // null: unconstrained
};

// `random_seed` is used when the request has no seed.
StatusOr<ResolvedRequest> ResolveRequest(const GenerateRequest& request,
                                         const model::GenerationDefaults& defaults,
                                         const RequestLimits& limits, uint64_t random_seed);

}  // namespace mies::engine
