// Streaming detokenizer: feed generated ids one at a time, get back the text they complete.
//
// Each step decodes a short window of recent ids twice, with and without the new id, and emits
// the difference (the vLLM/TGI "prefix offset" scheme). Starting the window at an id that was
// already emitted keeps window-start rules (SentencePiece's leading-space strip, Metaspace)
// equal on both sides, so they cancel out. Text is held back while it ends in U+FFFD (an
// unfinished UTF-8 sequence, e.g. inside a run of byte-fallback tokens), and, when the
// tokenizer cleans up tokenization spaces, while its last 3 bytes hold a space that a later
// " ." / " n't" rule could still remove. Finish() flushes the rest.
//
// Invariant (tested over the corpus for every tokenizer): the concatenation of all Feed()
// results and Finish() equals Tokenizer::Decode(all ids, same options).
#pragma once

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace mies::tokenizer {

class IncrementalDetokenizer {
 public:
  // `tokenizer` must outlive this object.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, DecodeOptions options = {});

  // Returns the text completed by `id` (often empty). Never splits a UTF-8 character.
  std::string Feed(int id);
  // Returns whatever is still held back (an unfinished character decodes to U+FFFD, as in
  // Decode). Feeding after Finish() starts a new stream.
  std::string Finish();

 private:
  std::string DecodeWindow(size_t begin, size_t end) const;
  // Applies tokenization clean-up to complete chunks of `raw`, holding back an unsafe tail.
  std::string Clean(std::string raw, bool flush);

  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool clean_up_;
  std::vector<int> ids_;  // ids that take part in decoding (skipped specials are not kept)
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
  std::string pending_;  // raw text decoded but held back by the clean-up rule
  std::string tail_;     // last <= 3 bytes of raw text already passed through clean-up
};

}  // namespace mies::tokenizer
