// LocalExecutor: runs step plans in this process on one rank (tensor-parallel size 1), through
// a runner::ModelRunner. What a single-node daemon and the engine's tests use.
#pragma once

#include <cstdint>
#include <memory>

#include "config/config.h"
#include "engine/step_plan.h"
#include "runner/model_runner.h"

namespace mies::executor {

class LocalExecutor final : public engine::Executor {
 public:
  explicit LocalExecutor(std::unique_ptr<runner::ModelRunner> runner,
                         engine::ExecutorResources resources = {})
      : runner_(std::move(runner)), resources_(std::move(resources)) {}
  // From config.json: ModelConfig[0]'s model (worldSize must be 1), dtype and cpuThreads (0: the
  // machine's cores); the KV pool is sized by runner::KvPoolBlocks once the weights are loaded.
  static StatusOr<std::unique_ptr<LocalExecutor>> FromConfig(const config::Config& config);

  StatusOr<engine::StepResult> Execute(const engine::StepPlan& plan) override;
  int64_t num_kv_blocks() const override { return runner_->num_kv_blocks(); }
  int64_t block_size() const override { return runner_->block_size(); }
  engine::ExecutorResources Resources() const override { return resources_; }
  runner::ModelRunner& runner() { return *runner_; }

 private:
  std::unique_ptr<runner::ModelRunner> runner_;
  engine::ExecutorResources resources_;
};

}  // namespace mies::executor
