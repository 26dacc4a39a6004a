// Executes step plans on this process: one model::LlamaModel rank (tensor-parallel size 1) and
// its paged KV cache. The multi-node executor (src/cluster) implements the same interface by
// sending the plan to every rank.
//
// KV pool sizing from config.json (ModelConfig), per rank:
//   npuMemSize > 0   the pool is npuMemSize GiB (on CPU the "device" memory is host RAM);
//   npuMemSize = -1  automatic: kAutoKvFraction of MemAvailable (read from /proc/meminfo at
//                    start, after the weights are loaded), capped at kAutoKvCapBytes;
//   cpuMemSize       host swap space for preempted blocks on NPUs. The pool already lives in
//                    host memory, so swapping would gain nothing: preemption recomputes, and
//                    cpuMemSize is accepted and ignored.
// In every case the pool holds at least one maxSeqLen sequence or creation fails with the
// figures (so a request can never be stuck without blocks).
#pragma once

#include <cstdint>
#include <memory>

#include "config/config.h"
#include "engine/engine.h"
#include "engine/step_plan.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

namespace mies::engine {

inline constexpr double kAutoKvFraction = 0.5;
inline constexpr int64_t kAutoKvCapBytes = int64_t{32} << 30;

class LocalExecutor final : public Executor {
 public:
  static StatusOr<std::unique_ptr<LocalExecutor>> Create(std::unique_ptr<model::LlamaModel> model,
                                                         int64_t block_size, int64_t num_blocks);

  StatusOr<StepResult> Execute(const StepPlan& plan) override;
  int64_t num_kv_blocks() const override { return cache_->num_blocks(); }
  int64_t block_size() const override { return cache_->shape().block_size; }
  model::LlamaModel& model() { return *model_; }

 private:
  LocalExecutor(std::unique_ptr<model::LlamaModel> model, std::unique_ptr<model::KvCache> cache)
      : model_(std::move(model)), cache_(std::move(cache)) {}
  std::unique_ptr<model::LlamaModel> model_;
  std::unique_ptr<model::KvCache> cache_;
  model::ForwardOutput out_;
};

// Bytes of KV pool per rank for a ModelConfig (see the table above). `available_bytes` is
// MemAvailable (used only for npuMemSize = -1).
StatusOr<int64_t> KvPoolBytes(const config::ModelConfig& model, int64_t available_bytes);
// MemAvailable from /proc/meminfo.
StatusOr<int64_t> AvailableMemoryBytes();

// Everything a single-process server needs, built from config.json: the model from
// modelWeightPath, its tokenizer, the KV pool, and the engine.
struct LocalEngine {
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<Engine> engine;
};
StatusOr<LocalEngine> CreateLocalEngine(const config::Config& config);

}  // namespace mies::engine
