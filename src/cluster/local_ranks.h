// This node's ranks: one RankWorker per device the ranktable gives the local server, each with
// its weight shard loaded. Shared by the master and the slave.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/node_options.h"
#include "cluster/worker.h"
#include "common/status.h"

namespace mies::cluster {

// Loads every local rank's shard. Each rank's data plane binds its device_ip when that address
// is on this host, else the node's container_ip (logged).
StatusOr<std::vector<std::unique_ptr<RankWorker>>> LoadLocalRanks(const NodeOptions& options,
                                                                  NodeState* state);

// True when `ip` (IPv4, IPv6 or [IPv6]) is an address of this host: binding to it succeeds.
bool IsLocalAddress(const std::string& ip);

}  // namespace mies::cluster
