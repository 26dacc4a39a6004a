#include "tokenizer/incremental_detokenizer.h"

#include <span>

namespace mies::tokenizer {
namespace {

constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The longest clean-up rule (" n't") spans 4 bytes starting with a space, so no rule can match
// across a cut whose 3 preceding bytes hold no space.
constexpr size_t kCleanUpReach = 3;

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, DecodeOptions options)
    : tokenizer_(tokenizer),
      skip_special_(options.skip_special_tokens),
      clean_up_(
          options.clean_up_tokenization_spaces.value_or(tokenizer.clean_up_tokenization_spaces())) {
}

std::string IncrementalDetokenizer::DecodeWindow(size_t begin, size_t end) const {
  if (begin >= end) return {};
  return tokenizer_.Decode(std::span<const int>(ids_).subspan(begin, end - begin),
                           {.skip_special_tokens = false, .clean_up_tokenization_spaces = false});
}

std::string IncrementalDetokenizer::Feed(int id) {
  if (!tokenizer_.IdToToken(id).has_value()) return {};  // Decode drops such ids too
  if (skip_special_ && tokenizer_.IsSpecial(id)) return {};
  ids_.push_back(id);
  while (true) {
    const std::string prefix_text = DecodeWindow(prefix_offset_, read_offset_);
    const std::string new_text = DecodeWindow(prefix_offset_, ids_.size());
    if (new_text.compare(0, prefix_text.size(), prefix_text) != 0 && prefix_offset_ > 0) {
      // The window's text changed before the new id (not seen with the supported decoders):
      // decode from the start of the stream, where the prefix property holds.
      prefix_offset_ = 0;
      continue;
    }
    if (new_text.size() <= prefix_text.size() || EndsWith(new_text, kReplacementUtf8) ||
        new_text.compare(0, prefix_text.size(), prefix_text) != 0) {
      return {};  // nothing new yet, or an unfinished character: hold
    }
    std::string delta = new_text.substr(prefix_text.size());
    prefix_offset_ = read_offset_;
    read_offset_ = ids_.size();
    return Clean(std::move(delta), /*flush=*/false);
  }
}

std::string IncrementalDetokenizer::Finish() {
  std::string delta;
  if (read_offset_ < ids_.size()) {
    const std::string prefix_text = DecodeWindow(prefix_offset_, read_offset_);
    const std::string new_text = DecodeWindow(prefix_offset_, ids_.size());
    if (new_text.size() >= prefix_text.size() &&
        new_text.compare(0, prefix_text.size(), prefix_text) == 0) {
      delta = new_text.substr(prefix_text.size());
    }
  }
  std::string out = Clean(std::move(delta), /*flush=*/true);
  ids_.clear();
  prefix_offset_ = read_offset_ = 0;
  pending_.clear();
  tail_.clear();
  return out;
}

std::string IncrementalDetokenizer::Clean(std::string raw, bool flush) {
  if (!clean_up_) return raw;
  pending_ += raw;
  size_t cut = pending_.size();
  if (!flush) {
    const std::string context = tail_ + pending_;
    const size_t base = tail_.size();
    for (cut = context.size(); cut > base; --cut) {
      const bool boundary =
          cut == context.size() || (static_cast<unsigned char>(context[cut]) & 0xC0) != 0x80;
      const size_t from = cut >= kCleanUpReach ? cut - kCleanUpReach : 0;
      if (boundary && context.find(' ', from) >= cut) break;
    }
    cut -= base;
  }
  if (cut == 0) return {};
  std::string chunk = pending_.substr(0, cut);
  pending_.erase(0, cut);
  const std::string joined = tail_ + chunk;
  tail_ = joined.substr(joined.size() > kCleanUpReach ? joined.size() - kCleanUpReach : 0);
  // Reuse Decode's exact clean-up rules on the chunk.
  return CleanUpTokenizationSpaces(chunk);
}

}  // namespace mies::tokenizer
