// The daemon's multi-node roles (BackendConfig.multiNodesInferEnabled): the master forms the
// cluster from the ranktable and drives every rank through a cluster executor; a slave joins
// and runs its ranks' shards until the master shuts the cluster down. src/cluster does the
// work; this file only adapts the daemon's startup state to it.
#pragma once

#include <functional>
#include <memory>

#include "cluster/node.h"
#include "common/status.h"
#include "config/environment.h"
#include "daemon/startup.h"
#include "engine/step_plan.h"

namespace mies::daemon {

// The KV pool of every rank, in blocks: the ModelConfig budget (npuMemSize, or the automatic
// share of available memory) divided by the size of one block of this rank's KV-head shard.
StatusOr<int64_t> ClusterKvBlocks(const StartupState& state);

// Master: loads rank 0's shard, opens the control plane and waits until every rank of the
// ranktable has joined (bounded by `wait`).
StatusOr<std::unique_ptr<cluster::ClusterMaster>> StartClusterMaster(
    const StartupState& state, const config::Environment& env, std::chrono::milliseconds wait);

// Slave: loads this node's shards and returns the node, ready to Run().
StatusOr<std::unique_ptr<cluster::ClusterSlave>> CreateClusterSlave(const StartupState& state,
                                                                    const config::Environment& env);

// An engine::Executor that forwards to one owned elsewhere (the cluster master owns its
// executor; the engine wants one it can hold).
class BorrowedExecutor final : public engine::Executor {
 public:
  explicit BorrowedExecutor(engine::Executor* target) : target_(target) {}
  StatusOr<engine::StepResult> Execute(const engine::StepPlan& plan) override {
    return target_->Execute(plan);
  }
  int64_t num_kv_blocks() const override { return target_->num_kv_blocks(); }
  int64_t block_size() const override { return target_->block_size(); }
  bool healthy() const override { return target_->healthy(); }
  std::vector<std::string> AbnormalNodes() const override { return target_->AbnormalNodes(); }

 private:
  engine::Executor* target_;
};

}  // namespace mies::daemon
