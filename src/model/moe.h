// The sparse Mixture-of-Experts MLP of one layer on one rank (hf_config.h MoeConfig, weights.h
// MoeWeights for how experts are split over ranks).
//
//   logits[T][E] = h · routerᵀ (f32, every rank: routing must agree everywhere)
//   per token: softmax over all E, top_k (ties to the lower expert index), weights renormalized
//              to sum 1 when norm_topk_prob
//   out[t]     = Σ over the token's experts held by this rank, in expert order, of
//                weight · down(silu(gate(h[t])) · up(h[t]))   (this rank's slice of each)
//              + sigmoid(h[t] · shared_expert_gate) · shared_expert(h[t])   (its slice)
// The tokens of a step are grouped by expert, so each active expert runs one Linear over all
// the rows routed to it (a GEMM in prefill, a GEMV at batch 1 that streams only the chosen
// experts' weights). `out` is this rank's partial sum: the caller's all-reduce completes it.
#pragma once

#include <cstdint>
#include <vector>

#include "common/thread_pool.h"
#include "model/hf_config.h"
#include "model/mlp.h"
#include "model/weights.h"

namespace mies::model {

// Top-k routing of T tokens over E experts from router logits [T][E]: experts[T][k] (descending
// weight, ties to the lower index) and their weights[T][k] (softmax probabilities, renormalized
// over the k when `renormalize`).
void RouteTopK(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize,
               int32_t* experts, float* weights);

// DeepSeek's routing (MoeConfig's deepseek fields): softmax or sigmoid scores; greedy,
// group-limited or noaux_tc selection (`bias`: e_score_correction_bias [E], selection only, may
// be empty); weights renormalized and scaled by routed_scaling_factor as V2 or V3 does. Ties to
// the lower index at every top-k (groups and experts).
void RouteDeepseek(const float* logits, int64_t T, const MoeConfig& c,
                   const std::vector<float>& bias, int32_t* experts, float* weights);

class MoeBlock {
 public:
  // out[T][D] (overwritten) = this rank's share of the MoE output for the normed input h[T][D].
  void Run(const MoeWeights& w, const MoeConfig& c, const float* h, int64_t T, int64_t D,
           float* out, ThreadPool& pool);

  // Expert rows computed in the last Run (routed token-expert pairs on this rank).
  int64_t last_routed_rows() const { return last_rows_; }

 private:
  SwiGlu mlp_;
  std::vector<float> logits_, weights_, x_, y_;
  std::vector<int32_t> experts_;
  std::vector<std::vector<std::pair<int32_t, float>>> by_expert_;  // (token, weight) per expert
  int64_t last_rows_ = 0;
};

}  // namespace mies::model
