#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

using nlohmann::json;

constexpr int64_t kMaxIdGap = int64_t{1} << 16;

uint64_t PairKey(int left, int right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// The code point of a string holding exactly one, or -1.
int64_t SingleCodePoint(std::string_view s) {
  if (s.empty()) return -1;
  size_t i = 0;
  const uint32_t cp = NextCodePoint(s, i);
  return i == s.size() ? static_cast<int64_t>(cp) : -1;
}

}  // namespace

StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const json& model, BpeTables tables, const std::vector<std::pair<std::string, int>>& added) {
  if (!model.is_object()) return InvalidArgument("model must be an object");
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") {
    return InvalidArgument("model.type \"", type, "\" is not supported (only BPE)");
  }
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    return InvalidArgument("model.dropout must be null: BPE dropout makes encoding random");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() &&
        !(model[key].is_string() && model[key].get<std::string>().empty())) {
      return InvalidArgument("model.", key, " is not supported (only null or \"\")");
    }
  }
  if (!tables.has_vocab) return InvalidArgument("model.vocab must be an object of token -> id");
  if (!tables.has_merges) return InvalidArgument("model.merges must be an array");
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->token_to_id_.reserve(tables.vocab.size() + added.size());
  int max_id = -1;
  std::string max_where;  // names the largest id for the sparse-id error below
  for (auto& [token, id64] : tables.vocab) {
    if (id64 < 0 || id64 > (int64_t{1} << 30)) {
      return InvalidArgument("model.vocab[\"", token, "\"] must be an id in [0, 2^30]");
    }
    const int id = static_cast<int>(id64);
    if (id > max_id) {
      max_id = id;
      max_where = absl::StrCat("model.vocab[\"", token, "\"]");
    }
    m->token_to_id_[std::move(token)] = id;
  }
  tables.vocab = {};
  for (const auto& [content, id] : added) {
    if (id > max_id) {
      max_id = id;
      max_where = absl::StrCat("added token \"", content, "\"");
    }
  }
  // The id -> token table is sized by the largest id: one id of 10^9 among a few thousand
  // tokens would ask for 32 GB. Real tokenizers number their tokens densely (a few unused ids
  // at most), so ids may exceed the token count by at most kMaxIdGap.
  const int64_t tokens = static_cast<int64_t>(m->token_to_id_.size() + added.size());
  if (max_id >= tokens + kMaxIdGap) {
    return InvalidArgument(max_where, " has id ", max_id, ", but there are only ", tokens,
                           " tokens: ids must be below the token count + ", kMaxIdGap);
  }
  m->id_to_token_.resize(static_cast<size_t>(max_id + 1));
  m->has_token_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : m->token_to_id_) {
    m->id_to_token_[id] = token;
    m->has_token_[id] = true;
  }
  for (const auto& [content, id] : added) {
    m->token_to_id_[content] = id;
    m->id_to_token_[id] = content;
    m->has_token_[id] = true;
  }
  for (const auto& [token, id] : m->token_to_id_) {
    const int64_t cp = SingleCodePoint(token);
    if (cp >= 0) m->char_ids_[static_cast<uint32_t>(cp)] = id;
  }

  m->merges_.reserve(tables.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < tables.merges.size(); ++rank) {
    std::string left = std::move(tables.merges[rank].first);
    std::string right = std::move(tables.merges[rank].second);
    if (tables.merge_is_string[rank]) {
      const size_t space = left.find(' ');
      if (space == std::string::npos || left.find(' ', space + 1) != std::string::npos) {
        return InvalidArgument("model.merges[", rank, "] \"", left,
                               "\" must be two tokens separated by one space");
      }
      right = left.substr(space + 1);
      left.resize(space);
    }
    joined.assign(left).append(right);
    const int l = m->TokenToId(left), r = m->TokenToId(right), merged = m->TokenToId(joined);
    if (l < 0 || r < 0 || merged < 0) {
      return InvalidArgument("model.merges[", rank, "] (\"", left, "\", \"", right, "\"): ",
                             l < 0   ? left
                             : r < 0 ? right
                                     : joined,
                             " is not in the vocabulary");
    }
    // A repeated pair keeps its last rank, as the reference's Map does.
    m->merges_.insert_or_assign(PairKey(l, r), Merge{static_cast<int>(rank), merged});
  }

  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    m->unk_token_ = model["unk_token"].get<std::string>();
    m->unk_id_ = m->TokenToId(m->unk_token_);
    if (m->unk_id_ < 0) {
      return InvalidArgument("model.unk_token \"", m->unk_token_, "\" is not in the vocabulary");
    }
  }
  m->byte_fallback_ = model.value("byte_fallback", false);
  m->fuse_unk_ = model.value("fuse_unk", false);
  m->ignore_merges_ = model.value("ignore_merges", false);
  m->byte_ids_.assign(256, -1);
  m->all_bytes_present_ = true;
  for (int b = 0; b < 256; ++b) {
    m->byte_ids_[b] = m->TokenToId(absl::StrFormat("<0x%02X>", b));
    if (m->byte_ids_[b] < 0) m->all_bytes_present_ = false;
  }
  return m;
}

