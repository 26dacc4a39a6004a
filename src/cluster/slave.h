// A slave node of a cluster: loads its ranks' shards, joins the master over the control plane
// (retrying for timeouts.join_total, so start order does not matter), sends heartbeats, and runs
// its ranks until the master shuts the cluster down (OK) or a fatal error (a refused join, a
// master gone for longer than master_rejoin_total).
//
//   auto slave = ClusterSlave::Create(options);   // options: node_options.h
//   slave->Run(on_joined);   // on_joined runs after the first join ("Daemon start success!")
//   slave->Stop();           // from another thread (SIGTERM): leave
#pragma once

#include <functional>
#include <memory>

#include "cluster/node_options.h"
#include "common/status.h"

namespace mies::cluster {

class SlaveImpl;

class ClusterSlave {
 public:
  static StatusOr<std::unique_ptr<ClusterSlave>> Create(const NodeOptions& options);
  ~ClusterSlave();

  // Joins and serves until an orderly shutdown (OK) or a fatal error. `on_joined` runs after
  // the first successful join.
  Status Run(const std::function<void()>& on_joined = {});
  void Stop();

 private:
  explicit ClusterSlave(std::unique_ptr<SlaveImpl> impl);
  std::unique_ptr<SlaveImpl> impl_;
};

}  // namespace mies::cluster
