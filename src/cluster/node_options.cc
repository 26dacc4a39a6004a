#include "cluster/node_options.h"

#include <algorithm>

#include "certs/config_planes.h"
#include "cluster/fingerprint.h"
#include "common/cpu_budget.h"
#include "model/hf_config.h"

namespace mies::cluster {

StatusOr<int> MoeExpertGroups(const config::ModelConfig& model, bool model_is_moe, int world,
                              std::optional<bool> expert_parallel) {
  if (!model_is_moe) return 1;
  auto key = [&](const char* name) -> std::optional<int64_t> {
    auto it = model.extra.find(name);
    if (it == model.extra.end()) return std::nullopt;
    return std::stoll(it->second);  // the config parser checked it is an integer >= 1
  };
  const std::optional<int64_t> ep = key("moe_ep"), tp = key("moe_tp");
  if (!ep && !tp) {
    return expert_parallel.value_or(true) ? world : 1;
  }
  const int64_t groups = ep ? *ep : world / std::max<int64_t>(1, *tp);
  const int64_t slices = tp ? *tp : world / std::max<int64_t>(1, *ep);
  if (groups * slices != world) {
    return InvalidArgument("ModelConfig moe_ep ", ep ? std::to_string(*ep) : "(unset)",
                           " x moe_tp ", tp ? std::to_string(*tp) : "(unset)",
                           " must equal the world size ", world,
                           " (every rank holds one slice of one group of experts)");
  }
  if (expert_parallel && *expert_parallel != (groups > 1)) {
    return InvalidArgument("--expert-parallel ", *expert_parallel ? "true" : "false",
                           " contradicts ModelConfig moe_ep ", groups,
                           " (expert parallelism means moe_ep > 1)");
  }
  return static_cast<int>(groups);
}

StatusOr<NodeOptions> NodeOptionsFromConfig(const config::Config& config,
                                            const config::RankTable& ranktable,
                                            const config::Topology& topology,
                                            const config::Environment& env, int64_t num_kv_blocks,
                                            std::optional<bool> expert_parallel) {
  if (config.backend.model_deploy.model_config.empty()) {
    return InvalidArgument("ModelDeployConfig.ModelConfig is empty");
  }
  const config::ModelConfig& mc = config.backend.model_deploy.model_config[0];
  NodeOptions o;
  o.ranktable = ranktable;
  o.topology = topology;
  o.model_dir = config.ModelWeightPath();
  o.dtype = mc.dtype;
  if (auto a = mc.extra.find("activationDtype"); a != mc.extra.end()) o.activations = a->second;
  o.control_port = config.backend.multi_nodes_infer_port;
  o.tls.enabled = config.backend.inter_node_tls_enabled;
  o.tls.material = certs::MaterialFromConfig(config, certs::Plane::kInterNode);
  o.tls.material.node_address = topology.local_address;
  o.schedule = config.backend.schedule;
  o.deterministic = DeterministicFromEnv(env);
  o.num_kv_blocks = num_kv_blocks;
  MIES_ASSIGN_OR_RETURN(model::HfConfig hf, model::LoadHfConfig(o.model_dir));
  MIES_ASSIGN_OR_RETURN(o.moe_ep,
                        MoeExpertGroups(mc, hf.is_moe(), ranktable.WorldSize(), expert_parallel));
  o.block_size = config.backend.schedule.cache_block_size;
  MIES_ASSIGN_OR_RETURN(o.kv_reserve, runner::ParseKvReserve(mc.kv_cache_reserve));
  const int local = std::max<int>(1, topology.local_ranks.size());
  o.cpu = DetectCpuBudget();
  o.threads_per_rank = mc.cpu_threads > 0 ? mc.cpu_threads : DefaultThreadsPerRank(o.cpu, local);
  if (mc.cpu_bind_cores) {
    for (int r = 0; r < local; ++r) o.pin_cpus.push_back(RankCpus(o.cpu, r, o.threads_per_rank));
  }
  return o;
}

}  // namespace mies::cluster
