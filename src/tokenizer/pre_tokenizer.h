// Pre-tokenizers of tokenizer.json ("pre_tokenizer" field): split normalized text into words
// that the model encodes independently. Supported: Sequence, Split (String or Regex pattern,
// every behaviour, invert), ByteLevel (byte -> printable-char mapping, optional GPT-2 regex and
// prefix space), Metaspace (replacement, prepend_scheme, split). Others are a load error.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` by their pre-tokenized pieces, in order. `section_index` is the index of
  // the text section (between added tokens) being encoded; Metaspace's "first" scheme uses it.
  // Fails only when a regex cannot run to the end.
  virtual Status PreTokenize(std::vector<std::string>& words, int section_index) const = 0;
  // True if this pre-tokenizer maps bytes to the GPT-2 printable alphabet (ByteLevel).
  virtual bool IsByteLevel() const { return false; }
};

StatusOr<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const nlohmann::json& config,
                                                         const std::string& where);

// GPT-2's byte <-> printable code point table, used by ByteLevel pre-tokenizer and decoder.
uint32_t ByteToCodePoint(uint8_t byte);
// The byte a printable code point stands for, or -1 if it is not in the table.
int CodePointToByte(uint32_t cp);

}  // namespace mies::tokenizer
