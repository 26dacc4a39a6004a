#include "daemon/multi_node.h"

#include <algorithm>

#include "common/logging.h"
#include "engine/local_executor.h"
#include "model/hf_config.h"

namespace mies::daemon {

StatusOr<int64_t> ClusterKvBlocks(const StartupState& state) {
  const config::Config& c = state.config;
  const config::ModelConfig& mc = c.backend.model_deploy.model_config.at(0);
  MIES_ASSIGN_OR_RETURN(model::HfConfig hf, model::LoadHfConfig(c.ModelWeightPath()));
  int64_t available = 0;
  if (mc.npu_mem_size_gb < 0) {
    MIES_ASSIGN_OR_RETURN(available, engine::AvailableMemoryBytes());
    // Every local rank takes its pool from the same memory.
    available /= std::max<int64_t>(1, state.topology->local_ranks.size());
  }
  MIES_ASSIGN_OR_RETURN(int64_t budget, engine::KvPoolBytes(mc, available));
  // KV heads are split across ranks, and replicated when there are more ranks than heads.
  const int64_t world = state.topology->world_size;
  model::KvCacheShape shape;
  shape.num_layers = hf.num_hidden_layers;
  shape.num_kv_heads = std::max<int64_t>(1, hf.num_key_value_heads / world);
  shape.head_dim = hf.head_dim;
  shape.block_size = c.backend.schedule.cache_block_size;
  const int64_t blocks = shape.BlocksForBudget(budget);
  const int64_t needed =
      (c.backend.model_deploy.max_seq_len + shape.block_size - 1) / shape.block_size;
  if (blocks < needed) {
    return FailedPrecondition("KV pool of ", budget, " bytes per rank holds ", blocks,
                              " blocks; one maxSeqLen (", c.backend.model_deploy.max_seq_len,
                              ") sequence needs ", needed,
                              ": raise ModelConfig.npuMemSize or lower maxSeqLen");
  }
  return blocks;
}

StatusOr<std::unique_ptr<cluster::ClusterMaster>> StartClusterMaster(
    const StartupState& state, const config::Environment& env, std::chrono::milliseconds wait) {
  MIES_ASSIGN_OR_RETURN(int64_t blocks, ClusterKvBlocks(state));
  MIES_ASSIGN_OR_RETURN(cluster::NodeOptions options,
                        cluster::NodeOptionsFromConfig(state.config, *state.rank_table,
                                                       *state.topology, env, blocks));
  MIES_ASSIGN_OR_RETURN(auto master, cluster::ClusterMaster::Start(options));
  MIES_LOG_INFO("GRPCCommunicator: wait slave connecting on {}:{}", state.topology->local_address,
                options.control_port);
  MIES_RETURN_IF_ERROR(master->WaitReady(wait));
  MIES_LOG_INFO("All {} ranks connected", state.topology->world_size);
  return master;
}

StatusOr<std::unique_ptr<cluster::ClusterSlave>> CreateClusterSlave(
    const StartupState& state, const config::Environment& env) {
  MIES_ASSIGN_OR_RETURN(cluster::NodeOptions options,
                        cluster::NodeOptionsFromConfig(state.config, *state.rank_table,
                                                       *state.topology, env, /*num_kv_blocks=*/0));
  return cluster::ClusterSlave::Create(options);
}

}  // namespace mies::daemon
