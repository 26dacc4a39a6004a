// Turns one row of logits into the next token of one sequence.
//
// Processing order (same as Hugging Face's logits processors/warpers, so that a request behaves
// the same here as under transformers' generate):
//   1. min_tokens: EOS and stop ids are masked while fewer than min_tokens were generated;
//   2. repetition_penalty over prompt + generated ids (positive logits divided, negative
//      multiplied); presence/frequency penalties over generated ids (OpenAI's definition);
//      logit_bias added;
//   3. greedy: argmax (lowest id on ties). Otherwise temperature, top_k, top_p, min_p,
//      typical_p (each renormalizing over the survivors), then one draw from the sequence's
//      own RNG.
// Reported logprobs are those of the model's raw distribution (log_softmax of the unprocessed
// logits, as vLLM reports by default); best_of ranks sequences by their sum. Under a grammar
// constraint the raw logits are masked first (vLLM applies the grammar bitmask to the logits
// before its sampler computes logprobs): logprobs are renormalized over the allowed tokens and
// top logprobs list allowed tokens only.
//
// Each sequence owns its RNG, seeded from (request seed, sequence index) and advanced exactly
// once per sampled token, so a seeded request draws the same numbers whatever else shares its
// batch, and whether or not it was preempted and recomputed.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/request.h"

namespace mies::engine {

// A request's sampling parameters after defaults were applied and ranges checked.
struct ResolvedSampling {
  bool greedy = true;
  double temperature = 1.0;
  int64_t top_k = 0;  // 0: off
  double top_p = 1.0;
  double min_p = 0.0;
  double typical_p = 1.0;
  double repetition_penalty = 1.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  uint64_t seed = 0;
  int n = 1;
  int best_of = 1;
  int logprobs = -1;                                  // -1: none
  int prompt_logprobs = -1;                           // -1: none
  std::vector<std::pair<int32_t, float>> logit_bias;  // ids in the vocabulary
};

// Per-sequence state the penalties need.
struct PenaltyState {
  std::unordered_set<int32_t> prompt_ids;          // only filled when repetition_penalty != 1
  std::unordered_map<int32_t, int32_t> generated;  // id -> count
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0;            // raw log-probability of `token`
  std::vector<TopLogprob> top;  // when asked
};

// Deterministic RNG for one sequence.
std::mt19937_64 SequenceRng(uint64_t seed, int sequence_index);

// `scratch` is reused between calls to avoid allocations. `masked` lists ids that must not be
// sampled (min_tokens). `num_top` >= 0 computes SampleResult::logprob and fills `top` with that
// many entries; -1 skips both (unless best_of > n needs the logprob for ranking). `allowed`, when
// not empty, is a grammar bitmask (bit id % 64 of word id / 64; ids past its end are not
// allowed): only its tokens can be drawn, and logprobs are those of the masked distribution. At
// least one allowed token must remain.
SampleResult Sample(const ResolvedSampling& params, std::span<const float> logits,
                    const PenaltyState& penalties, std::span<const int32_t> masked, int num_top,
                    std::mt19937_64& rng, std::vector<float>& scratch,
                    std::span<const uint64_t> allowed = {});

// Raw log-probability of `token` and the `num_top` most likely ids of one logits row.
TokenLogprob RawLogprobs(std::span<const float> logits, int32_t token, int num_top);

}  // namespace mies::engine
