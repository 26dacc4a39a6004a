#include "engine/request_validation.h"

#include <cfloat>
#include <cmath>
#include <limits>

namespace mies::engine {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr uint64_t kSeedMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr size_t kMaxStops = 1024;
constexpr size_t kMaxStopLen = 1024;
constexpr size_t kMaxStopTotal = 32768;
constexpr int kMaxLogprobs = 20;

bool Finite(double v) { return std::isfinite(v); }

}  // namespace

StatusOr<ResolvedRequest> ResolveRequest(const GenerateRequest& req,
                                         const model::GenerationDefaults& defaults,
                                         const RequestLimits& limits, uint64_t random_seed) {
  const SamplingParams& sp = req.sampling;
  const StopConditions& sc = req.stop;
  ResolvedRequest out;
  ResolvedSampling& r = out.sampling;

  if (req.request_id.empty()) return InvalidArgument("request_id must not be empty");

  // Sampling ranges.
  if (sp.temperature &&
      (!Finite(*sp.temperature) || *sp.temperature < 0 || *sp.temperature > FLT_MAX)) {
    return InvalidArgument("Parameter temperature must be in [0.0, ", FLT_MAX, "], got ",
                           *sp.temperature, ".");
  }
  if (sp.top_k && (*sp.top_k < -1 || *sp.top_k > kInt32Max)) {
    return InvalidArgument("Parameter top_k must be in -1 || [0, 2147483647], got ", *sp.top_k,
                           ".");
  }
  if (sp.top_p && (!Finite(*sp.top_p) || *sp.top_p <= 0 || *sp.top_p > 1)) {
    return InvalidArgument("Parameter top_p must be in (0.0, 1.0], got ", *sp.top_p, ".");
  }
  if (sp.min_p && (!Finite(*sp.min_p) || *sp.min_p < 0 || *sp.min_p > 1)) {
    return InvalidArgument("Parameter min_p must be in [0.0, 1.0], got ", *sp.min_p, ".");
  }
  if (sp.typical_p && (!Finite(*sp.typical_p) || *sp.typical_p <= 0 || *sp.typical_p > 1)) {
    return InvalidArgument("Parameter typical_p must be in (0.0, 1.0], got ", *sp.typical_p, ".");
  }
  if (sp.repetition_penalty && (!Finite(*sp.repetition_penalty) || *sp.repetition_penalty <= 0 ||
                                *sp.repetition_penalty > FLT_MAX)) {
    return InvalidArgument("Parameter repetition_penalty must be in (0.0, ", FLT_MAX, "], got ",
                           *sp.repetition_penalty, ".");
  }
  if (!Finite(sp.presence_penalty) || sp.presence_penalty < -2 || sp.presence_penalty > 2) {
    return InvalidArgument("Parameter presence_penalty must be in [-2.0, 2.0], got ",
                           sp.presence_penalty, ".");
  }
  if (!Finite(sp.frequency_penalty) || sp.frequency_penalty < -2 || sp.frequency_penalty > 2) {
    return InvalidArgument("Parameter frequency_penalty must be in [-2.0, 2.0], got ",
                           sp.frequency_penalty, ".");
  }
  if (sp.seed && *sp.seed > kSeedMax) {
    return InvalidArgument("Parameter seed must be in [0, 9223372036854775807], got ", *sp.seed,
                           ".");
  }
  const int n_cap = std::min(limits.max_n, limits.max_batch_size);
  if (sp.n < 1 || sp.n > n_cap) {
    return InvalidArgument("Parameter n must be in [1, ", n_cap, "] (maxN and maxBatchSize), got ",
                           sp.n, ".");
  }
  const int best_of = sp.best_of.value_or(sp.n);
  if (best_of < sp.n || best_of > n_cap) {
    return InvalidArgument("Parameter best_of must be in [n=", sp.n, ", ", n_cap,
                           "] (maxN and maxBatchSize), got ", best_of, ".");
  }
  if (req.stream && best_of != sp.n) {
    return InvalidArgument("Parameter best_of must be equal to n in stream mode, got best_of=",
                           best_of, " n=", sp.n, ".");
  }
  if (sp.logprobs && (*sp.logprobs < 0 || *sp.logprobs > kMaxLogprobs)) {
    return InvalidArgument("Parameter logprobs must be in [0, ", kMaxLogprobs, "], got ",
                           *sp.logprobs, ".");
  }
  if (sp.prompt_logprobs && (*sp.prompt_logprobs < 0 || *sp.prompt_logprobs > kMaxLogprobs)) {
    return InvalidArgument("Parameter prompt_logprobs must be in [0, ", kMaxLogprobs, "], got ",
                           *sp.prompt_logprobs, ".");
  }

  for (const auto& [id, bias] : sp.logit_bias) {
    if (id < 0 || (limits.vocab_size > 0 && id >= limits.vocab_size)) {
      return InvalidArgument("token id ", id, " in logit_bias is outside the vocabulary (size ",
                             limits.vocab_size, ").");
    }
    if (!Finite(bias) || bias < -100 || bias > 100) {
      return InvalidArgument("logit_bias of token ", id, " must be in [-100, 100], got ", bias,
                             ".");
    }
  }
  r.logit_bias = sp.logit_bias;

  // Defaults: the request, then generation_config.json, then greedy.
  r.temperature = sp.temperature.value_or(defaults.temperature.value_or(1.0));
  int64_t top_k = sp.top_k.value_or(defaults.top_k.value_or(0));
  if (top_k < 0) top_k = 0;
  if (top_k > 0) top_k = std::min({top_k, limits.top_k_cap, limits.vocab_size});
  r.top_k = top_k;
  r.top_p = sp.top_p.value_or(defaults.top_p.value_or(1.0));
  r.min_p = sp.min_p.value_or(0.0);
  r.typical_p = sp.typical_p.value_or(1.0);
  r.repetition_penalty = sp.repetition_penalty.value_or(defaults.repetition_penalty.value_or(1.0));
  r.presence_penalty = sp.presence_penalty;
  r.frequency_penalty = sp.frequency_penalty;
  bool do_sample;
  if (sp.do_sample) {
    do_sample = *sp.do_sample;
  } else if (sp.temperature || sp.top_k || sp.top_p || sp.min_p || sp.typical_p || sp.seed) {
    do_sample = true;  // the request asked for sampling by setting a sampling parameter
  } else {
    do_sample = defaults.do_sample.value_or(false);
  }
  r.greedy = !do_sample || r.temperature == 0.0;
  r.seed = sp.seed.value_or(random_seed & kSeedMax);
  r.n = sp.n;
  r.best_of = best_of;
  if (r.greedy && best_of > 1) {
    return InvalidArgument(
        "Parameters best_of/n can not be greater than 1 with greedy decoding "
        "(temperature 0 or do_sample false), got best_of=",
        best_of, " n=", sp.n, ".");
  }
  r.logprobs = sp.logprobs.value_or(-1);
  r.prompt_logprobs = sp.prompt_logprobs.value_or(-1);

  // Stop conditions.
  if (sc.max_tokens && (*sc.max_tokens <= 0 || *sc.max_tokens > kInt32Max)) {
    return InvalidArgument("Parameter max_tokens must be in (0, 2147483647], got ", *sc.max_tokens,
                           ".");
  }
  if (sc.min_tokens < 0 || (sc.max_tokens && sc.min_tokens > *sc.max_tokens)) {
    return InvalidArgument("Parameter min_tokens must be in [0, max_tokens=",
                           sc.max_tokens.value_or(kInt32Max), "], got ", sc.min_tokens, ".");
  }
  if (sc.stop.size() > kMaxStops) {
    return InvalidArgument("Parameter stop must have at most ", kMaxStops, " items, got ",
                           sc.stop.size(), ".");
  }
  size_t total = 0;
  for (size_t i = 0; i < sc.stop.size(); ++i) {
    const size_t len = sc.stop[i].size();
    if (len < 1 || len > kMaxStopLen) {
      return InvalidArgument("Parameter stop[", i, "] length must be in [1, ", kMaxStopLen,
                             "], got ", len, ".");
    }
    total += len;
  }
  if (total > kMaxStopTotal) {
    return InvalidArgument("Parameter stop total length must be <= ", kMaxStopTotal, ", got ",
                           total, ".");
  }
  for (int32_t id : sc.stop_token_ids) {
    if (id < 0 || id >= limits.vocab_size) {
      return InvalidArgument("Parameter stop_token_ids item must be in [0, ", limits.vocab_size,
                             "), got ", id, ".");
    }
  }
  out.stop = sc.stop;
  out.stop_token_ids = sc.stop_token_ids;
  out.ignore_eos = sc.ignore_eos;
  out.include_stop_str_in_output = sc.include_stop_str_in_output;
  out.min_tokens = sc.min_tokens;
  out.skip_special_tokens = req.skip_special_tokens;
  out.stream = req.stream;
  out.constraint = req.constraint;

  // Prompt: ids in range, length against maxInputTokenLen/maxSeqLen with the truncation rule.
  if (req.prompt_ids.empty()) return InvalidArgument("prompt must contain at least one token");
  for (size_t i = 0; i < req.prompt_ids.size(); ++i) {
    const int32_t id = req.prompt_ids[i];
    if (id < 0 || id >= limits.vocab_size) {
      return InvalidArgument("prompt token ", i, " is ", id, ", outside the vocabulary [0, ",
                             limits.vocab_size, ")");
    }
  }
  const int64_t len = static_cast<int64_t>(req.prompt_ids.size());
  const int64_t cap = limits.max_input_tokens;
  if (len > cap) {
    if (limits.truncation == 0) {
      return InvalidArgument("prompt has ", len, " tokens, more than the maximum input length ",
                             cap, " (min(maxInputTokenLen, maxSeqLen - 1)) and truncation is off");
    }
    if (limits.truncation < 0) {
      out.prompt.assign(req.prompt_ids.begin(), req.prompt_ids.begin() + cap);
    } else {
      out.prompt.assign(req.prompt_ids.end() - cap, req.prompt_ids.end());
    }
  } else {
    out.prompt = req.prompt_ids;
  }
  const int64_t plen = static_cast<int64_t>(out.prompt.size());
  if (limits.pool_tokens > 0 && plen + 1 > limits.pool_tokens) {
    return InvalidArgument("prompt has ", plen, " tokens; the KV cache pool holds ",
                           limits.pool_tokens, " tokens in all (raise npuMemSize)");
  }
  int64_t max_tokens =
      std::min(sc.max_tokens.value_or(limits.max_iter_times), limits.max_iter_times);
  max_tokens = std::min(max_tokens, limits.max_seq_len - plen);
  if (limits.pool_tokens > 0) max_tokens = std::min(max_tokens, limits.pool_tokens - plen);
  if (max_tokens < 1) {
    return InvalidArgument("prompt has ", plen,
                           " tokens, leaving no room to generate within "
                           "maxSeqLen ",
                           limits.max_seq_len);
  }
  out.max_tokens = max_tokens;
  return out;
}

}  // namespace mies::engine
