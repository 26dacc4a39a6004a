// Hugging Face tokenizer.json (+ tokenizer_config.json, generation_config.json) loader,
// encoder and decoder. Ids are identical to the reference (@huggingface/tokenizers, the
// transformers.js tokenizer code) for the BPE tokenizers of Llama-2/3, Mistral, Gemma, Qwen and
// GPT-4o; anything in a file that is not implemented is a load error naming the component.
//
// Encode pipeline (as the reference): split the text on added tokens (longest match first,
// honouring lstrip/rstrip/single_word) -> normalizer per section -> split on normalized added
// tokens -> pre-tokenizer -> BPE model -> post-processor (BOS/EOS template).
// Instances are immutable after loading and safe to use from several threads.
//
// Where the reference (transformers.js) differs from Hugging Face's Rust tokenizers we follow the
// reference except in three places no shipped file depends on, where we follow Rust:
//  * a byte-fallback run starting with U+FEFF keeps it on decode (JS's TextDecoder drops it);
//  * Split honours every behaviour (the reference treats all but Removed as Isolated);
//  * single_word added tokens only match as whole words, and Metaspace's `split` is honoured.
// tokenizer_config.json's add_bos_token/add_eos_token rebuild the BOS/EOS template for
// Llama/Gemma tokenizer classes, as transformers' LlamaTokenizerFast does.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mies::tokenizer {

struct DecodeOptions {
  bool skip_special_tokens = false;
  // Undo spaces before punctuation (" ." -> "."); unset: tokenizer_config.json's
  // clean_up_tokenization_spaces, which defaults to true as in the reference.
  std::optional<bool> clean_up_tokenization_spaces;
};

class Tokenizer {
 public:
  // Loads <dir>/tokenizer.json, and <dir>/tokenizer_config.json and
  // <dir>/generation_config.json when present.
  static StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& dir);
  // Same from file contents; empty config strings mean "absent".
  static StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      std::string_view tokenizer_json, std::string_view tokenizer_config_json = {},
      std::string_view generation_config_json = {});
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // `text` must be valid UTF-8 (an error names the first bad byte offset).
  StatusOr<std::vector<int>> Encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids without a token (e.g. a model's padded vocabulary rows) decode to nothing.
  std::string Decode(std::span<const int> ids, const DecodeOptions& options = {}) const;

  // -1 when the token is not in the vocabulary (added tokens included).
  int TokenToId(std::string_view token) const;
  std::optional<std::string> IdToToken(int id) const;
  // Size of the id space: one past the largest id (vocabulary and added tokens).
  int vocab_size() const;

  std::optional<int> bos_id() const;
  // tokenizer_config.json's eos_token, then generation_config.json's eos_token_id(s).
  const std::vector<int>& eos_ids() const;
  std::optional<int> pad_id() const;
  std::optional<int> unk_id() const;
  // The bytes token `id` adds to decoded text after other tokens, with byte tokens (ByteLevel
  // characters, <0xXX> fallback) as raw bytes, which may be part of a UTF-8 character; added
  // tokens as their content. For constrained decoding. nullopt when `id` has no token.
  std::optional<std::string> TokenBytes(int id) const;
  // True when Decode drops one leading space of the text (a Strip or Metaspace decoder).
  bool StripsLeadingSpace() const;
  // True for added tokens marked special and tokenizer_config's additional_special_tokens.
  bool IsSpecial(int id) const;
  bool clean_up_tokenization_spaces() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The reference's clean_up_tokenization: " ." -> ".", " ?" -> "?", " !" -> "!", " ," -> ",",
// " ' " -> "'", " n't" -> "n't", " 'm" -> "'m", " 's" -> "'s", " 've" -> "'ve", " 're" -> "'re",
// applied in that order.
std::string CleanUpTokenizationSpaces(std::string text);

}  // namespace mies::tokenizer
