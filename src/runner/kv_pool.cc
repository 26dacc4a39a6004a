#include "runner/kv_pool.h"

#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace mies::runner {

StatusOr<int64_t> AvailableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
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

StatusOr<int64_t> KvPoolBlocks(const KvPoolRequest& r) {
  if (r.model == nullptr) return InvalidArgument("KvPoolBlocks: no ModelConfig");
  int64_t available = 0;
  if (r.model->npu_mem_size_gb == -1) {
    if (r.available_bytes) {
      available = *r.available_bytes;
    } else {
      MIES_ASSIGN_OR_RETURN(available, AvailableMemoryBytes());
    }
    available /= std::max(1, r.local_ranks);  // every local rank takes its pool from it
  }
  MIES_ASSIGN_OR_RETURN(int64_t bytes, KvPoolBytes(*r.model, available));
  const int64_t blocks = r.shape.BlocksForBudget(bytes);
  const int64_t block_size = r.shape.block_size;
  const int64_t need = (r.max_seq_len + block_size - 1) / block_size;
  if (blocks < std::max<int64_t>(need, 1)) {
    return InvalidArgument("KV pool of ", bytes, " bytes per rank holds ", blocks, " blocks of ",
                           r.shape.BytesPerBlock(), " bytes; one maxSeqLen (", r.max_seq_len,
                           ") sequence needs ", need,
                           ": raise ModelConfig.npuMemSize or lower maxSeqLen");
  }
  return blocks;
}

StatusOr<KvReserve> ParseKvReserve(std::string_view name) {
  if (name == "touch") return KvReserve::kTouch;
  if (name == "lock") return KvReserve::kLock;
  if (name == "lazy") return KvReserve::kLazy;
  return InvalidArgument("ModelConfig.kvCacheReserve \"", std::string(name),
                         "\" is not one of touch, lock, lazy");
}

std::string_view KvReserveName(KvReserve reserve) {
  switch (reserve) {
    case KvReserve::kTouch:
      return "touch";
    case KvReserve::kLock:
      return "lock";
    case KvReserve::kLazy:
      break;
  }
  return "lazy";
}

Status ReserveKvPool(model::KvCache& cache, KvReserve reserve) {
  if (reserve == KvReserve::kLazy) return OkStatus();
  const int64_t bytes = cache.bytes();
  MIES_ASSIGN_OR_RETURN(int64_t available, AvailableMemoryBytes());
  if (bytes > available) {
    return ResourceExhausted("cannot reserve the KV pool: ", bytes >> 20, " MiB needed, ",
                             available >> 20,
                             " MiB available (MemAvailable); lower ModelConfig.npuMemSize, stop "
                             "other servers on this host, or set kvCacheReserve \"lazy\"");
  }
  for (std::span<std::byte> b : cache.buffers()) {
    std::memset(b.data(), 0, b.size());  // writes fault the pages in: they are ours from now on
    if (reserve == KvReserve::kLock && ::mlock(b.data(), b.size()) != 0) {
      const int err = errno;
      rlimit limit{};
      ::getrlimit(RLIMIT_MEMLOCK, &limit);
      const std::string cap = limit.rlim_cur == RLIM_INFINITY
                                  ? std::string("unlimited")
                                  : std::to_string(limit.rlim_cur >> 10) + " KiB";
      return ResourceExhausted("cannot lock the KV pool (", bytes >> 20,
                               " MiB): mlock: ", std::strerror(err), " (RLIMIT_MEMLOCK ", cap,
                               "); raise `ulimit -l`, grant CAP_IPC_LOCK, or set kvCacheReserve "
                               "\"touch\"");
    }
  }
  return OkStatus();
}

}  // namespace mies::runner
