#include "grammar/vocabulary.h"

#include <map>
#include <mutex>

#include "tokenizer/tokenizer.h"

namespace mies::grammar {

std::shared_ptr<const Vocabulary> Vocabulary::FromTokenBytes(
    const std::vector<std::optional<std::string>>& tokens, bool strips_leading_space) {
  std::shared_ptr<Vocabulary> v(new Vocabulary());
  v->strips_leading_space_ = strips_leading_space;
  v->offsets_.reserve(tokens.size() + 1);
  for (const auto& t : tokens) {
    if (t) {
      v->bytes_ += *t;
      v->max_token_bytes_ = std::max(v->max_token_bytes_, static_cast<int32_t>(t->size()));
    }
    v->offsets_.push_back(static_cast<uint32_t>(v->bytes_.size()));
  }
  std::vector<std::string_view> views(tokens.size());
  for (int32_t id = 0; id < v->size(); ++id) views[id] = v->TokenBytes(id);
  v->trie_ = TokenTrie(views);
  return v;
}

StatusOr<std::shared_ptr<const Vocabulary>> Vocabulary::FromTokenizer(
    const tokenizer::Tokenizer& tokenizer) {
  const int n = tokenizer.vocab_size();
  if (n <= 0) return InvalidArgument("grammar vocabulary: the tokenizer has no tokens");
  std::vector<std::optional<std::string>> tokens(n);
  for (int id = 0; id < n; ++id) {
    if (tokenizer.IsSpecial(id)) continue;
    tokens[id] = tokenizer.TokenBytes(id);
  }
  return FromTokenBytes(tokens, tokenizer.StripsLeadingSpace());
}

StatusOr<std::shared_ptr<const Vocabulary>> SharedVocabulary(
    const std::shared_ptr<const tokenizer::Tokenizer>& tokenizer) {
  if (!tokenizer) return InvalidArgument("grammar vocabulary: no tokenizer");
  struct Slot {
    std::weak_ptr<const tokenizer::Tokenizer> owner;
    std::shared_ptr<const Vocabulary> vocab;
    std::mutex build;
  };
  static std::mutex mu;
  static std::map<const tokenizer::Tokenizer*, std::shared_ptr<Slot>> slots;
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mu);
    for (auto it = slots.begin(); it != slots.end();) {  // forget dead tokenizers
      it = it->second->owner.expired() ? slots.erase(it) : std::next(it);
    }
    auto& s = slots[tokenizer.get()];
    if (!s) {
      s = std::make_shared<Slot>();
      s->owner = tokenizer;
    }
    slot = s;
  }
  std::lock_guard lock(slot->build);  // one build per tokenizer; others wait for it
  if (!slot->vocab) {
    MIES_ASSIGN_OR_RETURN(slot->vocab, Vocabulary::FromTokenizer(*tokenizer));
  }
  return slot->vocab;
}

}  // namespace mies::grammar
