#include "daemon/multi_node.h"

#include "cluster/model_cache.h"
#include "cluster/node_options.h"
#include "common/logging.h"
#include "common/process_memory.h"
#include "model/hf_config.h"
#include "model/kv_cache.h"
#include "runner/kv_pool.h"

namespace mies::daemon {

StatusOr<int64_t> ClusterKvBlocks(const StartupState& state) {
  const config::Config& c = state.config;
  MIES_ASSIGN_OR_RETURN(model::HfConfig hf, model::LoadHfConfig(c.ModelWeightPath()));
  // Every rank holds the same number of KV heads (split, or replicated when there are more ranks
  // than heads), so rank 0's shape is every rank's.
  const model::ParallelConfig rank0{0, static_cast<int>(state.topology->world_size)};
  runner::KvPoolRequest pool;
  MIES_ASSIGN_OR_RETURN(pool.shape,
                        model::CacheShapeFor(hf, rank0, c.backend.schedule.cache_block_size));
  pool.model = &c.backend.model_deploy.model_config.at(0);
  pool.max_seq_len = c.backend.model_deploy.max_seq_len;
  pool.local_ranks = static_cast<int>(state.topology->local_ranks.size());
  return runner::KvPoolBlocks(pool);
}

StatusOr<std::unique_ptr<executor::ClusterExecutor>> StartClusterMaster(
    const StartupState& state, const config::Environment& env, std::chrono::milliseconds wait) {
  MIES_ASSIGN_OR_RETURN(int64_t blocks, ClusterKvBlocks(state));
  MIES_ASSIGN_OR_RETURN(
      cluster::NodeOptions options,
      cluster::NodeOptionsFromConfig(state.config, *state.rank_table, *state.topology, env, blocks,
                                     state.expert_parallel));
  MIES_ASSIGN_OR_RETURN(auto master, cluster::ClusterMaster::Start(options));
  MIES_LOG_INFO("GRPCCommunicator: wait slave connecting on {}:{}", state.topology->local_address,
                options.control_port);
  MIES_RETURN_IF_ERROR(master->WaitReady(wait));
  MIES_LOG_INFO("All {} ranks connected", state.topology->world_size);
  return std::make_unique<executor::ClusterExecutor>(std::move(master));
}

server::ClusterSnapshot MasterSnapshot(const cluster::ClusterMaster& master) {
  const cluster::Membership::View view = master.Snapshot();
  const cluster::NodeOptions& o = master.options();
  server::ClusterSnapshot snap;
  snap.state = cluster::ClusterStateName(view.state);
  snap.epoch = view.epoch;
  for (size_t i = 0; i < o.ranktable.servers.size(); ++i) {
    const config::RankServer& s = o.ranktable.servers[i];
    server::ClusterNodeView n;
    n.address = s.container_ip;
    for (const auto& d : s.devices) {
      n.ranks.push_back(d.rank_id);
      n.device_ids.push_back(d.device_id);
    }
    if (static_cast<int>(i) == o.topology.local_server) {
      n.role = "master";
      n.status = "healthy";  // it answers this request
      n.rss_bytes = ResidentBytes();
    } else {
      n.role = "slave";
      n.status = "joining";
      for (const auto& v : view.nodes) {
        if (v.address != s.container_ip) continue;
        n.status = v.status;
        n.ms_since_heartbeat = v.ms_since_heartbeat;
        n.lost_reason = v.lost_reason;
        n.rss_bytes = v.rss_bytes;
      }
    }
    snap.nodes.push_back(std::move(n));
  }
  for (const auto& e : view.events) {
    snap.events.push_back({e.seq, e.unix_ms, e.kind, e.error, e.node, e.message});
  }
  return snap;
}

StatusOr<std::unique_ptr<cluster::ClusterSlave>> CreateClusterSlave(
    const StartupState& state, const config::Environment& env) {
  MIES_ASSIGN_OR_RETURN(
      cluster::NodeOptions options,
      cluster::NodeOptionsFromConfig(state.config, *state.rank_table, *state.topology, env,
                                     /*num_kv_blocks=*/0, state.expert_parallel));
  if (!options.weight_cache_dir.empty()) {
    // weightSource "master": the model comes from the master's control plane (model_cache.h).
    MIES_ASSIGN_OR_RETURN(cluster::CacheSync sync, cluster::FetchModelFromMaster(options));
    MIES_RETURN_IF_ERROR(cluster::SetNodeModel(&options, sync.model_dir,
                                               state.config.backend.model_deploy.model_config[0],
                                               state.expert_parallel));
  }
  return cluster::ClusterSlave::Create(options);
}

}  // namespace mies::daemon
