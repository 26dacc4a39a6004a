#include "runner/kv_pool.h"

#include <algorithm>
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

}  // namespace mies::runner
