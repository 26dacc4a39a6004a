#include "model/kv_cache.h"

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
  const size_t layer_bytes =
      static_cast<size_t>(num_blocks * shape.block_size * shape.num_kv_heads * shape.head_dim * 4);
  for (int64_t l = 0; l < shape.num_layers; ++l) {
    c->k_.emplace_back(layer_bytes);
    c->v_.emplace_back(layer_bytes);
    if (c->k_.back().data() == nullptr || c->v_.back().data() == nullptr) {
      return Unavailable("cannot allocate the KV cache: ", num_blocks, " blocks of ",
                         shape.BytesPerBlock(), " bytes");
    }
  }
  return c;
}

}  // namespace mies::model
