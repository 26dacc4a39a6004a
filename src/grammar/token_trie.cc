#include "grammar/token_trie.h"

#include <algorithm>
#include <numeric>

namespace mies::grammar {

TokenTrie::TokenTrie(const std::vector<std::string_view>& tokens) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!tokens[i].empty()) ids.push_back(static_cast<int32_t>(i));
  }
  // Sorted byte strings come in preorder: a prefix before its extensions, children by byte.
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    const int c = tokens[a].compare(tokens[b]);
    return c < 0 || (c == 0 && a < b);
  });
  auto new_node = [&](uint8_t b, int32_t depth) {
    byte_.push_back(b);
    end_.push_back(-1);
    depth_.push_back(depth);
    token_begin_.push_back(static_cast<int32_t>(order_.size()));
    here_end_.push_back(static_cast<int32_t>(order_.size()));
    return static_cast<int32_t>(byte_.size()) - 1;
  };
  std::vector<int32_t> path{new_node(0, 0)};  // path[d]: node at depth d
  std::string_view prev;
  for (int32_t id : ids) {
    const std::string_view t = tokens[id];
    size_t lcp = 0;
    while (lcp < prev.size() && lcp < t.size() && prev[lcp] == t[lcp]) ++lcp;
    // Close the nodes deeper than the common prefix.
    while (path.size() > lcp + 1) {
      end_[path.back()] = num_nodes();
      path.pop_back();
    }
    for (size_t d = lcp; d < t.size(); ++d) {
      const int32_t node = new_node(static_cast<uint8_t>(t[d]), static_cast<int32_t>(d + 1));
      if (d == 0) root_child_[static_cast<uint8_t>(t[d])] = node;
      path.push_back(node);
    }
    order_.push_back(id);
    here_end_[path.back()] = static_cast<int32_t>(order_.size());
    prev = t;
  }
  while (!path.empty()) {
    end_[path.back()] = num_nodes();
    path.pop_back();
  }
}

}  // namespace mies::grammar
