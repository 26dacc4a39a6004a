// The BPE model of tokenizer.json: vocabulary, merge ranks and the merge loop.
//
// A word (one pre-token) is split into code points, each looked up in the vocabulary; then
// the adjacent pair with the lowest merge rank (leftmost on ties) is merged until no pair has a
// rank, using a heap over a linked list of symbols (O(n log n) per word). Results are cached per
// word. Symbols left outside the vocabulary become <0xXX> byte tokens when byte_fallback is set,
// else the unk token, else nothing; fuse_unk collapses runs of unk.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/status.h"
#include "tokenizer/tokenizer_json.h"

namespace mies::tokenizer {

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object, its vocab and merges being in `tables` (see
  // ParseTokenizerJson). `added` are the added tokens (content, id);
  // they join the vocabulary before merges are resolved, as in the reference, so that a merge
  // producing an added token's text yields the added token's id.
  static StatusOr<std::unique_ptr<BpeModel>> Create(
      const nlohmann::json& model, BpeTables tables,
      const std::vector<std::pair<std::string, int>>& added);

  // Appends the ids of `words` (already pre-tokenized, in the model's alphabet) to `ids`.
  void Encode(const std::vector<std::string>& words, std::vector<int>* ids) const;

  // -1 when absent.
  int TokenToId(std::string_view token) const;
  // nullptr when `id` has no token.
  const std::string* IdToToken(int id) const;
  // One past the largest id.
  int IdSpaceSize() const { return static_cast<int>(id_to_token_.size()); }
  int unk_id() const { return unk_id_; }
  const std::string& unk_token() const { return unk_token_; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int rank;
    int merged_id;
  };
  BpeModel() = default;
  // Encodes one word without the cache; appends to `ids`.
  void EncodeWord(std::string_view word, std::vector<int>* ids) const;

  absl::flat_hash_map<std::string, int> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  absl::flat_hash_map<uint32_t, int> char_ids_;  // single code point tokens
  absl::flat_hash_map<uint64_t, Merge> merges_;  // (left id, right id) -> rank, merged id
  std::vector<int> byte_ids_;                    // <0xXX> ids, -1 where missing
  bool all_bytes_present_ = false;
  int unk_id_ = -1;
  std::string unk_token_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;

  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kMaxCacheEntries = 1 << 18;
  mutable std::mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int>> cache_;
};

}  // namespace mies::tokenizer
