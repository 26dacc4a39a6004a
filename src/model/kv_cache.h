// Paged KV cache storage for one rank: per layer, K and V arrays of
// [num_blocks][block_size][num_kv_heads][head_dim] float32 (the kernels' layout). Sequences own
// blocks through block tables handed to the forward pass; which blocks a sequence gets is the
// engine's block manager's decision, not this class's.
//
// Sizing from MindIE's config: MindIE's `npuMemSize` is the KV-cache budget per device in GiB
// (-1: whatever device memory is left after the weights) and `cpuMemSize` the host swap space
// for preempted sequences' blocks. On CPU a rank's "device" memory is host RAM, so the KV pool
// of a rank is npuMemSize GiB (BlocksForBudget(npuMemSize << 30)); npuMemSize = -1 asks the
// caller to pass a budget derived from available memory. cpuMemSize would be swap space on top;
// since the pool already lives in host memory, swapping to it gains nothing and it is not
// allocated.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "common/status.h"
#include "model/weights.h"

namespace mies::model {

struct KvCacheShape {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;  // this rank's KV heads
  int64_t head_dim = 0;      // floats per K row per head
  int64_t block_size = 0;    // tokens per block (MindIE cacheBlockSize)
  // Floats per V row per head; -1: head_dim. 0: no V at all — DeepSeek's latent cache keeps one
  // row of kv_lora_rank + qk_rope_head_dim per token in K (one "head", the same on every rank).
  int64_t v_head_dim = -1;

  int64_t v_dim() const { return v_head_dim < 0 ? head_dim : v_head_dim; }
  // K and V of one block across all layers.
  int64_t BytesPerBlock() const {
    return num_layers * block_size * num_kv_heads * (head_dim + v_dim()) * 4;
  }
  // Bytes one token occupies across all layers (the KV memory per token).
  int64_t BytesPerToken() const { return num_layers * num_kv_heads * (head_dim + v_dim()) * 4; }
  // How many blocks fit in `bytes` (0 when not even one does).
  int64_t BlocksForBudget(int64_t bytes) const { return bytes / BytesPerBlock(); }
};

// The cache shape rank `parallel` needs for `config` (its KV-head shard), without loading
// weights: the KV pool can be sized before the model is read. Errors when the heads cannot be
// split (the same rule and message as the weight loader's).
StatusOr<KvCacheShape> CacheShapeFor(const HfConfig& config, const ParallelConfig& parallel,
                                     int64_t block_size);
// The same for a layout already computed (a loaded model's).
KvCacheShape CacheShapeFor(const HfConfig& config, const ShardLayout& layout, int64_t block_size);

class KvCache {
 public:
  // Reserves num_blocks blocks; pages are touched only when written, so an unused pool costs
  // address space, not RAM.
  static StatusOr<std::unique_ptr<KvCache>> Create(const KvCacheShape& shape, int64_t num_blocks);

  const KvCacheShape& shape() const { return shape_; }
  // Copies whole blocks src -> dst in every layer (copy-on-write of a shared block, listed by the
  // scheduler in a step plan). Every id is checked against the pool before anything is copied.
  Status CopyBlocks(std::span<const std::pair<int32_t, int32_t>> copies);
  int64_t num_blocks() const { return num_blocks_; }
  int64_t bytes() const { return num_blocks_ * shape_.BytesPerBlock(); }
  // Every K and V array of the pool, for reserving its pages (runner/kv_pool.h).
  std::vector<std::span<std::byte>> buffers();
  float* k(int64_t layer) { return reinterpret_cast<float*>(k_[layer].data()); }
  // nullptr when the shape has no V (a latent cache).
  float* v(int64_t layer) {
    return v_.empty() ? nullptr : reinterpret_cast<float*>(v_[layer].data());
  }

 private:
  KvCache() = default;
  KvCacheShape shape_;
  int64_t num_blocks_ = 0;
  std::vector<AlignedBuffer> k_, v_;
};

}  // namespace mies::model
