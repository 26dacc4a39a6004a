#include "cluster/node_options.h"

#include <algorithm>
#include <thread>

#include "certs/config_planes.h"
#include "cluster/fingerprint.h"

namespace mies::cluster {

StatusOr<NodeOptions> NodeOptionsFromConfig(const config::Config& config,
                                            const config::RankTable& ranktable,
                                            const config::Topology& topology,
                                            const config::Environment& env, int64_t num_kv_blocks) {
  if (config.backend.model_deploy.model_config.empty()) {
    return InvalidArgument("ModelDeployConfig.ModelConfig is empty");
  }
  const config::ModelConfig& mc = config.backend.model_deploy.model_config[0];
  NodeOptions o;
  o.ranktable = ranktable;
  o.topology = topology;
  o.model_dir = config.ModelWeightPath();
  o.dtype = mc.dtype;
  o.control_port = config.backend.multi_nodes_infer_port;
  o.tls.enabled = config.backend.inter_node_tls_enabled;
  o.tls.material = certs::MaterialFromConfig(config, certs::Plane::kInterNode);
  o.tls.material.node_address = topology.local_address;
  o.schedule = config.backend.schedule;
  o.deterministic = DeterministicFromEnv(env);
  o.num_kv_blocks = num_kv_blocks;
  o.block_size = config.backend.schedule.cache_block_size;
  const int local = std::max<int>(1, topology.local_ranks.size());
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  o.threads_per_rank = mc.cpu_threads > 0 ? mc.cpu_threads : std::max(1, cores / local);
  if (mc.cpu_bind_cores) {
    for (int r = 0; r < local; ++r) {
      std::vector<int> cpus;
      for (int t = 0; t < o.threads_per_rank; ++t) {
        cpus.push_back((r * o.threads_per_rank + t) % cores);
      }
      o.pin_cpus.push_back(cpus);
    }
  }
  return o;
}

}  // namespace mies::cluster
