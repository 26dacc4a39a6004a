#include "engine/block_manager.h"

#include <algorithm>

namespace mies::engine {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

BlockManager::BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_cache)
    : block_size_(block_size), enable_prefix_cache_(enable_prefix_cache), blocks_(num_blocks) {
  free_.reserve(num_blocks);
  // Lowest ids on top of the stack.
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

uint64_t BlockManager::BlockKey(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = Mix(parent ^ 0x6A09E667F3BCC908ull);
  for (int32_t t : tokens) h = Mix(h ^ static_cast<uint32_t>(t));
  return h == 0 ? 1 : h;  // 0 is the "no parent" key
}

std::optional<int32_t> BlockManager::Allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    Uncache(b);  // also removes it from the LRU list
  } else {
    return std::nullopt;
  }
  blocks_[b].ref = 1;
  return b;
}

void BlockManager::Retain(int32_t block) {
  Block& blk = blocks_[block];
  if (blk.ref == 0 && blk.cached) lru_.erase(blk.lru_pos);
  ++blk.ref;
}

void BlockManager::Release(int32_t block) {
  Block& blk = blocks_[block];
  if (--blk.ref > 0) return;
  if (blk.cached) {
    blk.lru_pos = lru_.insert(lru_.end(), block);
  } else {
    free_.push_back(block);
  }
}

void BlockManager::Uncache(int32_t block) {
  Block& blk = blocks_[block];
  if (!blk.cached) return;
  if (blk.ref == 0) lru_.erase(blk.lru_pos);
  cache_.erase(blk.key);
  blk.cached = false;
  blk.tokens.clear();
  blk.tokens.shrink_to_fit();
}

std::vector<int32_t> BlockManager::Match(std::span<const int32_t> tokens, int64_t max_blocks,
                                         std::vector<uint64_t>* keys) {
  std::vector<int32_t> out;
  if (!enable_prefix_cache_) return out;
  const int64_t full = std::min<int64_t>(max_blocks, tokens.size() / block_size_);
  uint64_t parent = 0;
  for (int64_t i = 0; i < full; ++i) {
    auto chunk = tokens.subspan(i * block_size_, block_size_);
    const uint64_t key = BlockKey(parent, chunk);
    auto it = cache_.find(key);
    if (it == cache_.end()) break;
    const Block& blk = blocks_[it->second];
    if (blk.parent_key != parent ||
        !std::equal(chunk.begin(), chunk.end(), blk.tokens.begin(), blk.tokens.end())) {
      break;  // hash collision: treat as a miss
    }
    Retain(it->second);
    out.push_back(it->second);
    keys->push_back(key);
    parent = key;
  }
  return out;
}

void BlockManager::Register(int32_t block, uint64_t key, uint64_t parent_key,
                            std::span<const int32_t> tokens) {
  if (!enable_prefix_cache_) return;
  Block& blk = blocks_[block];
  if (blk.cached) return;
  if (!cache_.emplace(key, block).second) return;
  blk.cached = true;
  blk.key = key;
  blk.parent_key = parent_key;
  blk.tokens.assign(tokens.begin(), tokens.end());
  if (blk.ref == 0) blk.lru_pos = lru_.insert(lru_.end(), block);
}

}  // namespace mies::engine
