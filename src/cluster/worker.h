// One rank of this node: its weight shard, KV cache shard, Gloo collective and the thread that
// runs step plans. Internal to the cluster library.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/gloo_collective.h"
#include "cluster/node_options.h"
#include "cluster/store.h"
#include "engine/step_plan.h"
#include "runner/model_runner.h"

namespace mies::cluster {

// What the node's control loop tells its workers, and what they report back. An epoch target
// packs (join generation << 32 | epoch): a slave that rejoins a restarted master bumps the
// generation, so its workers rebuild even when the new master's epoch number repeats.
struct NodeState {
  std::atomic<uint64_t> target{0};
  std::atomic<bool> shutdown{false};       // stop serving (orderly)
  std::atomic<bool> shutdown_plan{false};  // a worker received the master's shutdown plan
  KvStore* store = nullptr;                // set before workers start, fixed afterwards
  std::mutex store_mu;                     // guards store swaps (slave reconnects)
};

inline uint32_t EpochOf(uint64_t target) { return static_cast<uint32_t>(target & 0xffffffffu); }

class RankWorker {
 public:
  RankWorker(int rank, int world, std::string bind_address, bool deterministic,
             const ClusterTimeouts& timeouts, NodeState* state);
  ~RankWorker();

  // Loads this rank's shard; `options` says dtype, threads, pinning and moe_ep (the rank and
  // world size are the worker's own).
  Status LoadModel(const std::string& model_dir, model::ModelOptions options);
  // The KV pool; call only while the worker is not serving (before Start, or between epochs).
  Status AllocateCache(int64_t num_blocks, int64_t block_size, runner::KvReserve reserve);
  int64_t kv_pool_bytes() const;
  bool has_cache(int64_t num_blocks, int64_t block_size) const;
  const model::LlamaModel& model() const { return runner_->model(); }

  void Start();
  void StopAndJoin();

  // Target (generation|epoch) this rank has a context for; 0 when none.
  uint64_t formed() const { return formed_.load(); }
  // Target this rank failed to form or lost.
  uint64_t failed() const { return failed_.load(); }
  const std::string& bind_address() const { return bind_address_; }
  int rank() const { return rank_; }

  // Rank 0, any thread: a peer is known lost, so the step in flight (and every queued one)
  // returns Unavailable to its Submit caller now. The worker may stay blocked in the collective
  // until its timeout; it finishes that step on its own copy of the plan and drops the result.
  void AbandonInFlight(const std::string& why);

  // Rank 0 only: runs one plan across the cluster.
  StatusOr<engine::StepResult> Submit(const engine::StepPlan& plan);
  double TakeCollectiveSeconds();

 private:
  void Loop();
  void Serve(uint64_t target);      // ranks != 0
  void ServeRoot(uint64_t target);  // rank 0
  void FailQueued(const std::string& why);

  int rank_, world_;
  std::string bind_address_;
  ClusterTimeouts timeouts_;
  NodeState* state_;
  GlooCollective collective_;
  std::shared_ptr<gloo::transport::Device> device_;
  std::unique_ptr<runner::ModelRunner> runner_;
  std::atomic<uint64_t> formed_{0}, failed_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // Rank 0's queue of plans from Execute.
  // Shared by Submit and the worker: Submit may return (abandoned) while the worker still runs
  // the step, so the job owns a copy of the plan.
  struct Job {
    engine::StepPlan plan;
    StatusOr<engine::StepResult> result = absl::UnknownError("not run");
    bool done = false;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::shared_ptr<Job> in_flight_;  // rank 0: the job being run, under mu_
  std::atomic<double> collective_seconds_{0};
};

}  // namespace mies::cluster
