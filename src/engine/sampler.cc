#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace mies::engine {
namespace {

// Uniform double in [0, 1) from 53 random bits (std::uniform_real_distribution's output is
// implementation-defined; this is not).
double Uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct LogSumExp {
  float max;
  double log_sum;
};

bool Allowed(std::span<const uint64_t> allowed, size_t id) {
  return allowed.empty() ||
         (id / 64 < allowed.size() && ((allowed[id / 64] >> (id % 64)) & 1) != 0);
}

// Over the allowed ids only (all when `allowed` is empty).
LogSumExp ComputeLse(std::span<const float> x, std::span<const uint64_t> allowed = {}) {
  float m = -std::numeric_limits<float>::infinity();
  double s = 0;
  if (allowed.empty()) {
    for (float v : x) m = std::max(m, v);
    for (float v : x) s += std::exp(static_cast<double>(v - m));
  } else {
    for (size_t i = 0; i < x.size(); ++i) {
      if (Allowed(allowed, i)) m = std::max(m, x[i]);
    }
    for (size_t i = 0; i < x.size(); ++i) {
      if (Allowed(allowed, i)) s += std::exp(static_cast<double>(x[i] - m));
    }
  }
  return {m, std::log(s)};
}

std::vector<TopLogprob> TopOf(std::span<const float> logits, const LogSumExp& lse, int num_top,
                              std::span<const uint64_t> allowed = {}) {
  std::vector<TopLogprob> top;
  if (num_top <= 0) return top;
  std::vector<int32_t> idx;
  if (allowed.empty()) {
    idx.resize(logits.size());
    std::iota(idx.begin(), idx.end(), 0);
  } else {
    for (size_t i = 0; i < logits.size(); ++i) {
      if (Allowed(allowed, i)) idx.push_back(static_cast<int32_t>(i));
    }
  }
  const int64_t k = std::min<int64_t>(num_top, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int64_t i = 0; i < k; ++i) {
    top.push_back({idx[i], static_cast<float>(logits[idx[i]] - lse.max - lse.log_sum)});
  }
  return top;
}

}  // namespace

std::mt19937_64 SequenceRng(uint64_t seed, int sequence_index) {
  return std::mt19937_64(sequence_index == 0 ? seed : seed ^ Mix(sequence_index));
}

TokenLogprob RawLogprobs(std::span<const float> logits, int32_t token, int num_top) {
  const LogSumExp lse = ComputeLse(logits);
  TokenLogprob out;
  out.token_id = token;
  out.logprob = static_cast<float>(logits[token] - lse.max - lse.log_sum);
  out.top = TopOf(logits, lse, num_top);
  return out;
}

