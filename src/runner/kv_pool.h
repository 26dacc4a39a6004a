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
#include <string_view>

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

// What happens to the pool's pages at startup (ModelConfig.kvCacheReserve):
//   kTouch (default)  every page is written once, so the pool is resident from the start: RSS
//                     stays flat under traffic, and a second server started on the host sizes
//                     its pool from what is really left;
//   kLock             touched and mlock(2)ed, so it is never swapped out (needs RLIMIT_MEMLOCK
//                     or CAP_IPC_LOCK);
//   kLazy             pages come as blocks are first written (RSS grows with traffic).
enum class KvReserve { kLazy, kTouch, kLock };
StatusOr<KvReserve> ParseKvReserve(std::string_view name);
std::string_view KvReserveName(KvReserve reserve);

// Reserves `cache`'s pages as `reserve` says. Fails, naming the figures, when MemAvailable cannot
// hold the pool (touching it would only summon the OOM killer) or mlock is refused.
Status ReserveKvPool(model::KvCache& cache, KvReserve reserve);

}  // namespace mies::runner
