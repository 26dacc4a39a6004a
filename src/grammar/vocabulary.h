// What a grammar needs of a tokenizer: the bytes each token id adds to the output text, and a
// trie over them. Built once per tokenizer (SharedVocabulary caches it) and shared, immutable,
// by every grammar compiled for that tokenizer.
//
// Byte-level BPE tokens map their characters back to bytes; SentencePiece-style tokens turn
// U+2581 into a space and <0xXX> into the raw byte, so both kinds are plain byte strings here and
// a token ending inside a UTF-8 character is fine. Special tokens (EOS, chat markers) and tokens
// that add no bytes are never allowed by a grammar: the matcher allows the end tokens it is
// given exactly when the grammar is complete.
//
// SentencePiece decoders drop the leading space of a text (Strip / Metaspace), so the first
// token of an answer ("▁{") reaches the client without it; strips_leading_space() tells the
// matcher to skip that one space, so the grammar checks the text the client gets.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "grammar/token_trie.h"

namespace mies::tokenizer {
class Tokenizer;
}  // namespace mies::tokenizer

namespace mies::grammar {

class Vocabulary {
 public:
  static StatusOr<std::shared_ptr<const Vocabulary>> FromTokenizer(
      const tokenizer::Tokenizer& tokenizer);
  // tokens[i]: the bytes of id i; nullopt or empty: never allowed by a grammar.
  static std::shared_ptr<const Vocabulary> FromTokenBytes(
      const std::vector<std::optional<std::string>>& tokens, bool strips_leading_space);

  // One past the largest token id.
  int32_t size() const { return static_cast<int32_t>(offsets_.size()) - 1; }
  // Empty for ids a grammar never allows (and ids out of range).
  std::string_view TokenBytes(int32_t id) const {
    if (id < 0 || id >= size()) return {};
    return std::string_view(bytes_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  bool strips_leading_space() const { return strips_leading_space_; }
  const TokenTrie& trie() const { return trie_; }
  // Longest token in bytes.
  int32_t max_token_bytes() const { return max_token_bytes_; }
  // Number of ids with bytes.
  int32_t num_grammar_tokens() const { return static_cast<int32_t>(trie_.order().size()); }

 private:
  Vocabulary() = default;
  std::string bytes_;
  std::vector<uint32_t> offsets_{0};
  bool strips_leading_space_ = false;
  int32_t max_token_bytes_ = 0;
  TokenTrie trie_;
};

// The vocabulary of `tokenizer`, built on first use and cached while the tokenizer lives
// (thread-safe; concurrent first calls build it once).
StatusOr<std::shared_ptr<const Vocabulary>> SharedVocabulary(
    const std::shared_ptr<const tokenizer::Tokenizer>& tokenizer);

}  // namespace mies::grammar