SampleResult Sample(const ResolvedSampling& p, std::span<const float> logits,
                    const PenaltyState& pen, std::span<const int32_t> masked, int num_top,
                    std::mt19937_64& rng, std::vector<float>& x,
                    std::span<const uint64_t> allowed) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  x.assign(logits.begin(), logits.end());
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (p.repetition_penalty != 1.0) {
    auto apply = [&](int32_t id) {
      float& v = x[id];
      v = v > 0 ? static_cast<float>(v / p.repetition_penalty)
                : static_cast<float>(v * p.repetition_penalty);
    };
    for (int32_t id : pen.prompt_ids) apply(id);
    for (const auto& [id, count] : pen.generated) {
      if (!pen.prompt_ids.contains(id)) apply(id);
    }
  }
  if (p.presence_penalty != 0 || p.frequency_penalty != 0) {
    for (const auto& [id, count] : pen.generated) {
      x[id] -= static_cast<float>(p.presence_penalty + p.frequency_penalty * count);
    }
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id >= 0 && id < vocab) x[id] += bias;
  }
  for (int32_t id : masked) {
    if (id >= 0 && id < vocab) x[id] = kNegInf;
  }
  if (!allowed.empty()) {
    // Whole words at a time: structural grammar states allow few tokens, string states most.
    for (int64_t w = 0; w * 64 < vocab; ++w) {
      const uint64_t bits = static_cast<size_t>(w) < allowed.size() ? allowed[w] : 0;
      if (bits == ~uint64_t{0}) continue;
      const int64_t end = std::min<int64_t>(vocab, (w + 1) * 64);
      for (int64_t id = w * 64; id < end; ++id) {
        if (((bits >> (id - w * 64)) & 1) == 0) x[id] = kNegInf;
      }
    }
  }

  int32_t token = 0;
  if (p.greedy) {
    token = static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  } else {
    // Candidates sorted by processed logit, descending (ties: lower id first), cut by top_k.
    // Masked ids (-inf: min_tokens, a grammar) never survive, so they are not sorted: under a
    // grammar most steps leave a few candidates.
    std::vector<int32_t> idx;
    idx.reserve(vocab);
    for (int32_t id = 0; id < vocab; ++id) {
      if (x[id] != kNegInf) idx.push_back(id);
    }
    if (idx.empty()) {
      idx.resize(vocab);
      std::iota(idx.begin(), idx.end(), 0);
    }
    const int64_t n = static_cast<int64_t>(idx.size());
    auto by_logit = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
    int64_t k = (p.top_k > 0 && p.top_k < n) ? p.top_k : n;
    if (k < n) {
      std::nth_element(idx.begin(), idx.begin() + k, idx.end(), by_logit);
      idx.resize(k);
    }
    std::sort(idx.begin(), idx.end(), by_logit);
    while (idx.size() > 1 && x[idx.back()] == kNegInf) idx.pop_back();
    // Probabilities at the temperature, over the survivors.
    std::vector<double> prob(idx.size());
    const double top_logit = x[idx[0]];
    double sum = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      prob[i] = std::exp((x[idx[i]] - top_logit) / p.temperature);
      sum += prob[i];
    }
    for (double& v : prob) v /= sum;
    size_t keep = prob.size();
    if (p.top_p < 1.0) {  // smallest prefix whose mass reaches top_p
      double c = 0;
      for (size_t i = 0; i < keep; ++i) {
        c += prob[i];
        if (c >= p.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    if (p.min_p > 0.0) {  // drop tokens below min_p x the top probability
      const double floor = p.min_p * prob[0];
      size_t i = 1;
      while (i < keep && prob[i] >= floor) ++i;
      keep = i;
    }
    if (p.typical_p < 1.0 && keep > 1) {
      // Typical sampling (Meister et al.): keep the tokens whose surprisal is closest to the
      // entropy until their mass reaches typical_p.
      double z = 0;
      for (size_t i = 0; i < keep; ++i) z += prob[i];
      double entropy = 0;
      for (size_t i = 0; i < keep; ++i) {
        const double q = prob[i] / z;
        if (q > 0) entropy -= q * std::log(q);
      }
      std::vector<size_t> order(keep);
      std::iota(order.begin(), order.end(), 0);
      auto dev = [&](size_t i) { return std::abs(-std::log(prob[i] / z) - entropy); };
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return dev(a) < dev(b); });
      double c = 0;
      size_t cut = keep;
      for (size_t j = 0; j < keep; ++j) {
        c += prob[order[j]] / z;
        if (c >= p.typical_p) {
          cut = j + 1;
          break;
        }
      }
      std::vector<int32_t> nidx;
      std::vector<double> nprob;
      std::sort(order.begin(), order.begin() + cut);  // back to descending-probability order
      for (size_t j = 0; j < cut; ++j) {
        nidx.push_back(idx[order[j]]);
        nprob.push_back(prob[order[j]]);
      }
      idx = std::move(nidx);
      prob = std::move(nprob);
      keep = idx.size();
    }
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) mass += prob[i];
    const double u = Uniform(rng) * mass;
    double c = 0;
    token = idx[keep - 1];
    for (size_t i = 0; i < keep; ++i) {
      c += prob[i];
      if (u < c) {
        token = idx[i];
        break;
      }
    }
  }
  SampleResult r;
  r.token = token;
  if (num_top >= 0 || p.best_of > p.n) {  // the O(vocab) exp pass only when someone reads it
    const LogSumExp lse = ComputeLse(logits, allowed);
    r.logprob = static_cast<float>(logits[token] - lse.max - lse.log_sum);
    if (num_top > 0) r.top = TopOf(logits, lse, num_top, allowed);
  }
  return r;
}

}  // namespace mies::engine
