// ClusterExecutor: runs step plans on every rank of a multi-node cluster. It owns the cluster's
// master node (cluster/master.h): a step is broadcast to all ranks and rank 0's gathered logits
// come back. When a rank is lost during a step, the step fails with Unavailable naming the lost
// node(s) as MindIE does; destroying the executor shuts the cluster down in order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/master.h"
#include "engine/step_plan.h"

namespace mies::executor {

class ClusterExecutor final : public engine::Executor {
 public:
  explicit ClusterExecutor(std::unique_ptr<cluster::ClusterMaster> master)
      : master_(std::move(master)) {}
  ~ClusterExecutor() override;

  StatusOr<engine::StepResult> Execute(const engine::StepPlan& plan) override;
  int64_t num_kv_blocks() const override { return master_->options().num_kv_blocks; }
  int64_t block_size() const override { return master_->options().block_size; }
  bool healthy() const override { return master_->healthy(); }
  std::vector<std::string> AbnormalNodes() const override { return master_->AbnormalNodes(); }
  // The master node's figures (every node sizes its ranks from its own CPUs the same way).
  engine::ExecutorResources Resources() const override;

  cluster::ClusterMaster& master() { return *master_; }

 private:
  std::unique_ptr<cluster::ClusterMaster> master_;
};

}  // namespace mies::executor
