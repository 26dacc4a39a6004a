// The daemon's multi-node roles (BackendConfig.multiNodesInferEnabled): the master forms the
// cluster from the ranktable and hands the engine a cluster executor; a slave joins and runs its
// ranks' shards until the master shuts the cluster down. src/cluster does the work; this file
// only adapts the daemon's startup state to it.
#pragma once

#include <chrono>
#include <memory>

#include "cluster/slave.h"
#include "common/status.h"
#include "config/environment.h"
#include "daemon/startup.h"
#include "executor/cluster_executor.h"
#include "server/cluster_view.h"

namespace mies::daemon {

// The KV pool of every rank, in blocks (runner::KvPoolBlocks over one rank's cache shape).
StatusOr<int64_t> ClusterKvBlocks(const StartupState& state);

// Master: loads rank 0's shard, opens the control plane and waits until every rank of the
// ranktable has joined (bounded by `wait`). The executor owns the master node.
StatusOr<std::unique_ptr<executor::ClusterExecutor>> StartClusterMaster(
    const StartupState& state, const config::Environment& env, std::chrono::milliseconds wait);

// The console's view of a master's cluster (GET /v1/cluster): every node of the ranktable in
// its order, the master with its own resident memory, the slaves as the master's membership
// sees them (health, last heartbeat, memory from their heartbeats), and the recent events.
server::ClusterSnapshot MasterSnapshot(const cluster::ClusterMaster& master);

// Slave: loads this node's shards and returns the node, ready to Run().
StatusOr<std::unique_ptr<cluster::ClusterSlave>> CreateClusterSlave(const StartupState& state,
                                                                    const config::Environment& env);

}  // namespace mies::daemon
