// A trie over the byte strings of a vocabulary's tokens, laid out in depth-first (preorder)
// arrays: node i's subtree is [i, end(i)), its children follow it in byte order, and the tokens
// ending at or below it are order()[token_begin(i), token_begin(end(i))). A mask walk visits a
// node once for all the tokens that share its prefix and skips a dead subtree in one step.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace mies::grammar {

class TokenTrie {
 public:
  TokenTrie() = default;
  // tokens[i]: the bytes of token i, or empty for a token that is never in the trie.
  explicit TokenTrie(const std::vector<std::string_view>& tokens);

  int32_t num_nodes() const { return static_cast<int32_t>(byte_.size()); }
  uint8_t byte(int32_t node) const { return byte_[node]; }  // the edge into the node
  int32_t end(int32_t node) const { return end_[node]; }
  int32_t depth(int32_t node) const { return depth_[node]; }
  // Tokens whose bytes end exactly at `node`.
  int32_t here_begin(int32_t node) const { return token_begin_[node]; }
  int32_t here_end(int32_t node) const { return here_end_[node]; }
  // Tokens in the subtree of `node`.
  int32_t subtree_begin(int32_t node) const { return token_begin_[node]; }
  int32_t subtree_end(int32_t node) const {
    return end_[node] < num_nodes() ? token_begin_[end_[node]]
                                    : static_cast<int32_t>(order_.size());
  }
  const std::vector<int32_t>& order() const { return order_; }  // token ids, preorder
  // The child of the root for `byte`, or -1.
  int32_t RootChild(uint8_t byte) const { return root_child_[byte]; }

 private:
  std::vector<uint8_t> byte_;
  std::vector<int32_t> end_;
  std::vector<int32_t> depth_;
  std::vector<int32_t> token_begin_;
  std::vector<int32_t> here_end_;
  std::vector<int32_t> order_;
  std::vector<int32_t> root_child_ = std::vector<int32_t>(256, -1);
};

}  // namespace mies::grammar
