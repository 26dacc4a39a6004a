#include "tokenizer/added_tokens.h"

#include <unicode/uchar.h>

#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

// Word characters for single_word: letters, digits and '_' (as Rust's is_alphanumeric + '_').
bool IsWordChar(uint32_t cp) { return cp == '_' || u_isalnum(static_cast<UChar32>(cp)); }

uint32_t CodePointBefore(std::string_view s, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return NextCodePoint(s, start);
}

}  // namespace

void AddedTokenSplitter::Build(std::vector<std::string> keys,
                               std::vector<const AddedToken*> tokens) {
  keys_ = std::move(keys);
  tokens_ = std::move(tokens);
  edges_.clear();
  terminal_.assign(1, -1);
  first_byte_.fill(false);
  for (size_t t = 0; t < keys_.size(); ++t) {
    const std::string& key = keys_[t];
    if (key.empty()) continue;
    first_byte_[static_cast<unsigned char>(key[0])] = true;
    int node = 0;
    for (const char c : key) {
      const uint64_t edge = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(c);
      const auto it = edges_.find(edge);
      if (it != edges_.end()) {
        node = it->second;
      } else {
        const int child = static_cast<int>(terminal_.size());
        terminal_.push_back(-1);
        edges_.emplace(edge, child);
        node = child;
      }
    }
    terminal_[node] = static_cast<int>(t);  // a later duplicate wins, as in the reference
  }
}

std::vector<TextSection> AddedTokenSplitter::Split(std::string_view text) const {
  std::vector<TextSection> sections;
  if (keys_.empty()) {
    if (!text.empty()) sections.push_back({text, -1});
    return sections;
  }
  size_t plain_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    int best = -1;
    size_t best_end = 0;
    int node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      node = Child(node, static_cast<unsigned char>(text[j]));
      if (node < 0) break;
      const int t = terminal_[node];
      if (t < 0) continue;
      if (tokens_[t]->single_word) {
        const bool alone_left = i == 0 || !IsWordChar(CodePointBefore(text, i));
        size_t k = j + 1;
        const bool alone_right = k >= text.size() || !IsWordChar(NextCodePoint(text, k));
        if (!alone_left || !alone_right) continue;
      }
      best = t;
      best_end = j + 1;
    }
    if (best < 0) {
      ++i;
      continue;
    }
    if (i > plain_start) sections.push_back({text.substr(plain_start, i - plain_start), -1});
    sections.push_back({text.substr(i, best_end - i), best});
    i = best_end;
    plain_start = i;
  }
  if (plain_start < text.size()) sections.push_back({text.substr(plain_start), -1});

  for (size_t s = 0; s < sections.size(); ++s) {
    if (sections[s].token < 0) continue;
    const AddedToken& tok = *tokens_[sections[s].token];
    if (tok.lstrip && s > 0 && sections[s - 1].token < 0) {
      sections[s - 1].text = TrimJsWhitespaceRight(sections[s - 1].text);
    }
    if (tok.rstrip && s + 1 < sections.size() && sections[s + 1].token < 0) {
      sections[s + 1].text = TrimJsWhitespaceLeft(sections[s + 1].text);
    }
  }
  return sections;
}

}  // namespace mies::tokenizer
