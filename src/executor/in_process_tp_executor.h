// InProcessTpExecutor: `tp` tensor-parallel ranks as threads of this process, joined by
// model::InProcessGroup, each a runner::ModelRunner over its own shard. The reference a cluster
// is compared against: with the same summation order (rank order), a deterministic cluster must
// match it bit for bit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/step_plan.h"
#include "model/collective.h"
#include "runner/model_runner.h"

namespace mies::executor {

class InProcessTpExecutor final : public engine::Executor {
 public:
  // `moe_ep`: MoE expert groups (model::ParallelConfig::moe_ep); ignored by dense models.
  static StatusOr<std::unique_ptr<InProcessTpExecutor>> Create(const std::string& model_dir,
                                                               const std::string& dtype, int tp,
                                                               int64_t num_blocks,
                                                               int64_t block_size, int moe_ep = 1);

  StatusOr<engine::StepResult> Execute(const engine::StepPlan& plan) override;
  int64_t num_kv_blocks() const override { return ranks_[0].runner->num_kv_blocks(); }
  int64_t block_size() const override { return ranks_[0].runner->block_size(); }

 private:
  explicit InProcessTpExecutor(int tp) : group_(tp) {}
  struct Rank {
    std::unique_ptr<model::Collective> collective;
    std::unique_ptr<runner::ModelRunner> runner;
  };
  model::InProcessGroup group_;
  std::vector<Rank> ranks_;
};

}  // namespace mies::executor
