// The master node of a cluster (the server holding rank 0): loads its own ranks' shards, opens
// the control plane on <container_ip>:multiNodesInferPort, tracks the slaves (membership.h) and
// re-forms the data plane after faults. Steps reach rank 0's worker through Submit; the cluster
// executor (src/executor/cluster_executor.h) is what the engine sees.
//
//   auto master = ClusterMaster::Start(options);   // options: node_options.h
//   master->WaitReady(timeout);    // every rank joined and the data plane is connected
//   master->Submit(plan);          // runs a step on every rank, returns rank 0's logits
//   master->AbnormalNodes();       // for /health: ["node(127.0.1.2) is abnormal.", ...]
//   master->Shutdown();            // orderly cluster shutdown (also done by the destructor)
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cluster/membership.h"
#include "cluster/node_options.h"
#include "common/status.h"
#include "engine/step_plan.h"

namespace mies::cluster {

class MasterImpl;

class ClusterMaster {
 public:
  static StatusOr<std::unique_ptr<ClusterMaster>> Start(const NodeOptions& options);
  ~ClusterMaster();

  // Blocks until every rank has joined and the data plane is connected.
  Status WaitReady(std::chrono::milliseconds timeout);
  // Runs one plan on every rank (broadcast, forward on each shard) and returns rank 0's logits.
  // Unavailable when the data plane is not formed or a rank is lost during the step.
  StatusOr<engine::StepResult> Submit(const engine::StepPlan& plan);

  ClusterState state() const;
  bool healthy() const { return state() == ClusterState::kHealthy; }
  // MindIE's no_contact_node entries: "node(<container_ip>) is abnormal." for each node that is
  // not joined and connected.
  std::vector<std::string> AbnormalNodes() const;
  // Why steps cannot run now (the missing nodes and why), for Unavailable errors.
  std::string UnavailableReason() const;
  const NodeOptions& options() const;
  // Seconds spent in rank 0's collectives since the last call (benchmarks).
  double TakeCollectiveSeconds();
  int64_t kv_pool_bytes_per_rank() const;
  // The slaves' health, the epoch and the recent cluster events (the console's /v1/cluster).
  Membership::View Snapshot() const;
  void Shutdown();

 private:
  explicit ClusterMaster(std::unique_ptr<MasterImpl> impl);
  std::unique_ptr<MasterImpl> impl_;
};

}  // namespace mies::cluster