int BpeModel::TokenToId(std::string_view token) const {
  const auto it = token_to_id_.find(absl::string_view(token.data(), token.size()));
  return it == token_to_id_.end() ? -1 : it->second;
}

const std::string* BpeModel::IdToToken(int id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_token_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::Encode(const std::vector<std::string>& words, std::vector<int>* ids) const {
  const size_t first = ids->size();
  for (const std::string& word : words) {
    if (word.empty()) continue;
    if (ignore_merges_) {
      const int id = TokenToId(word);
      if (id >= 0) {
        ids->push_back(id);
        continue;
      }
    }
    if (word.size() > kMaxCachedWordBytes) {
      EncodeWord(word, ids);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      const auto it = cache_.find(word);
      if (it != cache_.end()) {
        ids->insert(ids->end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    const size_t before = ids->size();
    EncodeWord(word, ids);
    std::vector<int> result(ids->begin() + static_cast<std::ptrdiff_t>(before), ids->end());
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();  // bounded memory; refills quickly
    cache_.emplace(word, std::move(result));
  }
  if (fuse_unk_ && unk_id_ >= 0) {
    // The reference fuses over the whole model call (one text section), not per word.
    size_t out = first;
    for (size_t i = first; i < ids->size(); ++i) {
      if ((*ids)[i] == unk_id_ && out > first && (*ids)[out - 1] == unk_id_) continue;
      (*ids)[out++] = (*ids)[i];
    }
    ids->resize(out);
  }
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int>* ids) const {
  struct Symbol {
    int id;  // -1: a code point outside the vocabulary
    int prev, next;
    uint32_t begin, len;  // bytes of `word` this symbol covers
  };
  std::vector<Symbol> syms;
  syms.reserve(word.size());
  for (size_t i = 0; i < word.size();) {
    const size_t start = i;
    const uint32_t cp = NextCodePoint(word, i);
    const auto it = char_ids_.find(cp);
    const int n = static_cast<int>(syms.size());
    syms.push_back({it == char_ids_.end() ? -1 : it->second, n - 1, n + 1,
                    static_cast<uint32_t>(start), static_cast<uint32_t>(i - start)});
  }
  syms.back().next = -1;

  struct Candidate {
    int rank, left, right, left_id, right_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push_pair = [&](int left) {
    const int right = syms[left].next;
    if (right < 0 || syms[left].id < 0 || syms[right].id < 0) return;
    const auto it = merges_.find(PairKey(syms[left].id, syms[right].id));
    if (it != merges_.end()) {
      heap.push({it->second.rank, left, right, syms[left].id, syms[right].id});
    }
  };
  for (int i = 0; i + 1 < static_cast<int>(syms.size()); ++i) push_pair(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& l = syms[c.left];
    // Stale entries: a side was merged away or changed since this pair was pushed.
    if (l.len == 0 || l.next != c.right || l.id != c.left_id || syms[c.right].id != c.right_id) {
      continue;
    }
    Symbol& r = syms[c.right];
    l.id = merges_.find(PairKey(c.left_id, c.right_id))->second.merged_id;
    l.len += r.len;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    r.len = 0;
    r.id = -2;
    if (l.prev >= 0) push_pair(l.prev);
    push_pair(c.left);
  }

  for (int i = 0; i >= 0; i = syms[i].next) {
    const Symbol& s = syms[i];
    if (s.id >= 0) {
      ids->push_back(s.id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (uint32_t k = 0; k < s.len; ++k) {
        all = all && byte_ids_[static_cast<unsigned char>(word[s.begin + k])] >= 0;
      }
      if (all) {
        for (uint32_t k = 0; k < s.len; ++k) {
          ids->push_back(byte_ids_[static_cast<unsigned char>(word[s.begin + k])]);
        }
        continue;
      }
    }
    if (unk_id_ >= 0) ids->push_back(unk_id_);
  }
}

}  // namespace mies::tokenizer
