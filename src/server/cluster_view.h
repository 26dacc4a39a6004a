// What the management plane's GET /v1/cluster and the console show of the deployment: the
// nodes of the ranktable with their health, the cluster's state and epoch, and its recent
// events. The server does not know the cluster library: the daemon fills a ClusterSnapshot
// from the multi-node master (or one node's facts) through ServingContext::cluster_view.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mies::server {

struct ClusterNodeView {
  std::string address;     // container_ip
  std::string role;        // "master" | "slave"
  std::vector<int> ranks;  // global rank ids
  std::vector<int> device_ids;
  std::string status;               // "healthy" | "joining" | "lost"
  int64_t ms_since_heartbeat = -1;  // -1: none (the master itself, or never heard from)
  std::string lost_reason;          // set when status is "lost" (or "joining" before a join)
  uint64_t rss_bytes = 0;           // resident memory; 0: unknown
};

struct ClusterEventView {
  uint64_t seq = 0;
  int64_t unix_ms = 0;
  std::string kind;  // joined, rejoined, left, lost, degraded, formed, refused, started
  bool error = false;
  std::string node;
  std::string message;
};

struct ClusterSnapshot {
  std::string state = "single";  // "single" | "healthy" | "forming" | "broken"
  uint64_t epoch = 0;
  std::vector<ClusterNodeView> nodes;    // ranktable order
  std::vector<ClusterEventView> events;  // oldest first
};

// The model's layout as the console shows it (static for the process).
struct ModelLayout {
  std::string architecture;  // config.json's architectures[0]; empty when unknown
  std::string dtype;         // the weights' storage type (ModelConfig dtype, or torch_dtype)
  int world_size = 1;
  int tp = 1;      // tensor-parallel ranks over the attention and dense layers
  int moe_ep = 1;  // MoE expert groups (1: no expert parallelism)
  bool moe = false;
  int64_t num_kv_blocks = 0;  // per rank
  int64_t block_size = 0;
};

}  // namespace mies::server
