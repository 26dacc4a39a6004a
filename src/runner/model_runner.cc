#include "runner/model_runner.h"

namespace mies::runner {

ModelRunner::ModelRunner(std::unique_ptr<model::LlamaModel> model) : model_(std::move(model)) {}

StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Create(std::unique_ptr<model::LlamaModel> model,
                                                           int64_t num_blocks, int64_t block_size,
                                                           KvReserve reserve) {
  if (model == nullptr) return InvalidArgument("ModelRunner: no model");
  auto runner = std::make_unique<ModelRunner>(std::move(model));
  MIES_RETURN_IF_ERROR(runner->AllocateCache(num_blocks, block_size, reserve));
  return runner;
}

Status ModelRunner::AllocateCache(int64_t num_blocks, int64_t block_size, KvReserve reserve) {
  if (num_blocks < 1 || block_size < 1) {
    return InvalidArgument("KV pool: ", num_blocks, " blocks of ", block_size,
                           " tokens (both must be >= 1)");
  }
  cache_.reset();  // the old pool goes before the new one is allocated
  MIES_ASSIGN_OR_RETURN(cache_, model::KvCache::Create(model_->CacheShape(block_size), num_blocks));
  Status reserved = ReserveKvPool(*cache_, reserve);
  if (!reserved.ok()) cache_.reset();
  return reserved;
}

bool ModelRunner::has_cache(int64_t num_blocks, int64_t block_size) const {
  return cache_ != nullptr && cache_->num_blocks() == num_blocks &&
         cache_->shape().block_size == block_size;
}

Status ModelRunner::Run(const engine::StepPlan& plan, engine::StepResult* result) {
  if (cache_ == nullptr) return FailedPrecondition("this rank has no KV pool yet");
  MIES_RETURN_IF_ERROR(cache_->CopyBlocks(plan.block_copies));
  if (plan.sequences.empty()) {
    if (result != nullptr) *result = engine::StepResult{model_->config().vocab_size, {}, {}, {}};
    return OkStatus();
  }
  batch_.resize(plan.sequences.size());
  for (size_t i = 0; i < batch_.size(); ++i) {
    const engine::StepSequence& s = plan.sequences[i];
    batch_[i] = {s.tokens, s.start_pos, s.block_table, s.logit_rows()};
  }
  MIES_RETURN_IF_ERROR(model_->Forward(batch_, *cache_, &out_));
  if (result != nullptr) {
    result->vocab = out_.vocab;
    result->logits = std::move(out_.logits);
    result->first_row = out_.first_row;
    result->num_rows = out_.num_rows;
  }
  return OkStatus();
}

}  // namespace mies::runner
