// ModelRunner: one rank's model and KV-cache shard, running step plans. This is the only place a
// StepPlan becomes a forward pass; every executor goes through it: the local executor, the
// in-process tensor-parallel reference and each rank's worker in a cluster (rank 0 asks for the
// logits, the other ranks run the same plan and pass no result).
//
// A step: the plan's copy-on-write block copies, then one forward pass over all its sequences,
// asking the model for exactly StepSequence::logit_rows() rows per sequence.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "engine/step_plan.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "runner/kv_pool.h"

namespace mies::runner {

class ModelRunner {
 public:
  explicit ModelRunner(std::unique_ptr<model::LlamaModel> model);
  // Creates the runner and its KV pool in one go (local executors know the pool size up front).
  static StatusOr<std::unique_ptr<ModelRunner>> Create(std::unique_ptr<model::LlamaModel> model,
                                                       int64_t num_blocks, int64_t block_size,
                                                       KvReserve reserve = KvReserve::kLazy);

  // (Re)allocates the KV pool and reserves its pages as `reserve` says. A cluster slave learns
  // its size from the master when it joins.
  Status AllocateCache(int64_t num_blocks, int64_t block_size,
                       KvReserve reserve = KvReserve::kLazy);
  int64_t kv_pool_bytes() const { return cache_ ? cache_->bytes() : 0; }
  bool has_cache(int64_t num_blocks, int64_t block_size) const;
  int64_t num_kv_blocks() const { return cache_ ? cache_->num_blocks() : 0; }
  int64_t block_size() const { return cache_ ? cache_->shape().block_size : 0; }

  // Runs one plan. `result` (null on ranks that do not return logits) gets the logit rows in
  // plan order. An empty plan copies blocks (if any) and returns no rows.
  Status Run(const engine::StepPlan& plan, engine::StepResult* result);

  model::LlamaModel& model() { return *model_; }
  const model::LlamaModel& model() const { return *model_; }

 private:
  std::unique_ptr<model::LlamaModel> model_;
  std::unique_ptr<model::KvCache> cache_;
  std::vector<model::SequenceInput> batch_;  // reused between steps
  model::ForwardOutput out_;
};

}  // namespace mies::runner
