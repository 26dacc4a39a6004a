// Splits text on added tokens before the model runs, as the reference's DictionarySplitter:
// scanning left to right, at each position the longest added token that matches (and, for
// single_word tokens, stands alone as a word) is cut out.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace mies::tokenizer {

struct AddedToken {
  std::string content;
  int id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

struct TextSection {
  std::string_view text;
  int token = -1;  // index into the splitter's token list, or -1 for plain text
};

class AddedTokenSplitter {
 public:
  AddedTokenSplitter() = default;
  // `keys[i]` is the text matched for `tokens[i]` (its content, or its normalized content).
  void Build(std::vector<std::string> keys, std::vector<const AddedToken*> tokens);
  bool empty() const { return keys_.empty(); }

  // Cuts `text` into plain sections and added-token sections, then applies lstrip/rstrip to
  // the neighbours of stripping tokens. Empty plain sections are dropped.
  std::vector<TextSection> Split(std::string_view text) const;
  const AddedToken& token(int index) const { return *tokens_[index]; }

 private:
  int Child(int node, unsigned char byte) const {
    const auto it = edges_.find((static_cast<uint64_t>(node) << 8) | byte);
    return it == edges_.end() ? -1 : it->second;
  }
  std::vector<std::string> keys_;
  std::vector<const AddedToken*> tokens_;
  absl::flat_hash_map<uint64_t, int> edges_;  // (node << 8 | byte) -> child node
  std::vector<int> terminal_;                 // node -> token index or -1
  std::array<bool, 256> first_byte_{};
};

}  // namespace mies::tokenizer
