#include "executor/in_process_tp_executor.h"

#include <thread>

namespace mies::executor {

StatusOr<std::unique_ptr<InProcessTpExecutor>> InProcessTpExecutor::Create(
    const std::string& model_dir, const std::string& dtype, int tp, int64_t num_blocks,
    int64_t block_size, int moe_ep) {
  if (tp < 1) return InvalidArgument("tensor-parallel size must be >= 1, got ", tp);
  auto e = std::unique_ptr<InProcessTpExecutor>(new InProcessTpExecutor(tp));
  e->ranks_.resize(tp);
  for (int r = 0; r < tp; ++r) {
    Rank& k = e->ranks_[r];
    k.collective = e->group_.Member(r);
    model::ModelOptions mo;
    mo.parallel = {r, tp, moe_ep};
    mo.dtype = dtype;
    MIES_ASSIGN_OR_RETURN(auto model, model::LlamaModel::Load(model_dir, mo, k.collective.get()));
    MIES_ASSIGN_OR_RETURN(k.runner,
                          runner::ModelRunner::Create(std::move(model), num_blocks, block_size));
  }
  return e;
}

StatusOr<engine::StepResult> InProcessTpExecutor::Execute(const engine::StepPlan& plan) {
  engine::StepResult result;
  std::vector<Status> status(ranks_.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < ranks_.size(); ++r) {
    threads.emplace_back(
        [&, r] { status[r] = ranks_[r].runner->Run(plan, r == 0 ? &result : nullptr); });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) MIES_RETURN_IF_ERROR(s);
  return result;
}

}  // namespace mies::executor
