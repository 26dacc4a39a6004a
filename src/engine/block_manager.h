// Paged KV block bookkeeping: which of the executor's blocks are free, who holds them, and which
// hold a reusable prompt prefix. The blocks' contents live in the executor (model::KvCache);
// this class only decides.
//
// Reference counts: a block is held by every sequence whose block table lists it (forked
// sequences of one request share their prompt's blocks). A sequence writes only into blocks it
// holds alone and that are not in the prefix cache; the scheduler copies a block first
// (copy-on-write) when that is not so.
//
// Prefix cache: a block whose `block_size` tokens are all computed is registered under a
// chained key, hash(parent key, its tokens). A later sequence whose prompt starts with the same
// tokens finds those blocks and skips computing them. The block keeps its tokens and its
// parent's key, and a lookup compares both, so a 64-bit hash collision costs a cache miss, not
// a wrong answer. Unreferenced cached blocks stay cached on an LRU list and are evicted
// (oldest first) only when a free block is needed and none is free otherwise.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace mies::engine {

class BlockManager {
 public:
  BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_cache = true);

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t block_size() const { return block_size_; }
  // Blocks that can be handed out now: free ones plus unreferenced cached ones.
  int64_t num_available() const { return static_cast<int64_t>(free_.size() + lru_.size()); }
  // Blocks referenced by at least one sequence.
  int64_t num_used() const { return num_blocks() - num_available(); }
  int64_t num_cached() const { return static_cast<int64_t>(cache_.size()); }
  bool prefix_cache_enabled() const { return enable_prefix_cache_; }

  // A block with reference count 1 (evicting the least recently used cached block when no
  // block is free), or nullopt when every block is referenced.
  std::optional<int32_t> Allocate();
  void Retain(int32_t block);
  void Release(int32_t block);
  int32_t ref_count(int32_t block) const { return blocks_[block].ref; }
  bool is_cached(int32_t block) const { return blocks_[block].cached; }

  // Chained key of a full block: `parent` is the previous block's key (0 for the first).
  static uint64_t BlockKey(uint64_t parent, std::span<const int32_t> tokens);

  // Looks the full blocks of `tokens` up in order, at most `max_blocks`, stopping at the first
  // miss. Matched blocks are retained (the caller owns a reference). `keys` receives the keys
  // of the matched blocks.
  std::vector<int32_t> Match(std::span<const int32_t> tokens, int64_t max_blocks,
                             std::vector<uint64_t>* keys);
  // Registers a computed full block under `key` (see BlockKey). A block already registered
  // under that key, or a cache that is off, leaves `block` uncached.
  void Register(int32_t block, uint64_t key, uint64_t parent_key, std::span<const int32_t> tokens);

 private:
  struct Block {
    int32_t ref = 0;
    bool cached = false;
    uint64_t key = 0;
    uint64_t parent_key = 0;
    std::vector<int32_t> tokens;           // set while cached (collision check)
    std::list<int32_t>::iterator lru_pos;  // valid while cached and ref == 0
  };
  void Uncache(int32_t block);

  int64_t block_size_;
  bool enable_prefix_cache_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;  // ref 0, not cached (stack: reuse hot blocks)
  std::list<int32_t> lru_;     // ref 0, cached; front = least recently used
  std::unordered_map<uint64_t, int32_t> cache_;
};

}  // namespace mies::engine
