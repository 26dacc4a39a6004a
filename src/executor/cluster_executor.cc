#include "executor/cluster_executor.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

#include <thread>

namespace mies::executor {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

ClusterExecutor::~ClusterExecutor() { master_->Shutdown(); }

engine::ExecutorResources ClusterExecutor::Resources() const {
  const cluster::NodeOptions& o = master_->options();
  engine::ExecutorResources r;
  r.cpu_budget = o.cpu.Describe();
  r.local_ranks = static_cast<int>(o.topology.local_ranks.size());
  r.threads_per_rank = o.threads_per_rank;
  r.pinned = !o.pin_cpus.empty();
  r.kv_pool_bytes_per_rank = master_->kv_pool_bytes_per_rank();
  r.kv_reserve = runner::KvReserveName(o.kv_reserve);
  return r;
}

StatusOr<engine::StepResult> ClusterExecutor::Execute(const engine::StepPlan& plan) {
  if (!master_->healthy()) return absl::UnavailableError(master_->UnavailableReason());
  auto r = master_->Submit(plan);
  if (r.ok() || !absl::IsUnavailable(r.status())) return r;
  // The data plane failed under this step. Name the node: give the heartbeat monitor its
  // timeout to find which one is gone (a killed process closes its sockets at once, so the
  // collective usually fails before the heartbeat does).
  const auto until =
      Clock::now() + master_->options().timeouts.heartbeat_timeout + milliseconds(500);
  std::vector<std::string> abnormal;
  while (Clock::now() < until) {
    abnormal = master_->AbnormalNodes();
    if (!abnormal.empty()) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return absl::UnavailableError(absl::StrCat(
      "multi-node step failed: ",
      abnormal.empty() ? std::string("no node identified as lost") : absl::StrJoin(abnormal, " "),
      " (", r.status().message(), ")"));
}

}  // namespace mies::executor
