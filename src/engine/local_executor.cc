#include "engine/local_executor.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/logging.h"

namespace mies::engine {

StatusOr<std::unique_ptr<LocalExecutor>> LocalExecutor::Create(
    std::unique_ptr<model::LlamaModel> model, int64_t block_size, int64_t num_blocks) {
  if (!model) return InvalidArgument("LocalExecutor: no model");
  if (block_size < 1) return InvalidArgument("cacheBlockSize must be >= 1, got ", block_size);
  if (num_blocks < 1) return InvalidArgument("KV pool must hold >= 1 block, got ", num_blocks);
  MIES_ASSIGN_OR_RETURN(auto cache,
                        model::KvCache::Create(model->CacheShape(block_size), num_blocks));
  return std::unique_ptr<LocalExecutor>(new LocalExecutor(std::move(model), std::move(cache)));
}

StatusOr<StepResult> LocalExecutor::Execute(const StepPlan& plan) {
  const model::KvCacheShape& shape = cache_->shape();
  const int64_t block_floats = shape.block_size * shape.num_kv_heads * shape.head_dim;
  for (const auto& [src, dst] : plan.block_copies) {
    if (src < 0 || dst < 0 || src >= cache_->num_blocks() || dst >= cache_->num_blocks()) {
      return InvalidArgument("step plan copies block ", src, " -> ", dst, " outside the pool of ",
                             cache_->num_blocks());
    }
    for (int64_t l = 0; l < shape.num_layers; ++l) {
      std::memcpy(cache_->k(l) + dst * block_floats, cache_->k(l) + src * block_floats,
                  block_floats * sizeof(float));
      std::memcpy(cache_->v(l) + dst * block_floats, cache_->v(l) + src * block_floats,
                  block_floats * sizeof(float));
    }
  }
  StepResult result;
  if (plan.sequences.empty()) return result;
  std::vector<model::SequenceInput> batch;
  batch.reserve(plan.sequences.size());
  for (const StepSequence& s : plan.sequences) {
    batch.push_back({s.tokens, s.start_pos, s.block_table, s.all_logits});
  }
  MIES_RETURN_IF_ERROR(model_->Forward(batch, *cache_, &out_));
  // Keep only the rows the plan asked for (non-final prefill chunks have none).
  result.vocab = out_.vocab;
  result.first_row.assign(plan.sequences.size(), -1);
  result.num_rows.assign(plan.sequences.size(), 0);
  int64_t rows = 0;
  for (size_t i = 0; i < plan.sequences.size(); ++i) {
    if (plan.sequences[i].want_logits || plan.sequences[i].all_logits) rows += out_.num_rows[i];
  }
  result.logits.resize(rows * out_.vocab);
  int64_t next = 0;
  for (size_t i = 0; i < plan.sequences.size(); ++i) {
    if (!plan.sequences[i].want_logits && !plan.sequences[i].all_logits) continue;
    result.first_row[i] = next;
    result.num_rows[i] = out_.num_rows[i];
    std::memcpy(result.logits.data() + next * out_.vocab, out_.Row(i),
                out_.num_rows[i] * out_.vocab * sizeof(float));
    next += out_.num_rows[i];
  }
  return result;
}

StatusOr<int64_t> AvailableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return Unavailable("MemAvailable not found in /proc/meminfo");
}

StatusOr<int64_t> KvPoolBytes(const config::ModelConfig& model, int64_t available_bytes) {
  if (model.npu_mem_size_gb > 0) return int64_t{model.npu_mem_size_gb} << 30;
  if (model.npu_mem_size_gb == -1) {
    return std::min<int64_t>(static_cast<int64_t>(available_bytes * kAutoKvFraction),
                             kAutoKvCapBytes);
  }
  return InvalidArgument("ModelConfig.npuMemSize must be -1 or > 0, got ", model.npu_mem_size_gb);
}

StatusOr<LocalEngine> CreateLocalEngine(const config::Config& config) {
  if (config.backend.model_deploy.model_config.empty()) {
    return InvalidArgument("BackendConfig.ModelDeployConfig.ModelConfig is empty");
  }
  const config::ModelConfig& mc = config.backend.model_deploy.model_config[0];
  if (mc.world_size != 1) {
    return InvalidArgument("the local executor runs worldSize 1, got ", mc.world_size,
                           " (multi-rank runs use the cluster executor)");
  }
  const std::string dir = config.ModelWeightPath();
  model::ModelOptions options;
  options.dtype = mc.dtype;
  options.num_threads = mc.cpu_threads > 0
                            ? mc.cpu_threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  static model::IdentityCollective identity;  // stateless; shared by every local model
  MIES_ASSIGN_OR_RETURN(auto model, model::LlamaModel::Load(dir, options, &identity));
  MIES_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::Tokenizer::Load(dir));
  const int64_t block_size = config.backend.schedule.cache_block_size;
  const model::KvCacheShape shape = model->CacheShape(block_size);
  int64_t available = 0;
  if (mc.npu_mem_size_gb == -1) {
    MIES_ASSIGN_OR_RETURN(available, AvailableMemoryBytes());
  }
  MIES_ASSIGN_OR_RETURN(int64_t bytes, KvPoolBytes(mc, available));
  const int64_t num_blocks = shape.BlocksForBudget(bytes);
  const int64_t max_seq = config.backend.model_deploy.max_seq_len;
  const int64_t need = (max_seq + block_size - 1) / block_size;
  if (num_blocks < need) {
    return InvalidArgument("KV pool of ", bytes, " bytes holds ", num_blocks, " blocks of ",
                           shape.BytesPerBlock(), " bytes; one maxSeqLen=", max_seq,
                           " sequence needs ", need, " (raise npuMemSize)");
  }
  MIES_LOG_INFO("KV pool: {} blocks x {} tokens ({} MiB)", num_blocks, block_size,
                (num_blocks * shape.BytesPerBlock()) >> 20);
  const int64_t vocab = model->config().vocab_size;
  model::GenerationDefaults defaults = model->generation_defaults();
  MIES_ASSIGN_OR_RETURN(auto executor,
                        LocalExecutor::Create(std::move(model), block_size, num_blocks));
  LocalEngine out;
  out.tokenizer = std::shared_ptr<const tokenizer::Tokenizer>(std::move(tok));
  MIES_ASSIGN_OR_RETURN(out.engine,
                        Engine::Create(EngineOptionsFromConfig(config), std::move(executor),
                                       out.tokenizer, std::move(defaults), vocab));
  return out;
}

}  // namespace mies::engine
