#include "model/kv_cache.h"

#include <cstring>

namespace mies::model {

StatusOr<std::unique_ptr<KvCache>> KvCache::Create(const KvCacheShape& shape, int64_t num_blocks) {
  if (shape.num_layers <= 0 || shape.num_kv_heads <= 0 || shape.head_dim <= 0 ||
      shape.block_size <= 0) {
    return InvalidArgument("KV cache shape must be positive: layers ", shape.num_layers,
                           ", kv heads ", shape.num_kv_heads, ", head_dim ", shape.head_dim,
                           ", block_size ", shape.block_size);
  }
  if (num_blocks <= 0) {
    return InvalidArgument("KV cache needs at least one block; the budget gives ", num_blocks,
                           " (one block takes ", shape.BytesPerBlock(), " bytes)");
  }
  std::unique_ptr<KvCache> c(new KvCache());
  c->shape_ = shape;
  c->num_blocks_ = num_blocks;
  const size_t k_bytes =
      static_cast<size_t>(num_blocks * shape.block_size * shape.num_kv_heads * shape.head_dim * 4);
  const size_t v_bytes =
      static_cast<size_t>(num_blocks * shape.block_size * shape.num_kv_heads * shape.v_dim() * 4);
  for (int64_t l = 0; l < shape.num_layers; ++l) {
    c->k_.emplace_back(k_bytes);
    if (v_bytes > 0) c->v_.emplace_back(v_bytes);
    if (c->k_.back().data() == nullptr || (v_bytes > 0 && c->v_.back().data() == nullptr)) {
      return Unavailable("cannot allocate the KV cache: ", num_blocks, " blocks of ",
                         shape.BytesPerBlock(), " bytes");
    }
  }
  return c;
}

std::vector<std::span<std::byte>> KvCache::buffers() {
  std::vector<std::span<std::byte>> out;
  for (auto* list : {&k_, &v_}) {
    for (AlignedBuffer& b : *list) out.emplace_back(b.data(), b.size());
  }
  return out;
}

Status KvCache::CopyBlocks(std::span<const std::pair<int32_t, int32_t>> copies) {
  for (const auto& [src, dst] : copies) {
    if (src < 0 || dst < 0 || src >= num_blocks_ || dst >= num_blocks_) {
      return InvalidArgument("block copy ", src, " -> ", dst, " outside the KV pool of ",
                             num_blocks_, " blocks");
    }
  }
  const int64_t k_floats = shape_.block_size * shape_.num_kv_heads * shape_.head_dim;
  const int64_t v_floats = shape_.block_size * shape_.num_kv_heads * shape_.v_dim();
  for (const auto& [src, dst] : copies) {
    for (int64_t l = 0; l < shape_.num_layers; ++l) {
      std::memcpy(k(l) + dst * k_floats, k(l) + src * k_floats, k_floats * sizeof(float));
      if (v_floats > 0) {
        std::memcpy(v(l) + dst * v_floats, v(l) + src * v_floats, v_floats * sizeof(float));
      }
    }
  }
  return OkStatus();
}

StatusOr<KvCacheShape> CacheShapeFor(const HfConfig& config, const ParallelConfig& parallel,
                                     int64_t block_size) {
  MIES_ASSIGN_OR_RETURN(ShardLayout layout, ComputeShardLayout(config, parallel));
  return CacheShapeFor(config, layout, block_size);
}

KvCacheShape CacheShapeFor(const HfConfig& config, const ShardLayout& layout, int64_t block_size) {
  if (config.is_mla()) {
    // The compressed latent and the rotary key, replicated on every rank (heads are split).
    return {config.num_hidden_layers, 1, config.mla.kv_lora_rank + config.mla.qk_rope_head_dim,
            block_size, 0};
  }
  return {config.num_hidden_layers, layout.num_kv_heads, config.head_dim, block_size};
}

}  // namespace mies::model
