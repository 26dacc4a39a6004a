#include "executor/local_executor.h"

#include <algorithm>

#include "common/cpu_budget.h"
#include "common/logging.h"
#include "runner/kv_pool.h"

namespace mies::executor {

StatusOr<engine::StepResult> LocalExecutor::Execute(const engine::StepPlan& plan) {
  engine::StepResult result;
  MIES_RETURN_IF_ERROR(runner_->Run(plan, &result));
  return result;
}

StatusOr<std::unique_ptr<LocalExecutor>> LocalExecutor::FromConfig(const config::Config& config) {
  if (config.backend.model_deploy.model_config.empty()) {
    return InvalidArgument("BackendConfig.ModelDeployConfig.ModelConfig is empty");
  }
  const config::ModelConfig& mc = config.backend.model_deploy.model_config[0];
  if (mc.world_size != 1) {
    return InvalidArgument("the local executor runs worldSize 1, got ", mc.world_size,
                           " (multi-rank runs use the cluster executor)");
  }
  model::ModelOptions options;
  options.dtype = mc.dtype;
  if (auto a = mc.extra.find("activationDtype"); a != mc.extra.end())
    options.activations = a->second;
  const CpuBudget cpu = DetectCpuBudget();
  options.num_threads = mc.cpu_threads > 0 ? mc.cpu_threads : DefaultThreadsPerRank(cpu, 1);
  if (mc.cpu_bind_cores) options.pin_cpus = RankCpus(cpu, 0, options.num_threads);
  MIES_LOG_INFO("CPU budget: {}; {} compute threads{}", cpu.Describe(), options.num_threads,
                mc.cpu_bind_cores ? " pinned" : "");
  static model::IdentityCollective identity;  // stateless; shared by every local model
  MIES_ASSIGN_OR_RETURN(auto model,
                        model::LlamaModel::Load(config.ModelWeightPath(), options, &identity));
  runner::KvPoolRequest pool;
  pool.shape = model->CacheShape(config.backend.schedule.cache_block_size);
  pool.model = &mc;
  pool.max_seq_len = config.backend.model_deploy.max_seq_len;
  MIES_ASSIGN_OR_RETURN(int64_t blocks, runner::KvPoolBlocks(pool));
  MIES_LOG_INFO("KV pool: {} blocks x {} tokens ({} MiB, kvCacheReserve {})", blocks,
                pool.shape.block_size, (blocks * pool.shape.BytesPerBlock()) >> 20,
                mc.kv_cache_reserve);
  MIES_ASSIGN_OR_RETURN(runner::KvReserve reserve, runner::ParseKvReserve(mc.kv_cache_reserve));
  MIES_ASSIGN_OR_RETURN(auto runner, runner::ModelRunner::Create(std::move(model), blocks,
                                                                 pool.shape.block_size, reserve));
  engine::ExecutorResources resources;
  resources.cpu_budget = cpu.Describe();
  resources.threads_per_rank = options.num_threads;
  resources.pinned = mc.cpu_bind_cores;
  resources.kv_pool_bytes_per_rank = runner->kv_pool_bytes();
  resources.kv_reserve = mc.kv_cache_reserve;
  return std::make_unique<LocalExecutor>(std::move(runner), std::move(resources));
}

}  // namespace mies::executor
