// How many KV blocks each rank's pool holds, from config.json's ModelConfig. One function for a
// single process and for every rank of a cluster, fed by the model's cache shape
// (model::CacheShapeFor), so the two cannot disagree.
//
// Budget per rank:
//   npuMemSize > 0   npuMemSize GiB (on CPU the "device" memory is host RAM);
//   npuMemSize = -1  kAutoKvFraction of MemAvailable, shared by the node's local ranks, capped at
//                    kAutoKvCapBytes per rank;
//   cpuMemSize       host swap space for preempted blocks on NPUs; the pool already lives in host
//                    memory, so preemption recomputes and cpuMemSize is accepted and ignored.
// The pool must hold at least one maxSeqLen sequence (so no request can wait forever for blocks),
// else sizing fails naming the figures.
#pragma once

#include <cstdint>
#include <optional>

#include "common/status.h"
#include "config/config.h"
#include "model/kv_cache.h"

namespace mies::runner {

inline constexpr double kAutoKvFraction = 0.5;
inline constexpr int64_t kAutoKvCapBytes = int64_t{32} << 30;

// MemAvailable from /proc/meminfo.
StatusOr<int64_t> AvailableMemoryBytes();

// The byte budget of one rank's pool. `available_bytes` is this rank's share of MemAvailable
// (used only for npuMemSize = -1).
StatusOr<int64_t> KvPoolBytes(const config::ModelConfig& model, int64_t available_bytes);

struct KvPoolRequest {
  model::KvCacheShape shape;         // one rank's cache shape (block_size included)
  const config::ModelConfig* model;  // npuMemSize
  int64_t max_seq_len = 0;           // ModelDeployConfig.maxSeqLen
  int local_ranks = 1;               // ranks of this node sharing its memory
  // MemAvailable of the node; read from /proc/meminfo when unset and npuMemSize is -1.
  std::optional<int64_t> available_bytes;
};

// Blocks per rank, or InvalidArgument when the pool cannot hold one maxSeqLen sequence.
StatusOr<int64_t> KvPoolBlocks(const KvPoolRequest& request);

}  // namespace mies::runner
