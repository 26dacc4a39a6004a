#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/matmul.h"

namespace mies::model {

void RouteTopK(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
               int32_t* experts, float* weights) {
  std::vector<float> p(static_cast<size_t>(E));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const float* z = logits + t * E;
    const float zmax = *std::max_element(z, z + E);
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += p[e] = std::exp(z[e] - zmax);
    for (int64_t e = 0; e < E; ++e) p[e] = static_cast<float>(p[e] / sum);
    for (int64_t e = 0; e < E; ++e) order[e] = static_cast<int32_t>(e);
    // Larger probability first; equal ones by lower index (a stable order).
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float total = 0;
    for (int64_t j = 0; j < k; ++j) total += p[order[j]];
    for (int64_t j = 0; j < k; ++j) {
      experts[t * k + j] = order[j];
      weights[t * k + j] = renormalize ? p[order[j]] / total : p[order[j]];
    }
  }
}

namespace {

// The k largest of `score` (size n), larger first, ties to the lower index.
void TopK(const float* score, int64_t n, int64_t k, std::vector<int32_t>& order) {
  order.resize(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) order[e] = static_cast<int32_t>(e);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
}

}  // namespace

void RouteDeepseek(const float* logits, int64_t T, const MoeConfig& c,
                   const std::vector<float>& bias, int32_t* experts, float* weights) {
  const int64_t E = c.num_experts, k = c.top_k, G = c.n_group, per_group = E / G;
  std::vector<float> scores(static_cast<size_t>(E)), choice(static_cast<size_t>(E)),
      group(static_cast<size_t>(G));
  std::vector<int32_t> order, groups;
  for (int64_t t = 0; t < T; ++t) {
    const float* z = logits + t * E;
    if (c.scoring == MoeConfig::Scoring::kSigmoid) {
      for (int64_t e = 0; e < E; ++e)
        scores[e] = static_cast<float>(1.0 / (1.0 + std::exp(-double{z[e]})));
    } else {
      const float zmax = *std::max_element(z, z + E);
      double sum = 0;
      for (int64_t e = 0; e < E; ++e) sum += scores[e] = std::exp(z[e] - zmax);
      for (int64_t e = 0; e < E; ++e) scores[e] = static_cast<float>(scores[e] / sum);
    }
    choice = scores;
    const bool noaux = c.topk_method == MoeConfig::TopkMethod::kNoauxTc;
    if (noaux && !bias.empty()) {
      for (int64_t e = 0; e < E; ++e) choice[e] += bias[e];
    }
    if (c.topk_method != MoeConfig::TopkMethod::kGreedy) {
      for (int64_t g = 0; g < G; ++g) {
        const float* s = choice.data() + g * per_group;
        if (noaux) {  // the sum of the group's best two
          float a = -INFINITY, b = -INFINITY;
          for (int64_t j = 0; j < per_group; ++j) {
            if (s[j] > a) {
              b = a;
              a = s[j];
            } else if (s[j] > b) {
              b = s[j];
            }
          }
          group[g] = a + b;
        } else {  // its best expert
          group[g] = *std::max_element(s, s + per_group);
        }
      }
      TopK(group.data(), G, c.topk_group, groups);
      std::vector<bool> keep(static_cast<size_t>(G), false);
      for (int64_t j = 0; j < c.topk_group; ++j) keep[groups[j]] = true;
      // As the published code: experts of the other groups score 0.0 (not -inf).
      for (int64_t e = 0; e < E; ++e) {
        if (!keep[e / per_group]) choice[e] = 0.0f;
      }
    }
    TopK(choice.data(), E, k, order);
    float total = 0;
    for (int64_t j = 0; j < k; ++j) total += scores[order[j]];
    const bool renorm = k > 1 && c.norm_topk_prob;
    for (int64_t j = 0; j < k; ++j) {
      float wt = scores[order[j]];
      if (renorm) wt /= total + 1e-20f;
      if (!renorm || c.scale_when_normalized) wt *= static_cast<float>(c.routed_scaling_factor);
      experts[t * k + j] = order[j];
      weights[t * k + j] = wt;
    }
  }
}

void MoeBlock::Run(const MoeWeights& w, const MoeConfig& c, const float* h, int64_t T, int64_t D,
                   float* out, ThreadPool& pool) {
  const int64_t E = c.num_experts, k = c.top_k;
  logits_.resize(static_cast<size_t>(T * E));
  const kernels::WeightView router{kernels::DType::kF32, E, D, w.router.data(), nullptr};
  kernels::Linear(h, T, router, nullptr, logits_.data(), pool);
  experts_.resize(static_cast<size_t>(T * k));
  weights_.resize(static_cast<size_t>(T * k));
  if (c.deepseek_routing) {
    RouteDeepseek(logits_.data(), T, c, w.router_bias, experts_.data(), weights_.data());
  } else {
    RouteTopK(logits_.data(), T, E, k, c.norm_topk_prob, experts_.data(), weights_.data());
  }

  // Group this rank's (token, weight) pairs by expert.
  const int64_t local = static_cast<int64_t>(w.experts.size());
  by_expert_.resize(static_cast<size_t>(local));
  for (auto& v : by_expert_) v.clear();
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = experts_[t * k + j] - w.expert_begin;
      if (e >= 0 && e < local) {
        by_expert_[e].emplace_back(static_cast<int32_t>(t), weights_[t * k + j]);
      }
    }
  }

  std::fill(out, out + T * D, 0.0f);
  last_rows_ = 0;
  for (int64_t e = 0; e < local; ++e) {
    const auto& rows = by_expert_[e];
    if (rows.empty()) continue;
    const ExpertWeights& ew = w.experts[e];
    const int64_t n = static_cast<int64_t>(rows.size());
    last_rows_ += n;
    x_.resize(static_cast<size_t>(n * D));
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(x_.data() + i * D, h + rows[i].first * D, D * sizeof(float));
    }
    y_.resize(static_cast<size_t>(n * D));
    mlp_.Run(x_.data(), n, ew.gate_up.view, ew.down.view, y_.data(), pool);
    for (int64_t i = 0; i < n; ++i) {
      float* o = out + rows[i].first * D;
      const float* y = y_.data() + i * D;
      const float wt = rows[i].second;
      for (int64_t d = 0; d < D; ++d) o[d] += wt * y[d];
    }
  }

  if (w.has_shared_expert) {
    y_.resize(static_cast<size_t>(T * D));
    mlp_.Run(h, T, w.shared_gate_up.view, w.shared_down.view, y_.data(), pool);
    for (int64_t t = 0; t < T; ++t) {
      float gate = 1.0f;
      if (!w.shared_expert_gate.empty()) {
        double z = 0;
        for (int64_t d = 0; d < D; ++d) z += double{h[t * D + d]} * w.shared_expert_gate[d];
        gate = static_cast<float>(1.0 / (1.0 + std::exp(-z)));
      }
      float* o = out + t * D;
      const float* y = y_.data() + t * D;
      for (int64_t d = 0; d < D; ++d) o[d] += gate * y[d];
    }
  }
}

}  // namespace mies::model
