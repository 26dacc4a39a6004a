// What a node of a cluster needs to start (master or slave): the ranktable and this node's place
// in it, the model, the control port and TLS, the timeouts, and how its ranks use the CPU.
// NodeOptionsFromConfig fills it from the daemon's config.json; tests and mies-cluster-node fill
// it by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/tls.h"
#include "common/cpu_budget.h"
#include "common/status.h"
#include "config/config.h"
#include "config/environment.h"
#include "config/ranktable.h"
#include "runner/kv_pool.h"

namespace mies::cluster {

struct ClusterTimeouts {
  std::chrono::milliseconds join_total{120000};           // slave: give up joining (MindIE ~120 s)
  std::chrono::milliseconds master_rejoin_total{120000};  // slave: master lost, wait this long
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds heartbeat_timeout{3000};    // peer declared lost after this
  std::chrono::milliseconds collective_timeout{30000};  // one collective (covers the slowest
                                                        // rank's compute between collectives)
  std::chrono::milliseconds plan_wait{3000};            // worker: no plan/keepalive -> lost
  std::chrono::milliseconds connect_timeout{20000};     // forming the Gloo mesh
};

struct NodeOptions {
  config::RankTable ranktable;
  config::Topology topology;
  std::string model_dir;
  std::string dtype = "auto";
  CpuBudget cpu;  // what this node may use (affinity, cgroup quota)
  int threads_per_rank = 1;
  std::vector<std::vector<int>> pin_cpus;  // per local rank; empty: no pinning
  int control_port = 1120;
  TlsSettings tls;
  std::optional<config::ScheduleConfig> schedule;  // part of the fingerprint when set
  bool deterministic = false;                      // $HCCL_DETERMINISTIC
  int moe_ep = 1;                    // MoE models: expert groups (model::ParallelConfig::moe_ep)
  std::string activations = "auto";  // ModelConfig activationDtype (model::ModelOptions)
  int64_t num_kv_blocks = 0;         // master: the KV pool of every rank
  int64_t block_size = 128;          // master: cacheBlockSize
  runner::KvReserve kv_reserve = runner::KvReserve::kLazy;  // kvCacheReserve
  ClusterTimeouts timeouts;
};

// Fills NodeOptions from the daemon's parsed configuration: model path and dtype from
// ModelConfig[0], multiNodesInferPort, interNode TLS material, ScheduleConfig, cpuThreads and
// cpuBindCores, the MoE layout (MoeExpertGroups), HCCL_DETERMINISTIC from `env`.
// `num_kv_blocks` is the master's KV pool per rank (slaves learn it when they join: pass 0);
// `expert_parallel` is the daemon's --expert-parallel flag (nullopt when not given).
StatusOr<NodeOptions> NodeOptionsFromConfig(const config::Config& config,
                                            const config::RankTable& ranktable,
                                            const config::Topology& topology,
                                            const config::Environment& env, int64_t num_kv_blocks,
                                            std::optional<bool> expert_parallel = std::nullopt);

// How a MoE model's experts are split over `world` ranks (model::ParallelConfig::moe_ep):
//   ModelConfig moe_ep / moe_tp (MindIE's keys; moe_ep x moe_tp = world) when given, else
//   --expert-parallel true (moe_ep = world: each rank whole experts) or false (moe_ep = 1:
//   every rank a slice of every expert), else expert parallelism. A dense model gets 1.
// Errors name the keys and numbers that do not fit.
StatusOr<int> MoeExpertGroups(const config::ModelConfig& model, bool model_is_moe, int world,
                              std::optional<bool> expert_parallel);

}  // namespace mies::cluster
